"""ComfyUI node classes: thin adapters over ``core`` (no maths here).

Each node module exports ``NODES``: ``{type name: (class, display name)}``.
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


def _collect() -> tuple[dict, dict]:
    classes, names = {}, {}
    for module in _MODULES:
        for type_name, (cls, display) in module.NODES.items():
            if type_name in classes:
                raise RuntimeError(f"duplicate node type {type_name}")
            classes[type_name] = cls
            names[type_name] = display
    return classes, names


comfy_env.register_model_folder()
memory.hook_model_management(model_cache.release_all)
NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS = _collect()
