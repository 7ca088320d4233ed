"""Test-made weight files for the node, workflow and CLI tests (random init, nothing downloaded)."""
from __future__ import annotations

from pathlib import Path

import torch
from comfyui_animeinterp.core.features.vgg19 import random_vgg19
from comfyui_animeinterp.core.model import WEIGHTS_FORMAT, build_model
from comfyui_animeinterp.core.weights.convert import save_converted
from safetensors.torch import save_file


def write_model_file(path: Path, variant: str = "afi", seed: int = 0) -> Path:
    """A randomly initialised learned interpolator in our safetensors format (about 27 MB)."""
    torch.manual_seed(seed)
    model = build_model(variant)
    save_converted(model.state_dict(), path, {"format": WEIGHTS_FORMAT, "variant": variant, "test": "random"})
    return path


def write_vgg_file(path: Path, seed: int = 0) -> Path:
    """A randomly initialised VGG-19 feature net that ``load_vgg19`` accepts (about 80 MB)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in random_vgg19(seed).state_dict().items()}, str(path))
    return path


def write_record(path: Path, name: str) -> Path:
    """The ``.record.json`` a download leaves beside a cached file (cached weights without one are
    refused unless the manifest publishes their hash)."""
    from comfyui_animeinterp.core.weights.cache import CacheRecord, record_path
    from comfyui_animeinterp.core.weights.hashing import digest_file

    digest = digest_file(path)
    record = CacheRecord(name, digest.sha256, digest.size, "test-made", digest.sha256, digest.git_blob_sha1,
                         (), None)
    record_path(path).write_text(record.to_json())
    return record_path(path)
