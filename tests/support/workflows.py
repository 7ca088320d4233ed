"""Check ComfyUI workflows against node classes, convert UI -> API, and run API prompts.

Written from ComfyUI's documented behaviour (not its code): widget inputs are those of type INT,
FLOAT, STRING, BOOLEAN or a list (combo), shown in ``INPUT_TYPES`` order (required, then optional);
a UI node's ``widgets_values`` holds one value per widget, linked ones included; an API prompt maps
node ids to ``class_type`` and ``inputs`` where a link is ``[node_id, output_index]``. Validation
follows ``/prompt``: linked types must match, values must convert and lie within ``min``/``max``
or the combo list, except for inputs a node's ``VALIDATE_INPUTS`` names (it checks those itself,
with linked ones passed as None); a ``VALIDATE_INPUTS`` error is listed once per input it names.
Note nodes (``Note``, ``MarkdownNote``) live in the editor only: they are not sent to ``/prompt``.
"""
from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import ClassVar

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN"}
CONTROL_VALUES = {"fixed", "increment", "decrement", "randomize"}
NOTE_TYPES = {"Note", "MarkdownNote"}


class SaveImage:
    """Stand-in for ComfyUI's SaveImage with its declared inputs; records what it was given."""

    saved: ClassVar[list] = []

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"images": ("IMAGE",), "filename_prefix": ("STRING", {"default": "ComfyUI"})}}

    RETURN_TYPES = ()
    FUNCTION = "save_images"
    OUTPUT_NODE = True

    def save_images(self, images, filename_prefix="ComfyUI"):
        type(self).saved.append((filename_prefix, images))
        return ()


class PreviewImage:
    """Stand-in for ComfyUI's PreviewImage; records what it was given."""

    shown: ClassVar[list] = []

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"images": ("IMAGE",)}}

    RETURN_TYPES = ()
    FUNCTION = "save_images"
    OUTPUT_NODE = True

    def save_images(self, images):
        type(self).shown.append(images)
        return ()


class Video:
    """What the fake CreateVideo hands on: the frames and their rate (ComfyUI's is a VideoInput)."""

    def __init__(self, images, frame_rate: float):
        self.images, self.frame_rate = images, frame_rate


class CreateVideo:
    """Stand-in for ComfyUI's CreateVideo (comfy_extras/nodes_video.py) with its declared inputs."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"images": ("IMAGE",),
                             "fps": ("FLOAT", {"default": 30.0, "min": 1.0, "max": 120.0, "step": 1.0})},
                "optional": {"audio": ("AUDIO",)}}

    RETURN_TYPES = ("VIDEO",)
    FUNCTION = "create_video"

    def create_video(self, images, fps, audio=None):
        return (Video(images, fps),)


class SaveVideo:
    """Stand-in for ComfyUI's SaveVideo; records ``(filename_prefix, video, format, codec)``."""

    saved: ClassVar[list] = []

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"video": ("VIDEO",), "filename_prefix": ("STRING", {"default": "video/ComfyUI"}),
                             "format": (["auto", "mp4"], {"default": "auto"}),
                             "codec": (["auto", "h264"], {"default": "auto"})}}

    RETURN_TYPES = ()
    FUNCTION = "save_video"
    OUTPUT_NODE = True

    def save_video(self, video, filename_prefix, format, codec):
        type(self).saved.append((filename_prefix, video, format, codec))
        return ()


def node_classes() -> dict[str, type]:
    from comfyui_animeinterp import NODE_CLASS_MAPPINGS

    classes = {**NODE_CLASS_MAPPINGS, "SaveImage": SaveImage, "PreviewImage": PreviewImage,
               "CreateVideo": CreateVideo, "SaveVideo": SaveVideo}
    return classes


def _has_control(name: str, spec: tuple) -> bool:
    """The editor adds a 'control after generate' value after seed-like INT widgets."""
    options = spec[1] if len(spec) > 1 else {}
    return spec[0] == "INT" and bool(options.get("control_after_generate", name in ("seed", "noise_seed")))


def widget_values(cls: type, values: list) -> tuple[dict, list[str]]:
    """Map a UI node's ``widgets_values`` to widget names; also return problems (count, control values)."""
    out, problems, i = {}, [], 0
    for name, spec in ((n, s) for n, s in _inputs(cls).items() if _is_widget(s)):
        if i >= len(values):
            problems.append(f"missing widget value for {name!r}")
            break
        out[name] = values[i]
        i += 1
        if _has_control(name, spec):
            if i >= len(values) or values[i] not in CONTROL_VALUES:
                problems.append(f"{name!r}: no control-after-generate value")
            i += 1
    if i < len(values):
        problems.append(f"{len(values) - i} widget values too many")
    return out, problems


def _inputs(cls: type) -> dict[str, tuple]:
    types = cls.INPUT_TYPES()
    return {**types.get("required", {}), **types.get("optional", {})}


def _is_widget(spec: tuple) -> bool:
    return isinstance(spec[0], list) or spec[0] in WIDGET_TYPES


def _is_link(value) -> bool:
    return (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)
            and isinstance(value[1], int))


def _check_value(name: str, spec: tuple, value) -> str | None:
    kind, options = spec[0], (spec[1] if len(spec) > 1 else {})
    if isinstance(kind, list):
        return None if value in kind else f"{name}: {value!r} not in {kind}"
    if kind == "BOOLEAN":
        return None if isinstance(value, bool) else f"{name}: {value!r} is not a boolean"
    if kind == "STRING":
        return None if isinstance(value, str) else f"{name}: {value!r} is not a string"
    if kind in ("INT", "FLOAT"):
        not_number = isinstance(value, bool) or not isinstance(value, (int, float))
        if not_number or (kind == "INT" and int(value) != value):
            return f"{name}: {value!r} is not {kind}"
        if "min" in options and value < options["min"]:
            return f"{name}: {value} < min {options['min']}"
        if "max" in options and value > options["max"]:
            return f"{name}: {value} > max {options['max']}"
    return None


def check_api(prompt: Mapping[str, dict], classes: Mapping[str, type]) -> list[str]:
    """Problems ComfyUI's /prompt validation would report (empty list: valid)."""
    errors = []
    for nid, node in prompt.items():
        cls = classes.get(node.get("class_type"))
        if cls is None:
            errors.append(f"{nid}: unknown node type {node.get('class_type')!r}")
            continue
        spec = cls.INPUT_TYPES()
        declared = _inputs(cls)
        given = node.get("inputs", {})
        validate = getattr(cls, "VALIDATE_INPUTS", None)
        own = set(inspect.getfullargspec(validate).args) if validate else set()
        for name in spec.get("required", {}):
            if name not in given:
                errors.append(f"{nid} {node['class_type']}: required input {name!r} missing")
        for name, value in given.items():
            if name not in declared:
                errors.append(f"{nid} {node['class_type']}: unknown input {name!r}")
                continue
            if _is_link(value):
                src = prompt.get(value[0])
                if src is None or src.get("class_type") not in classes:
                    errors.append(f"{nid}.{name}: link to missing node {value[0]}")
                    continue
                outputs = classes[src["class_type"]].RETURN_TYPES
                if not 0 <= value[1] < len(outputs):
                    errors.append(f"{nid}.{name}: output {value[1]} of {src['class_type']} does not exist")
                elif outputs[value[1]] != declared[name][0] and "*" not in (outputs[value[1]],
                                                                             declared[name][0]):
                    kind = "COMBO" if isinstance(declared[name][0], list) else declared[name][0]
                    errors.append(f"{nid}.{name}: {outputs[value[1]]} linked into {kind}")
            elif not _is_widget(declared[name]):
                errors.append(f"{nid}.{name}: a {declared[name][0]} input needs a link, got {value!r}")
            elif name not in own:
                problem = _check_value(name, declared[name], value)
                if problem:
                    errors.append(f"{nid} {node['class_type']}: {problem}")
        if validate:
            args = {a: (None if _is_link(given[a]) else given[a]) for a in own if a != "cls" and a in given}
            result = validate(**args)
            if result is not True:  # ComfyUI repeats the message for every input the method takes
                errors += [f"{nid} {node['class_type']}: VALIDATE_INPUTS ({name}): {result}" for name in args]
    return errors


def check_ui(workflow: dict, classes: Mapping[str, type]) -> list[str]:
    """Problems of an editor-format workflow: types, sockets, links, widget values."""
    errors = []
    nodes = {n["id"]: n for n in workflow["nodes"]}
    for n in workflow["nodes"]:
        if n["type"] in NOTE_TYPES:
            if n.get("inputs") or n.get("outputs") or len(n.get("widgets_values", [])) != 1:
                errors.append(f"node {n['id']}: a note holds one text and no sockets")
            continue
        cls = classes.get(n["type"])
        if cls is None:
            errors.append(f"node {n['id']}: unknown type {n['type']!r}")
            continue
        declared = _inputs(cls)
        named, problems = widget_values(cls, n.get("widgets_values", []))
        errors += [f"node {n['id']} {n['type']}: widget values: {p}" for p in problems]
        for name, value in named.items():
            problem = _check_value(name, declared[name], value)
            if problem:
                errors.append(f"node {n['id']} {n['type']}: {problem}")
        for slot in n.get("inputs", []):
            if slot["name"] not in declared:
                errors.append(f"node {n['id']}: unknown input socket {slot['name']!r}")
        if [o["type"] for o in n.get("outputs", [])] != list(cls.RETURN_TYPES):
            got = [o["type"] for o in n.get("outputs", [])]
            errors.append(f"node {n['id']} {n['type']}: outputs {got} != {cls.RETURN_TYPES}")
    for link_id, src, src_slot, dst, dst_slot, kind in workflow["links"]:
        if src not in nodes or dst not in nodes:
            errors.append(f"link {link_id}: missing node")
            continue
        out = nodes[src]["outputs"][src_slot]
        inp = nodes[dst]["inputs"][dst_slot]
        if link_id not in (out.get("links") or []) or inp.get("link") != link_id:
            errors.append(f"link {link_id}: not recorded on both ends")
        declared = _inputs(classes[nodes[dst]["type"]]).get(inp["name"])
        in_kind = declared[0] if declared else None
        if not (out["type"] == kind == in_kind):
            errors.append(f"link {link_id}: {out['type']} -> {inp['name']} ({in_kind}), link says {kind}")
    return errors


def ui_to_api(workflow: dict, classes: Mapping[str, type]) -> dict:
    """The API prompt an editor workflow stands for (what the editor queues)."""
    links = {link[0]: link for link in workflow["links"]}
    prompt = {}
    for n in (n for n in workflow["nodes"] if n["type"] not in NOTE_TYPES):
        inputs, _ = widget_values(classes[n["type"]], n.get("widgets_values", []))
        for slot in n.get("inputs", []):
            if slot.get("link") is not None:
                _, src, src_slot, *_ = links[slot["link"]]
                inputs[slot["name"]] = [str(src), src_slot]
        prompt[str(n["id"])] = {"class_type": n["type"], "inputs": inputs}
    return prompt


def execute(prompt: Mapping[str, dict], classes: Mapping[str, type]) -> dict[str, tuple]:
    """Run every node once, dependencies first, inside ``torch.inference_mode()`` like ComfyUI's
    executor; return each node's outputs."""
    import torch

    with torch.inference_mode():
        return _execute(prompt, classes)


def _execute(prompt: Mapping[str, dict], classes: Mapping[str, type]) -> dict[str, tuple]:
    pending = dict(prompt)
    outputs: dict[str, tuple] = {}
    while pending:
        ready = [nid for nid, node in pending.items()
                 if all(v[0] in outputs for v in node["inputs"].values() if _is_link(v))]
        if not ready:
            raise ValueError(f"cycle or missing node among {sorted(pending)}")
        for nid in sorted(ready, key=int):
            node = pending.pop(nid)
            cls = classes[node["class_type"]]
            kwargs = {k: (outputs[v[0]][v[1]] if _is_link(v) else v) for k, v in node["inputs"].items()}
            outputs[nid] = tuple(getattr(cls(), cls.FUNCTION)(**kwargs))
    return outputs
