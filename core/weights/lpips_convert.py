"""Convert the LPIPS weight files users already have into our safetensors, and read either kind.

Inputs understood (all read with ``torch.load(weights_only=True, map_location="cpu")``):

* torchvision's ImageNet AlexNet (``alexnet-owt-*.pth``): ``features.{0,3,6,8,10}.{weight,bias}``
  (the ``classifier.*`` tensors are ignored);
* the ``lpips`` package's linear heads (``lpips/weights/v0.1/alex.pth``):
  ``lin{k}.model.1.weight`` (``lin{k}.model.0.weight`` when saved without dropout);
* a whole ``lpips.LPIPS(net="alex")`` state dict: ``net.slice{1..5}.{i}.*`` plus
  ``lin{k}.*`` / ``lins.{k}.*``.

A leading ``module.`` (DataParallel) is stripped. Outputs are float32 safetensors with our names:

* kind ``"alexnet"`` (manifest name ``alexnet``): ``conv{1..5}.weight`` / ``conv{1..5}.bias``;
* kind ``"lpips-alex"`` (manifest name ``lpips-alex``): ``lin{0..4}.weight`` of shape ``(1, C, 1, 1)``.

Command line: ``python -m comfyui_animeinterp.core.weights.lpips_convert SRC DST [--kind K]``.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

import torch

from ..errors import WeightsError
from ..features.alexnet import ALEXNET_SHAPES, FEATURE_CHANNELS

KIND_ALEXNET = "alexnet"
KIND_HEADS = "lpips-alex"
FORMAT_TAG = "animeinterp-lpips-v1"

_TORCHVISION_INDEX = {0: 1, 3: 2, 6: 3, 8: 4, 10: 5}  # features.<i> -> conv<k>
_LPIPS_SLICE = {(1, 0): 1, (2, 3): 2, (3, 6): 3, (4, 8): 4, (5, 10): 5}  # net.slice<s>.<i> -> conv<k>
HEAD_SHAPES: dict[str, tuple[int, ...]] = {f"lin{k}.weight": (1, c, 1, 1) for k, c in enumerate(FEATURE_CHANNELS)}


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` or pickled ``.pth``/``.pt``/``.ckpt`` file (CPU, no code execution)."""
    p = Path(path)
    if not p.is_file():
        raise WeightsError(f"weight file not found: {p}")
    try:
        if p.suffix in (".safetensors", ".sft"):
            from safetensors.torch import load_file

            sd = load_file(str(p), device="cpu")
        else:
            sd = torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt file, truncated download, foreign pickle...
        raise WeightsError(f"could not read {p}: {e}") from e
    for wrapper in ("state_dict", "model_state_dict"):
        if isinstance(sd, dict) and wrapper in sd and isinstance(sd[wrapper], dict):
            sd = sd[wrapper]
    if not isinstance(sd, dict):
        raise WeightsError(f"{p} does not hold a state dict (found {type(sd).__name__})")
    return {k.removeprefix("module."): v for k, v in sd.items() if isinstance(v, torch.Tensor)}


def _check_shapes(out: dict[str, torch.Tensor], shapes: dict[str, tuple[int, ...]], what: str) -> None:
    missing = sorted(set(shapes) - set(out))
    if missing:
        raise WeightsError(f"{what}: missing tensors {missing}")
    for k, shape in shapes.items():
        if tuple(out[k].shape) != shape:
            raise WeightsError(f"{what}: {k} has shape {tuple(out[k].shape)}, expected {shape}")


def alexnet_from_state_dict(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our ``conv{k}.*`` tensors from a torchvision, lpips or already-converted state dict."""
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        k, leaf = None, key.rsplit(".", 1)[-1]
        if m := re.fullmatch(r"features\.(\d+)\.(?:weight|bias)", key):
            k = _TORCHVISION_INDEX.get(int(m[1]))
        elif m := re.fullmatch(r"net\.slice(\d)\.(\d+)\.(?:weight|bias)", key):
            k = _LPIPS_SLICE.get((int(m[1]), int(m[2])))
        elif m := re.fullmatch(r"(?:backbone\.)?conv(\d)\.(?:weight|bias)", key):
            k = int(m[1])
        if k is not None:
            out[f"conv{k}.{leaf}"] = value.detach().to(torch.float32).contiguous()
    _check_shapes(out, ALEXNET_SHAPES, "AlexNet weights")
    return out


def lpips_heads_from_state_dict(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our ``lin{k}.weight`` tensors from an lpips ``alex.pth``, a whole LPIPS or a converted dict."""
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        m = re.fullmatch(r"lins?\.?(\d)\.model\.[01]\.weight", key) or re.fullmatch(r"lin(\d)\.weight", key)
        if m:
            out[f"lin{int(m[1])}.weight"] = value.detach().to(torch.float32).contiguous()
    _check_shapes(out, HEAD_SHAPES, "LPIPS linear heads")
    return out


def detect_kinds(sd: dict[str, torch.Tensor]) -> list[str]:
    """Which of ``"alexnet"`` / ``"lpips-alex"`` a state dict can provide (possibly both)."""
    kinds = []
    for kind, convert in ((KIND_ALEXNET, alexnet_from_state_dict), (KIND_HEADS, lpips_heads_from_state_dict)):
        try:
            convert(sd)
            kinds.append(kind)
        except WeightsError:
            pass
    return kinds


def load_alexnet_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read an AlexNet trunk from any supported file (see the module docstring)."""
    try:
        return alexnet_from_state_dict(read_state_dict(path))
    except WeightsError as e:
        raise WeightsError(f"{path}: {e}") from None


def load_lpips_heads(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read the LPIPS linear heads from any supported file (see the module docstring)."""
    try:
        return lpips_heads_from_state_dict(read_state_dict(path))
    except WeightsError as e:
        raise WeightsError(f"{path}: {e}") from None


def convert_lpips_weights(src: str | os.PathLike, dst: str | os.PathLike, kind: str | None = None) -> str:
    """Convert ``src`` into our safetensors at ``dst`` (written atomically); return the kind written.

    Args:
        kind: ``"alexnet"`` or ``"lpips-alex"``; needed only when ``src`` holds both (a whole
            LPIPS state dict).
    """
    sd = read_state_dict(src)
    kinds = detect_kinds(sd)
    if kind is None:
        if len(kinds) != 1:
            raise WeightsError(
                f"{src}: " + ("holds no AlexNet trunk and no LPIPS heads" if not kinds else
                              f"holds both {kinds}; choose one with kind=")
            )
        kind = kinds[0]
    if kind not in (KIND_ALEXNET, KIND_HEADS):
        raise WeightsError(f"unknown kind {kind!r}; use '{KIND_ALEXNET}' or '{KIND_HEADS}'")
    write_lpips_part(sd, dst, kind, Path(src).name)
    return kind


def write_lpips_part(sd: dict[str, torch.Tensor], dst: str | os.PathLike, kind: str, source: str) -> None:
    """Write the ``kind`` part of state dict ``sd`` (any naming accepted above) as our safetensors.

    Raises:
        WeightsError: ``sd`` lacks a tensor of that part or holds one of the wrong shape.
    """
    from safetensors.torch import save_file

    tensors = alexnet_from_state_dict(sd) if kind == KIND_ALEXNET else lpips_heads_from_state_dict(sd)
    out = Path(dst)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    save_file(tensors, str(tmp), metadata={"format": FORMAT_TAG, "kind": kind, "source": source})
    os.replace(tmp, out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Convert LPIPS/AlexNet weights to safetensors.")
    p.add_argument("src", help="torchvision alexnet .pth, lpips alex.pth or a whole LPIPS state dict")
    p.add_argument("dst", help="output .safetensors")
    p.add_argument("--kind", choices=[KIND_ALEXNET, KIND_HEADS], default=None)
    args = p.parse_args(argv)
    try:
        kind = convert_lpips_weights(args.src, args.dst, args.kind)
    except WeightsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.dst} ({kind})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
