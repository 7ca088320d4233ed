"""Write the example workflows in both ComfyUI formats from one description per graph.

    python workflows/generate.py        (from the repository root, in the project's venv)

For each graph it writes ``example_workflows/<template title>.json`` (the editor's format: nodes
with positions, sockets, ``widgets_values`` and a ``links`` table — what ComfyUI's template browser
lists, what users drag into the editor and share) and ``workflows/api/<name>.api.json`` (what
scripts POST to ``/prompt``; kept out of the folders ComfyUI scans for templates, where it would
open as an empty canvas). Widget order and defaults come from the nodes' own ``INPUT_TYPES``, so
re-run this after changing a node's inputs; tests/test_workflows.py checks the files against the
node definitions.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TEMPLATES = ROOT / "example_workflows"
"""ComfyUI's template browser lists the ``*.json`` of a pack's ``example_workflows`` folder."""
API = HERE / "api"

# ComfyUI's own nodes used by the workflows: their inputs and outputs as ComfyUI declares them.
CORE_NODES = {
    "SaveImage": {"input": {"required": {"images": ("IMAGE",),
                                         "filename_prefix": ("STRING", {"default": "ComfyUI"})}},
                  "output": (), "display": "Save Image"},
    "PreviewImage": {"input": {"required": {"images": ("IMAGE",)}}, "output": (), "display": "Preview Image"},
    # comfy_extras/nodes_video.py (ComfyUI 0.3.3x and later)
    "CreateVideo": {"input": {"required": {"images": ("IMAGE",),
                                           "fps": ("FLOAT", {"default": 30.0, "min": 1.0, "max": 120.0,
                                                             "step": 1.0})},
                              "optional": {"audio": ("AUDIO",)}},
                    "output": ("VIDEO",), "display": "Create Video"},
    "SaveVideo": {"input": {"required": {"video": ("VIDEO",),
                                         "filename_prefix": ("STRING", {"default": "video/ComfyUI"}),
                                         "format": (["auto", "mp4"], {"default": "auto"}),
                                         "codec": (["auto", "h264"], {"default": "auto"})}},
                  "output": (), "display": "Save Video"},
}
NOTE_TYPE = "MarkdownNote"
"""The editor's note node (frontend only: never part of the API prompt)."""
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN"}
SEED_NAMES = {"seed", "noise_seed"}
"""INT inputs the editor gives an extra 'control after generate' widget value (we store "fixed")."""


def node_definitions() -> dict[str, dict]:
    """``{type: {"input", "output", "output_name", "display"}}`` of our nodes and the core ones used."""
    from comfyui_animeinterp import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

    defs = {name: {"input": cls.INPUT_TYPES(), "output": tuple(cls.RETURN_TYPES),
                   "output_name": tuple(getattr(cls, "RETURN_NAMES", cls.RETURN_TYPES)),
                   "display": NODE_DISPLAY_NAME_MAPPINGS[name]}
            for name, cls in NODE_CLASS_MAPPINGS.items()}
    for name, d in CORE_NODES.items():
        defs[name] = {**d, "output_name": d["output"]}
    return defs


def has_control_value(name: str, spec: tuple) -> bool:
    options = spec[1] if len(spec) > 1 else {}
    return spec[0] == "INT" and bool(options.get("control_after_generate", name in SEED_NAMES))


def is_widget(spec: tuple) -> bool:
    """A widget input (number, text, toggle, list) as opposed to a socket for a linked value."""
    kind = spec[0]
    return isinstance(kind, list) or kind in WIDGET_TYPES


def widget_inputs(definition: dict) -> list[tuple[str, tuple]]:
    """Widget inputs in the order the editor shows them (required, then optional)."""
    out = []
    for section in ("required", "optional"):
        out += [(n, s) for n, s in definition["input"].get(section, {}).items() if is_widget(s)]
    return out


def socket_inputs(definition: dict) -> list[tuple[str, tuple]]:
    out = []
    for section in ("required", "optional"):
        out += [(n, s) for n, s in definition["input"].get(section, {}).items() if not is_widget(s)]
    return out


def default_of(spec: tuple):
    options = spec[1] if len(spec) > 1 else {}
    if "default" in options:
        return options["default"]
    if isinstance(spec[0], list):
        return spec[0][0]
    return {"INT": 0, "FLOAT": 0.0, "STRING": "", "BOOLEAN": False}[spec[0]]


@dataclass
class Node:
    id: int
    type: str
    widgets: dict = field(default_factory=dict)
    title: str | None = None


@dataclass
class Graph:
    name: str
    title: str
    description: str
    nodes: list[Node]
    links: list[tuple[int, str, int, str]]  # (from node, output name, to node, input name)
    template: str = ""
    """The file name (without .json) in example_workflows: the template browser's title."""
    notes: list[tuple[int, str]] = field(default_factory=list)
    """``(node id, markdown)``: a short note on what to change, placed just above that node."""


def _output_index(defs: dict, node: Node, output: str) -> int:
    names = defs[node.type]["output_name"]
    if output not in names:
        raise KeyError(f"{node.type} has no output {output!r} ({names})")
    return names.index(output)


def to_api(graph: Graph, defs: dict) -> dict:
    by_id = {n.id: n for n in graph.nodes}
    prompt = {}
    for n in graph.nodes:
        d = defs[n.type]
        inputs = {name: n.widgets.get(name, default_of(spec)) for name, spec in widget_inputs(d)}
        unknown = set(n.widgets) - set(inputs)
        if unknown:
            raise KeyError(f"{n.type}: unknown widgets {sorted(unknown)}")
        prompt[str(n.id)] = {"class_type": n.type, "inputs": inputs,
                             "_meta": {"title": n.title or d["display"]}}
    for src, output, dst, name in graph.links:
        prompt[str(dst)]["inputs"][name] = [str(src), _output_index(defs, by_id[src], output)]
    return prompt


# Layout: columns by link depth, each column a stack of boxes; sizes estimated generously from what a
# node shows (the editor draws the title bar above ``pos``, so it is part of the box).
TITLE_H = 30
SLOT_H = 22
WIDGET_H = 26
NODE_W = 360
NOTE_W = 360
PREVIEW_H = 280
"""Room for the image (or video) that a preview or save node shows after a run."""
GAP_X, GAP_Y = 60, 40
MARGIN = 40
SCREEN = (1600, 800)
"""The part of the editor's canvas the opening view frames (a laptop window less the side bars)."""
MIN_SCALE = 0.8
"""The editor stops drawing text below about 0.6; the view never opens smaller than this."""


def node_size(node: Node, defs: dict, linked: set[str]) -> tuple[int, int]:
    """``(width, height)`` of the node's body (without the title bar)."""
    d = defs[node.type]
    sockets = len(socket_inputs(d)) + len([n for n, _ in widget_inputs(d) if n in linked])
    rows = sum(2 if has_control_value(n, spec) else 1 for n, spec in widget_inputs(d))
    height = SLOT_H * max(sockets, len(d["output"]), 1) + WIDGET_H * rows + 16
    if not d["output"]:  # an output node: shows its result
        height += PREVIEW_H
    return NODE_W, height


def note_size(text: str) -> tuple[int, int]:
    lines = sum(1 + len(paragraph) // 44 for paragraph in text.split("\n"))
    return NOTE_W, 20 * lines + 30


def _columns(graph: Graph) -> dict[int, int]:
    """Column per node: its longest chain of links from a source; a source sits just before its first
    consumer and a node with no outputs used (a preview) under the node it shows."""
    column: dict[int, int] = {}
    for nid in _topological(graph):
        sources = [src for src, _, dst, _ in graph.links if dst == nid]
        column[nid] = max((column[src] + 1 for src in sources), default=0)
    for nid in column:
        consumers = [column[dst] for src, _, dst, _ in graph.links if src == nid]
        sources = [src for src, _, dst, _ in graph.links if dst == nid]
        if not sources and consumers:
            column[nid] = min(consumers) - 1
        elif not consumers and len(sources) == 1 and graph_node(graph, nid).type == "PreviewImage":
            column[nid] = column[sources[0]]
    low = min(column.values())
    return {nid: c - low for nid, c in column.items()}


def graph_node(graph: Graph, nid: int) -> Node:
    return next(n for n in graph.nodes if n.id == nid)


def layout(graph: Graph, defs: dict) -> dict[int | str, tuple[list[int], list[int]]]:
    """``{node id or "note<i>": ([x, y], [w, h])}`` with no two boxes (title bars included) overlapping."""
    linked = {n.id: {name for _, _, dst, name in graph.links if dst == n.id} for n in graph.nodes}
    column = _columns(graph)
    stacks: dict[int, list[tuple[int | str, tuple[int, int]]]] = {}
    shown = {dst: src for src, _, dst, _ in graph.links if graph_node(graph, dst).type == "PreviewImage"}
    order = sorted(graph.nodes, key=lambda n: (column[n.id], shown[n.id] + 0.5 if n.id in shown else n.id))
    for n in order:
        for i, (target, text) in enumerate(graph.notes):
            if target == n.id:
                stacks.setdefault(column[n.id], []).append((f"note{i}", note_size(text)))
        stacks.setdefault(column[n.id], []).append((n.id, node_size(n, defs, linked[n.id])))
    boxes = {}
    x = MARGIN
    for c in sorted(stacks):
        y = MARGIN
        for key, (w, h) in stacks[c]:
            boxes[key] = ([x, y + TITLE_H], [w, h])
            y += TITLE_H + h + GAP_Y
        x += max(w for _, (w, _) in stacks[c]) + GAP_X
    return boxes


def view(boxes: dict) -> dict:
    """The editor's opening view (``extra.ds``): readable scale, offset framing the graph's top left."""
    right = max(pos[0] + size[0] for pos, size in boxes.values()) + MARGIN
    bottom = max(pos[1] + size[1] for pos, size in boxes.values()) + MARGIN
    scale = round(max(MIN_SCALE, min(1.0, SCREEN[0] / right, SCREEN[1] / bottom)), 2)
    return {"scale": scale, "offset": [0, 0]}


def to_ui(graph: Graph, defs: dict) -> dict:
    by_id = {n.id: n for n in graph.nodes}
    order = {nid: i for i, nid in enumerate(_topological(graph))}
    boxes = layout(graph, defs)
    links = []
    ui_nodes = []
    for link_id, (src, output, dst, name) in enumerate(graph.links, start=1):
        slot = _output_index(defs, by_id[src], output)
        in_type = defs[by_id[src].type]["output"][slot]
        links.append([link_id, src, slot, dst, None, in_type, name])
    for n in graph.nodes:
        d = defs[n.type]
        linked = {link[6]: link for link in links if link[3] == n.id}
        inputs = []
        for name, spec in socket_inputs(d):
            link = linked[name][0] if name in linked else None
            inputs.append({"name": name, "type": spec[0], "link": link})
        for name, spec in widget_inputs(d):  # widgets fed by a link become sockets too
            if name in linked:
                inputs.append({"name": name, "type": spec[0] if not isinstance(spec[0], list) else "COMBO",
                               "widget": {"name": name}, "link": linked[name][0]})
        for slot, entry in enumerate(inputs):
            if entry["link"] is not None:
                links[entry["link"] - 1][4] = slot
        outputs = []
        for slot, (kind, label) in enumerate(zip(d["output"], d["output_name"])):
            out_links = [link[0] for link in links if link[1] == n.id and link[2] == slot]
            outputs.append({"name": label, "type": kind, "links": out_links or None, "slot_index": slot})
        widgets_values = []
        for name, spec in widget_inputs(d):
            widgets_values.append(n.widgets.get(name, default_of(spec)))
            if has_control_value(name, spec):
                widgets_values.append("fixed")
        pos, size = boxes[n.id]
        ui_nodes.append({
            "id": n.id, "type": n.type, "pos": pos, "size": size,
            "flags": {}, "order": order[n.id], "mode": 0, "inputs": inputs, "outputs": outputs,
            "title": n.title or d["display"], "properties": {"Node name for S&R": n.type},
            "widgets_values": widgets_values,
        })
    last_id = max(n.id for n in graph.nodes)
    for i, (_, text) in enumerate(graph.notes):
        pos, size = boxes[f"note{i}"]
        ui_nodes.append({
            "id": last_id + 1 + i, "type": NOTE_TYPE, "pos": pos, "size": size, "flags": {},
            "order": len(graph.nodes) + i, "mode": 0, "inputs": [], "outputs": [], "title": "Note",
            "properties": {}, "widgets_values": [text], "color": "#432", "bgcolor": "#653",
        })
    return {
        "last_node_id": last_id + len(graph.notes), "last_link_id": len(links),
        "nodes": ui_nodes, "links": [link[:6] for link in links], "groups": [], "config": {},
        "extra": {"info": {"name": graph.title, "description": graph.description}, "ds": view(boxes)},
        "version": 0.4,
    }


def _topological(graph: Graph) -> list[int]:
    deps = {n.id: {src for src, _, dst, _ in graph.links if dst == n.id} for n in graph.nodes}
    done: list[int] = []
    while len(done) < len(deps):
        ready = [nid for nid, d in deps.items() if nid not in done and d <= set(done)]
        if not ready:
            raise ValueError(f"{graph.name}: the graph has a cycle")
        done += sorted(ready)
    return done


# ---------------------------------------------------------------------------------------------
INPUT_NOTE = ("**Your clip:** put a folder of frames (or a video file) in ComfyUI's `input` folder and "
              "type its name in `path`. A folder plays at `fps` (24 here): set your clip's rate.")
VIDEO_NOTE = ("**Video:** Create Video takes the frame rate from the interpolator's `fps` output (source "
              "fps x multiplier), so held drawings keep their timing. ComfyUI without the video nodes: "
              "use Save Image instead and the `fps` output as the rate.")
MULTIPLIER_NOTE = ("**Change:** `multiplier` (x2, x3 ...) or `mode` = target fps; `held_drawings` times "
                   "the in-betweens between distinct drawings of a clip on twos or threes.")


def one_click() -> Graph:
    return Graph(
        "one_click_x2", "AnimeInterp: one-click x2",
        "Load an image sequence (or video) from ComfyUI's input folder, interpolate it to twice the frame "
        "rate (held drawings and scene cuts handled) and save it as a video at the new frame rate.",
        [Node(1, "AnimeInterpLoadFrames", {"path": "frames"}),
         Node(2, "AnimeInterpLoadModel"),
         Node(3, "AnimeInterpolate", {"multiplier": 2}),
         Node(4, "CreateVideo"),
         Node(5, "SaveVideo", {"filename_prefix": "AnimeInterp/x2"})],
        [(1, "images", 3, "images"), (1, "fps", 3, "source_fps"), (2, "model", 3, "model"),
         (3, "images", 4, "images"), (3, "fps", 4, "fps"), (4, "VIDEO", 5, "video")],
        "AnimeInterp x2 (one click)",
        [(1, INPUT_NOTE),
         (2, ("**Model:** `afi-atd12k-style` is downloaded once into `models/animeinterp`. "
              "Remove this node for the weight-free path.")),
         (3, MULTIPLIER_NOTE), (4, VIDEO_NOTE)],
    )


def weight_free() -> Graph:
    return Graph(
        "weight_free_x2", "AnimeInterp: x2 without downloads",
        "Load an image sequence (or video) from ComfyUI's input folder and interpolate it to twice the "
        "frame rate with the weight-free path (colour matching, DIS flows, occlusion-aware blending): "
        "nothing to download. Connect a Load Model (AnimeInterp) node for the learned method. Saved as a "
        "video at the new frame rate.",
        [Node(1, "AnimeInterpLoadFrames", {"path": "frames"}),
         Node(2, "AnimeInterpolate", {"multiplier": 2}),
         Node(3, "CreateVideo"),
         Node(4, "SaveVideo", {"filename_prefix": "AnimeInterp/x2_weight_free"})],
        [(1, "images", 2, "images"), (1, "fps", 2, "source_fps"), (2, "images", 3, "images"),
         (2, "fps", 3, "fps"), (3, "VIDEO", 4, "video")],
        "AnimeInterp x2 weight-free (no downloads)",
        [(1, INPUT_NOTE),
         (2, MULTIPLIER_NOTE + (" No model connected: nothing is downloaded; connect Load Model "
                                "(AnimeInterp) to `model` for the learned method.")),
         (3, VIDEO_NOTE)],
    )


def step_by_step() -> Graph:
    return Graph(
        "step_by_step", "AnimeInterp: step by step",
        "The method stage by stage, each with a preview: Segment -> Match -> Coarse Flow (SGM) -> "
        "Refine Flow (learned RFR+GMA) -> Splat Synthesize (GridNet), saving the clip with one in-between "
        "per pair.",
        [Node(1, "AnimeInterpLoadFrames", {"path": "frames", "max_frames": 8}),
         Node(2, "AnimeInterpSegment"),
         Node(3, "PreviewImage", title="Segments"),
         Node(4, "AnimeInterpMatch"),
         Node(5, "PreviewImage", title="Matches"),
         Node(6, "AnimeInterpCoarseFlow"),
         Node(7, "PreviewImage", title="Coarse flow"),
         Node(8, "AnimeInterpLoadModel"),
         Node(9, "AnimeInterpRefineFlow"),
         Node(10, "PreviewImage", title="Refined flow"),
         Node(11, "AnimeInterpSplatSynthesize", {"multiplier": 2}),
         Node(12, "SaveImage", {"filename_prefix": "AnimeInterp/steps"})],
        [(1, "images", 2, "images"), (2, "preview", 3, "images"), (2, "segments", 4, "segments"),
         (4, "preview", 5, "images"), (4, "matches", 6, "matches"), (6, "preview", 7, "images"),
         (1, "images", 9, "images"), (6, "flow", 9, "flow"), (8, "model", 9, "model"),
         (9, "preview", 10, "images"), (1, "images", 11, "images"), (9, "flow", 11, "flow"),
         (8, "model", 11, "model"), (11, "images", 12, "images")],
        "AnimeInterp step by step",
        [(1, INPUT_NOTE + " `max_frames` keeps the first run short."),
         (2, "**Segment:** `preset` japan (anime line art) or disney; the preview paints each piece."),
         (4, "**Match:** `vgg` features need VGG-19 (downloaded once); `colour` needs no weights."),
         (9, "**Refine:** with the model, RFR+GMA; without it, DIS seeded by the coarse flow."),
         (11, "**Synthesize:** `multiplier`, or `times` (e.g. `0.25, 0.5`) for chosen in-betweens.")],
    )


def style_finetune() -> Graph:
    return Graph(
        "style_finetune", "AnimeInterp: style fine-tuning, then interpolation",
        "Fine-tune the model on a folder of your show's frames with the style loss, then interpolate a clip "
        "with the fine-tuned model (its safetensors file is saved too).",
        [Node(1, "AnimeInterpLoadModel"),
         Node(2, "AnimeInterpStyleFinetune", {"data": "style_frames", "name": "my_style"}),
         Node(3, "AnimeInterpLoadFrames", {"path": "frames"}),
         Node(4, "AnimeInterpolate", {"multiplier": 2}),
         Node(5, "SaveImage", {"filename_prefix": "AnimeInterp/style"})],
        [(1, "model", 2, "model"), (2, "model", 4, "model"), (3, "images", 4, "images"),
         (3, "fps", 4, "source_fps"), (4, "images", 5, "images")],
        "AnimeInterp style fine-tuning",
        [(2, ("**Fine-tune:** put consecutive frames of your show in `input/style_frames`. `steps` "
              "sets the length; the result is saved as `models/animeinterp/finetuned/<name>.safetensors`. "
              "Cancel saves a checkpoint; queue again to continue.")),
         (3, INPUT_NOTE), (4, MULTIPLIER_NOTE)],
    )


GRAPHS = [one_click, weight_free, step_by_step, style_finetune]


def template_path(graph: Graph) -> Path:
    return TEMPLATES / f"{graph.template or graph.name}.json"


def api_path(graph: Graph) -> Path:
    return API / f"{graph.name}.api.json"


def main() -> int:
    defs = node_definitions()
    for make in GRAPHS:
        graph = make()
        missing = sorted({n.type for n in graph.nodes} - set(defs))
        if missing:
            print(f"skipped {graph.name}: node types not available: {missing}")
            continue
        for path, data in ((template_path(graph), to_ui(graph, defs)), (api_path(graph), to_api(graph, defs))):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(data, indent=2) + "\n")
            print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
