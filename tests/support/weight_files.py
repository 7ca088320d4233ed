"""Small weight files and manifests for the weights tests (all made here, nothing downloaded)."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import torch
from comfyui_animeinterp.core.weights.hashing import git_blob_sha1
from safetensors.torch import save, save_file

REV = "0123456789abcdef0123456789abcdef01234567"


def tiny_state(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "module.fnet.conv1.weight": torch.randn(4, 3, 3, 3, generator=g),
        "module.fnet.conv1.bias": torch.randn(4, generator=g),
    }


def safetensors_bytes(seed: int = 0) -> bytes:
    return save(tiny_state(seed))


def pickle_bytes(seed: int = 0) -> bytes:
    buf = io.BytesIO()
    torch.save({"state_dict": tiny_state(seed), "epoch": 49}, buf)
    return buf.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fake_convert_file(src: Path, dst: Path, variant: str) -> None:
    """Stand-in for core.weights.convert.convert_file: strip 'module.' and save as safetensors."""
    state = torch.load(src, map_location="cpu", weights_only=True)["state_dict"]
    save_file(
        {k.removeprefix("module."): v for k, v in state.items()}, str(dst), metadata={"variant": variant}
    )


def hf_source(content: bytes | None, *, repo="org/tiny", filename="model.safetensors", **extra) -> dict:
    src = {"type": "hf", "repo": repo, "revision": REV, "filename": filename, "format": "safetensors"}
    src["sha256"] = sha256(content) if content is not None else None
    return {**src, **extra}


def url_source(url: str, content: bytes | None, **extra) -> dict:
    src = {"type": "url", "url": url, "format": "torch-pickle", "converter": "gma"}
    src["git_blob_sha1"] = git_blob_sha1(content) if content is not None else None
    return {**src, **extra}


def write_manifest(tmp_path: Path, weights: dict, our_hub_repo: dict | None = None) -> Path:
    entries = {
        name: {"filename": f"{name}.safetensors", "sources": sources} for name, sources in weights.items()
    }
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"format": 1, "our_hub_repo": our_hub_repo, "weights": entries}))
    return path


def all_files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []
