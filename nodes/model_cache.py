"""Weights the nodes load, resolved through the manifest and cached between runs.

Inside ComfyUI, weights are looked up in ``models/animeinterp`` (and extra_model_paths) first and
downloads are cached there; outside ComfyUI the library's cache folder is used.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

import torch

from . import comfy_env, memory

_LOCK = threading.Lock()
_CACHE: dict[tuple, Any] = {}
_GENERATION = 0


def resolve(name_or_path: str) -> Path:
    """A local, verified safetensors file for a manifest name, a models-folder file or a path."""
    from ..core.weights.resolve import resolve_weight

    if comfy_env.in_comfyui():
        full = comfy_env.full_model_path(name_or_path)
        if full:
            name_or_path = full
    folders = comfy_env.model_folders()
    return resolve_weight(name_or_path, search_dirs=folders, cache_dir=folders[0] if folders else None)


def on_disk(name_or_path: str) -> bool:
    """True when the weight is available without downloading (a file in the model folders, the
    cache, or an upstream original there)."""
    from ..core.errors import WeightsError
    from ..core.weights.resolve import resolve_weight

    if comfy_env.in_comfyui() and comfy_env.full_model_path(name_or_path):
        return True
    folders = comfy_env.model_folders()
    try:
        resolve_weight(name_or_path, search_dirs=folders, cache_dir=folders[0] if folders else None,
                       offline=True, progress=False)
    except WeightsError:
        return False
    return True


def _cached(key: tuple, build: Callable[[], Any]) -> Any:
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = build()
        return _CACHE[key]


def load_vgg(name_or_path: str, device: torch.device) -> Any:
    """The SGM VGG-19 feature network on ``device``."""
    from ..core.features.vgg19 import load_vgg19

    path = resolve(name_or_path)
    return _cached(("vgg", str(path), str(device)), lambda: load_vgg19(path).to(device))


def load_interpolator(name_or_path: str, device: torch.device, dtype: torch.dtype) -> Any:
    """The learned interpolator (our safetensors) on ``device``."""
    from ..core.model import load_model

    path = resolve(name_or_path)
    return _cached(("model", str(path), str(device), str(dtype)), lambda: load_model(path, device, dtype))


def release_all() -> int:
    """Forget every cached network (frees their memory); returns how many were released.

    Networks on an accelerator are moved to the CPU first, so its memory is freed even where
    ComfyUI still holds a node output that refers to them; :func:`generation` changes so loader
    nodes know to load again. The freed host memory is then handed back to the system
    (:func:`.memory.trim`).
    """
    global _GENERATION
    with _LOCK:
        n = len(_CACHE)
        for value in _CACHE.values():
            if isinstance(value, torch.nn.Module) and any(p.device.type != "cpu" for p in value.parameters()):
                value.to("cpu")
        _CACHE.clear()
        _GENERATION += 1
    comfy_env.soft_empty_cache()
    memory.trim()
    return n


def generation() -> int:
    """A number that changes at every :func:`release_all` (for loader nodes' ``IS_CHANGED``)."""
    return _GENERATION
