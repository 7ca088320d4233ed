"""Weights the nodes load, resolved through the manifest and cached between runs.

Inside ComfyUI, weights are looked up in ``models/animeinterp`` (and extra_model_paths) first and
downloads are cached there; outside ComfyUI the library's cache folder is used.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from . import comfy_env, downloads, memory

_LOCK = threading.Lock()
_CACHE: dict[tuple, Any] = {}
_GENERATION = 0


DOWNLOAD_SWITCH = "the 'download' switch of Load Model (AnimeInterp)"


def resolve(name_or_path: str, download: bool = True, instead: str = "", show_progress: bool = False) -> Path:
    """A local, verified safetensors file for a manifest name, a models-folder file or a path
    (inside ComfyUI, a path only where :mod:`.path_policy` allows it).

    Args:
        download: fetch a manifest weight that is not on disk (else only look).
        instead: inside ComfyUI, the alternative a missing-weight error suggests besides putting
            the file into ``models/animeinterp`` (e.g. the loader's download switch).
        show_progress: show a download on the node's progress bar.
    """
    from ..core.errors import WeightsError
    from ..core.weights.resolve import resolve_weight
    from .path_policy import weight_reference

    weight_reference(name_or_path)  # a shared server reads weights from its model folders only
    if comfy_env.in_comfyui():
        full = comfy_env.full_model_path(name_or_path)
        if full:
            name_or_path = full
    folders = comfy_env.model_folders()
    cache = folders[0] if folders else None

    def fetch() -> Path:
        return resolve_weight(name_or_path, search_dirs=folders, cache_dir=cache,
                              offline=None if download else True, progress=not comfy_env.in_comfyui())

    try:
        if show_progress and download and cache is not None and not on_disk(name_or_path):
            return downloads.with_progress(fetch, Path(cache), _expected_size(name_or_path))
        return fetch()
    except WeightsError as e:
        if not comfy_env.in_comfyui():
            raise
        raise WeightsError(comfy_message(name_or_path, str(e), folders, download, instead)) from e


def _entry(name: str):
    from ..core.weights.manifest import load_manifest

    manifest = load_manifest()
    return manifest.entries.get(name) or manifest.by_filename(name)


def _expected_size(name: str) -> int | None:
    entry = _entry(name)
    if entry is None:
        return None
    return entry.size or next((s.size for s in entry.sources if s.size), None)


def comfy_message(name: str, message: str, folders: list[str], download: bool, instead: str) -> str:
    """A missing-weight error in ComfyUI's terms: which file to put into which folder, or what to
    switch on; the library's message names command-line tools a ComfyUI install does not have."""
    entry = _entry(name)
    if entry is None:
        return message.split("How to get it:")[0].rstrip()
    folder = folders[0] if folders else "ComfyUI/models/animeinterp"
    found = message.split("How to get it:")[0].rstrip().splitlines()
    lines = [found[0], (f"To fix it in ComfyUI, put the file '{entry.filename}' into {folder} "
                        "(models/animeinterp), then run again.")]
    urls = [s.download_url for s in entry.sources]
    if urls:
        lines.append("The file is published at: " + " or ".join(urls) + " (original files are checked "
                     "by hash and converted when found in that folder).")
    if not download:
        lines.append(f"Or turn on {DOWNLOAD_SWITCH}: it downloads the file into that folder.")
    elif instead:
        lines.append(f"Or {instead}.")
    detail = [line for line in found[1:] if line.strip()]
    if detail:
        lines += ["", "Details:", *detail]
    return "\n".join(lines)


def on_disk(name_or_path: str) -> bool:
    """True when the weight is available without downloading (a file in the model folders, the
    cache, or an upstream original there)."""
    from ..core.errors import WeightsError
    from ..core.weights.resolve import resolve_weight
    from .path_policy import weight_reference

    try:
        weight_reference(name_or_path)  # a refused path is "not on disk", exactly like a missing one
    except WeightsError:
        return False
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


def load_vgg(name_or_path: str, device: torch.device, instead: str = "") -> Any:
    """The SGM / style-loss feature network (VGG-19, or VGG-16: detected from the file) on ``device``
    (downloaded on first use, with progress)."""
    from ..core.features.networks import load_feature_network

    path = resolve(name_or_path, instead=instead, show_progress=True)
    return _cached(("vgg", str(path), str(device)), lambda: load_feature_network(path).to(device))


def load_interpolator(name_or_path: str, device: torch.device, dtype: torch.dtype, flow_scale: str = "auto") -> Any:
    """The learned interpolator (our safetensors) on ``device``; ``flow_scale``: ``"auto"`` or a
    number in (0, 1] (``core.model.flow_scale``), part of the cache key (a model per setting)."""
    from ..core.model import load_model
    from ..core.model.flow_scale import check_flow_scale

    path = resolve(name_or_path)
    scale = check_flow_scale(flow_scale)
    model = _cached(("model", str(path), str(device), str(dtype), str(scale)),
                    lambda: load_model(path, device, dtype, flow_scale=scale))
    budget = comfy_env.memory_budget()
    if budget is not None:  # the memory modes follow what ComfyUI reports free at each forward
        model.set_memory_options(memory_budget=budget)
    return model


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
