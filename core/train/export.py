"""Export fine-tuned weights as one of our safetensors files, with provenance metadata.

The file has the same keys and the same ``format``/``variant`` metadata as a converted checkpoint,
so :func:`..model.load_model` (and the loader node) accept it directly. Extra string metadata
records where it came from: ``finetune_base`` (base weights), ``finetune_data`` (style-set
summary), ``finetune_loss`` (definition, stages and weights), ``finetune_steps`` and
``finetune_config`` (the whole configuration), each as JSON.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..model.build import WEIGHTS_FORMAT
from ..weights.convert import save_converted
from .distributed import unwrap

FINETUNE_VERSION = "1"


def state_sha256(model: nn.Module) -> str:
    """Digest of a model's state dict (names, shapes, dtypes and values)."""
    h = hashlib.sha256()
    for name, tensor in sorted(unwrap(model).state_dict().items()):
        t = tensor.detach().to("cpu").contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def export_weights(model: nn.Module, path: str | os.PathLike, metadata: dict[str, Any]) -> Path:
    """Write ``model``'s weights (fp32, CPU) and ``metadata`` (values JSON-encoded unless strings)
    atomically to ``path``; returns the path."""
    module = unwrap(model)
    state = {
        k: (v.detach().to("cpu", torch.float32) if v.is_floating_point() else v.detach().to("cpu"))
        .contiguous()
        .clone()
        for k, v in module.state_dict().items()
    }
    meta = {
        "format": WEIGHTS_FORMAT,
        "variant": getattr(module, "variant", "afi"),
        "finetune_version": FINETUNE_VERSION,
        "tensors": str(len(state)),
    }
    meta.update({k: v if isinstance(v, str) else json.dumps(v, sort_keys=True) for k, v in metadata.items()})
    save_converted(state, path, meta)
    return Path(path)
