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
}
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
    pos: tuple[int, int]
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


def to_ui(graph: Graph, defs: dict) -> dict:
    by_id = {n.id: n for n in graph.nodes}
    order = {nid: i for i, nid in enumerate(_topological(graph))}
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
        ui_nodes.append({
            "id": n.id, "type": n.type, "pos": list(n.pos),
            "size": [320, 60 + 26 * (len(inputs) + len(widgets_values))],
            "flags": {}, "order": order[n.id], "mode": 0, "inputs": inputs, "outputs": outputs,
            "title": n.title or d["display"], "properties": {"Node name for S&R": n.type},
            "widgets_values": widgets_values,
        })
    return {
        "last_node_id": max(n.id for n in graph.nodes), "last_link_id": len(links),
        "nodes": ui_nodes, "links": [link[:6] for link in links], "groups": [], "config": {},
        "extra": {"info": {"name": graph.title, "description": graph.description}}, "version": 0.4,
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
def one_click() -> Graph:
    return Graph(
        "one_click_x2", "AnimeInterp: one-click x2",
        "Load an image sequence (or video) from ComfyUI's input folder, interpolate it to twice the frame "
        "rate (held drawings and scene cuts handled) and save the frames.",
        [Node(1, "AnimeInterpLoadFrames", (40, 120), {"path": "frames"}),
         Node(2, "AnimeInterpLoadModel", (40, 420)),
         Node(3, "AnimeInterpolate", (420, 160), {"multiplier": 2}),
         Node(4, "SaveImage", (820, 160), {"filename_prefix": "AnimeInterp/x2"})],
        [(1, "images", 3, "images"), (1, "fps", 3, "source_fps"), (2, "model", 3, "model"),
         (3, "images", 4, "images")],
        "AnimeInterp x2 (one click)",
    )


def weight_free() -> Graph:
    return Graph(
        "weight_free_x2", "AnimeInterp: x2 without downloads",
        "Load an image sequence (or video) from ComfyUI's input folder and interpolate it to twice the "
        "frame rate with the weight-free path (colour matching, DIS flows, occlusion-aware blending): "
        "nothing to download. Connect a Load Model (AnimeInterp) node for the learned method.",
        [Node(1, "AnimeInterpLoadFrames", (40, 120), {"path": "frames"}),
         Node(2, "AnimeInterpolate", (420, 120), {"multiplier": 2}),
         Node(3, "SaveImage", (820, 120), {"filename_prefix": "AnimeInterp/x2_weight_free"})],
        [(1, "images", 2, "images"), (1, "fps", 2, "source_fps"), (2, "images", 3, "images")],
        "AnimeInterp x2 weight-free (no downloads)",
    )


def step_by_step() -> Graph:
    return Graph(
        "step_by_step", "AnimeInterp: step by step",
        "The method stage by stage, each with a preview: Segment -> Match -> Coarse Flow (SGM) -> "
        "Refine Flow (learned RFR+GMA) -> Splat Synthesize (GridNet), saving the clip with one in-between "
        "per pair.",
        [Node(1, "AnimeInterpLoadFrames", (40, 120), {"path": "frames", "max_frames": 8}),
         Node(2, "AnimeInterpSegment", (420, 40)),
         Node(3, "PreviewImage", (420, 330), title="Segments"),
         Node(4, "AnimeInterpMatch", (800, 40)),
         Node(5, "PreviewImage", (800, 330), title="Matches"),
         Node(6, "AnimeInterpCoarseFlow", (1180, 40)),
         Node(7, "PreviewImage", (1180, 330), title="Coarse flow"),
         Node(8, "AnimeInterpLoadModel", (1180, 620)),
         Node(9, "AnimeInterpRefineFlow", (1560, 40)),
         Node(10, "PreviewImage", (1560, 330), title="Refined flow"),
         Node(11, "AnimeInterpSplatSynthesize", (1940, 40), {"multiplier": 2}),
         Node(12, "SaveImage", (2320, 40), {"filename_prefix": "AnimeInterp/steps"})],
        [(1, "images", 2, "images"), (2, "preview", 3, "images"), (2, "segments", 4, "segments"),
         (4, "preview", 5, "images"), (4, "matches", 6, "matches"), (6, "preview", 7, "images"),
         (1, "images", 9, "images"), (6, "flow", 9, "flow"), (8, "model", 9, "model"),
         (9, "preview", 10, "images"), (1, "images", 11, "images"), (9, "flow", 11, "flow"),
         (8, "model", 11, "model"), (11, "images", 12, "images")],
        "AnimeInterp step by step",
    )


def style_finetune() -> Graph:
    return Graph(
        "style_finetune", "AnimeInterp: style fine-tuning, then interpolation",
        "Fine-tune the model on a folder of your show's frames with the style loss, then interpolate a clip "
        "with the fine-tuned model (its safetensors file is saved too).",
        [Node(1, "AnimeInterpLoadModel", (40, 120)),
         Node(2, "AnimeInterpStyleFinetune", (420, 120), {"data": "style_frames", "name": "my_style"}),
         Node(3, "AnimeInterpLoadFrames", (420, 520), {"path": "frames"}),
         Node(4, "AnimeInterpolate", (820, 200), {"multiplier": 2}),
         Node(5, "SaveImage", (1220, 200), {"filename_prefix": "AnimeInterp/style"})],
        [(1, "model", 2, "model"), (2, "model", 4, "model"), (3, "images", 4, "images"),
         (3, "fps", 4, "source_fps"), (4, "images", 5, "images")],
        "AnimeInterp style fine-tuning",
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
