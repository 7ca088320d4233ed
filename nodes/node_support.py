"""Helpers shared by the model and interpolation nodes: model inputs, devices, output batches."""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import numpy as np
import torch

from ..core.errors import InputError
from . import comfy_env

log = logging.getLogger(__name__)

MODEL_TYPE = "ANIMEINTERP_MODEL"
"""ComfyUI type name of a loaded ``core.model.LearnedInterpolator`` (see ``model_nodes``)."""

# torch < 2.5 has only torch.cuda.OutOfMemoryError
OUT_OF_MEMORY = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)

MODEL_TOOLTIP = "Learned model from Load Model (AnimeInterp); leave unconnected for the weight-free path."


def check_model(model):
    """The optional MODEL input: None (weight-free) or a learned interpolator."""
    if model is None:
        return None
    if not (callable(getattr(model, "estimate", None)) and callable(getattr(model, "synthesize", None))):
        raise InputError(f"model: expected an {MODEL_TYPE} from Load Model (AnimeInterp), "
                         f"got {type(model).__name__}")
    return model


def model_device(model) -> torch.device:
    """Where a model runs: its parameters' device; ComfyUI's device for the weight-free path."""
    if model is not None:
        for p in model.parameters():
            return p.device
    return comfy_env.torch_device()


class ImageBatchWriter:
    """Fills a preallocated IMAGE batch ``(count, H, W, 3)`` on ComfyUI's intermediate device.

    Allocating once and writing frame by frame keeps the peak at the output itself (no list of
    frames plus a stacked copy).
    """

    def __init__(self, count: int, height: int, width: int):
        if count < 1:
            raise InputError("no frames to return")
        self.batch = torch.empty((count, height, width, 3), dtype=torch.float32,
                                 device=comfy_env.intermediate_device())
        self.written = 0

    def add(self, frame: np.ndarray) -> None:
        if self.written >= self.batch.shape[0]:
            raise RuntimeError(f"more frames than the {self.batch.shape[0]} planned")
        self.batch[self.written] = torch.from_numpy(frame).to(self.batch.device).float().div_(255.0)
        self.written += 1

    def result(self) -> torch.Tensor:
        if self.written != self.batch.shape[0]:
            raise RuntimeError(f"{self.written} frames written, {self.batch.shape[0]} planned")
        return self.batch


@contextlib.contextmanager
def memory_guard(what: str) -> Iterator[None]:
    """Turn an out-of-memory error into a clear message and free caches (the server keeps running)."""
    try:
        yield
    except OUT_OF_MEMORY as e:
        comfy_env.soft_empty_cache()
        raise InputError(f"{what} ran out of memory ({e}). Try a smaller working size, fewer frames per "
                         "run, or the CPU device.") from e
    finally:
        comfy_env.soft_empty_cache()
