"""ComfyUI node classes: thin adapters over ``core`` (no maths here).

Each node module exports ``NODES``: ``{type name: (class, display name)}``. Every type name starts
with ``AnimeInterp`` and every display name ends with `` (AnimeInterp)``. Type names used before that
rule stay registered as deprecated aliases (``DEPRECATED_ALIASES``): old workflows still open and run,
while ComfyUI's node search hides them.
"""
from __future__ import annotations

from . import (
    comfy_env,
    evaluate_nodes,
    interpolate_node,
    io_nodes,
    memory,
    model_cache,
    model_nodes,
    sgm_nodes,
    train_nodes,
)

_MODULES: list = [io_nodes, sgm_nodes, model_nodes, interpolate_node, train_nodes, evaluate_nodes]

DEPRECATED_ALIASES = {
    "StyleFinetune": "AnimeInterpStyleFinetune",
    "EvaluateInterpolation": "AnimeInterpEvaluate",
    "LoadAnimeInterpModel": "AnimeInterpLoadModel",
}
"""``{old type name: current type name}``; workflows saved before the prefix rule use the old ones."""


def _deprecated(cls: type) -> type:
    """A subclass flagged ``DEPRECATED`` (ComfyUI then hides it from search but still loads it)."""
    return type(cls.__name__, (cls,), {"DEPRECATED": True, "__doc__": cls.__doc__,
                                        "__module__": cls.__module__})


def _collect() -> tuple[dict, dict]:
    classes, names = {}, {}
    for module in _MODULES:
        for type_name, (cls, display) in module.NODES.items():
            if type_name in classes:
                raise RuntimeError(f"duplicate node type {type_name}")
            classes[type_name] = cls
            names[type_name] = display
    for old, new in DEPRECATED_ALIASES.items():
        classes[old] = _deprecated(classes[new])
        names[old] = f"{names[new]} [deprecated]"
    return classes, names


comfy_env.register_model_folder()
memory.hook_model_management(model_cache.release_all)
NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS = _collect()
