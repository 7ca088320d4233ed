"""The few ComfyUI services the nodes use, imported lazily.

Inside ComfyUI these call ``comfy.utils.ProgressBar``, ``comfy.model_management`` and
``folder_paths``. Outside ComfyUI (plain pytest, the CLI) they degrade to no-ops or sensible
defaults, so the node functions run anywhere.
"""
from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import Any

import torch

MODEL_FOLDER = "animeinterp"
WEIGHT_EXTENSIONS = {".safetensors", ".sft", ".pth", ".pt", ".ckpt", ".bin"}


def _optional(module: str) -> Any | None:
    try:
        return importlib.import_module(module)
    except Exception:  # noqa: BLE001 - not inside ComfyUI (or a broken install): behave as standalone
        return None


def in_comfyui() -> bool:
    return _optional("comfy.model_management") is not None and _optional("folder_paths") is not None


class ProgressBar:
    """``comfy.utils.ProgressBar`` when available, else a silent counter with the same API."""

    def __init__(self, total: int):
        self.total = max(1, int(total))
        self.current = 0
        utils = _optional("comfy.utils")
        self._bar = utils.ProgressBar(self.total) if utils is not None else None

    def update(self, value: int = 1) -> None:
        self.update_absolute(self.current + value)

    def update_absolute(self, value: float, total: int | None = None, preview: Any = None) -> None:
        """Move to ``value`` of ``total`` (a fraction moves the bar inside a unit); ``preview``: an
        optional ``uint8`` RGB ``(H, W, 3)`` array shown on the node while it runs."""
        if total is not None:
            self.total = max(1, int(total))
        self.current = min(value if isinstance(value, float) and not value.is_integer() else int(value),
                           self.total)
        if self._bar is not None:
            if preview is None:
                self._bar.update_absolute(self.current, self.total)
            else:
                self._bar.update_absolute(self.current, self.total, _preview_image(preview))


PREVIEW_SIDE = 512


def _preview_image(rgb: Any) -> tuple:
    """ComfyUI's preview format: ``("JPEG", PIL image, max side)``."""
    from PIL import Image

    return ("JPEG", Image.fromarray(rgb), PREVIEW_SIDE)


def throw_if_interrupted() -> None:
    """Raise ComfyUI's interruption exception if the user pressed Cancel; no-op outside ComfyUI."""
    mm = _optional("comfy.model_management")
    if mm is not None:
        mm.throw_exception_if_processing_interrupted()


def interrupted() -> bool:
    """True if the user pressed Cancel (without consuming the flag)."""
    mm = _optional("comfy.model_management")
    return bool(mm is not None and mm.processing_interrupted())


def torch_device() -> torch.device:
    """ComfyUI's compute device, else CUDA if present, else CPU."""
    mm = _optional("comfy.model_management")
    if mm is not None:
        return mm.get_torch_device()
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def intermediate_device() -> torch.device:
    """Where ComfyUI keeps IMAGE tensors between nodes (CPU unless --gpu-only)."""
    mm = _optional("comfy.model_management")
    if mm is not None:
        return mm.intermediate_device()
    return torch.device("cpu")


def memory_budget() -> Callable[[torch.device], float] | None:
    """The learned flow net's memory budget inside ComfyUI: ``device -> bytes``, half of what its
    model management reports free there at each forward (None outside ComfyUI: the library's
    own default applies)."""
    mm = _optional("comfy.model_management")
    if mm is None or not hasattr(mm, "get_free_memory"):
        return None
    return lambda device: 0.5 * float(mm.get_free_memory(device))


def soft_empty_cache() -> None:
    mm = _optional("comfy.model_management")
    if mm is not None:
        mm.soft_empty_cache()
    elif torch.cuda.is_available():
        torch.cuda.empty_cache()


def input_directory() -> str | None:
    """ComfyUI's input folder (where relative paths of loader nodes point), None outside ComfyUI."""
    fp = _optional("folder_paths")
    if fp is None or not hasattr(fp, "get_input_directory"):
        return None
    return fp.get_input_directory()


def register_model_folder() -> None:
    """Register ``models/animeinterp`` with ComfyUI's ``folder_paths`` (idempotent)."""
    fp = _optional("folder_paths")
    if fp is None:
        return
    path = os.path.join(fp.models_dir, MODEL_FOLDER)
    if MODEL_FOLDER in fp.folder_names_and_paths:
        paths, exts = fp.folder_names_and_paths[MODEL_FOLDER]
        if path not in paths:
            paths.insert(0, path)
        if isinstance(exts, set):
            exts.update(WEIGHT_EXTENSIONS)
    else:
        fp.folder_names_and_paths[MODEL_FOLDER] = ([path], set(WEIGHT_EXTENSIONS))


def model_folders() -> list[str]:
    """Folders searched for weight files: ComfyUI's ``animeinterp`` folders (incl. extra_model_paths)."""
    fp = _optional("folder_paths")
    if fp is None:
        return []
    register_model_folder()
    try:
        return list(fp.get_folder_paths(MODEL_FOLDER))
    except Exception:  # noqa: BLE001 - folder_paths differs between ComfyUI versions: no folders
        return []


def model_files() -> list[str]:
    """Weight files visible in the ``animeinterp`` model folders (names relative to a folder)."""
    fp = _optional("folder_paths")
    if fp is None:
        return []
    register_model_folder()
    try:
        return sorted(fp.get_filename_list(MODEL_FOLDER))
    except Exception:  # noqa: BLE001 - folder_paths differs between ComfyUI versions: no files
        return []


def full_model_path(name: str) -> str | None:
    fp = _optional("folder_paths")
    if fp is None:
        return None
    register_model_folder()
    try:
        return fp.get_full_path(MODEL_FOLDER, name)
    except Exception:  # noqa: BLE001 - folder_paths differs between ComfyUI versions: no file
        return None
