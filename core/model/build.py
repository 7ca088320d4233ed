"""Build the learned interpolator and load it from our safetensors files.

Our weight files are written by :mod:`..weights.convert`: our key layout, fp32 tensors, and
string metadata with at least ``format`` (:data:`WEIGHTS_FORMAT`) and ``variant``.
"""
from __future__ import annotations

import os

import torch

from ..errors import InputError, WeightsError
from ..weights.finite import require_finite
from .compat import CHECKPOINT_COMPAT, CheckpointCompat
from .flow_scale import FlowScale, check_flow_scale
from .interpolator import AUTOCAST_DTYPES, LearnedInterpolator, runs_on
from .memory import Budget
from .variants import VARIANTS

WEIGHTS_FORMAT = "comfyui-animeinterp/1"
"""Value of the ``format`` metadata entry of our safetensors files."""

FLOWNET_ONLY_VARIANT = "gma"
"""Variant tag of converted GMA files: flow-net weights only, to be combined with AnimeInterp's."""


def build_model(variant: str = "afi", compat: CheckpointCompat = CHECKPOINT_COMPAT, correlation: str = "auto",
                attention: str = "auto", memory_budget: Budget = None, flow_scale: FlowScale = "auto"
                ) -> LearnedInterpolator:
    """A randomly initialised :class:`LearnedInterpolator` of ``variant`` (``"afi"``/``"animeinterp"``);
    the memory options are those of :meth:`.LearnedInterpolator.set_memory_options`, ``flow_scale``
    that of :class:`.LearnedInterpolator`."""
    return LearnedInterpolator(variant, compat, correlation, attention, memory_budget, flow_scale)


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The string metadata of one of our safetensors files (:class:`WeightsError` if unreadable)."""
    from safetensors import safe_open

    if not os.path.isfile(path):
        raise WeightsError(f"weight file not found: {path}")
    try:
        with safe_open(os.fspath(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except Exception as exc:  # safetensors raises several types for corrupt headers
        raise WeightsError(f"{path}: not a readable safetensors file ({exc})") from exc


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu",
               dtype: torch.dtype = torch.float32, correlation: str = "auto", attention: str = "auto",
               memory_budget: Budget = None, flow_scale: FlowScale = "auto") -> LearnedInterpolator:
    """Load one of our converted weight files, strictly, in eval mode.

    Args:
        path: a ``.safetensors`` file written by :func:`..weights.convert.convert_file`.
        device: where to put the model.
        dtype: ``torch.float32`` (default), ``bfloat16`` for autocast (CPU or CUDA) or ``float16``
            for autocast on CUDA (parameters stay fp32).
        correlation, attention, memory_budget: the flow net's memory modes
            (:meth:`.LearnedInterpolator.set_memory_options`).
        flow_scale: ``"auto"`` or a number in (0, 1]: how much smaller the flow net's frames are
            than the picture (:mod:`.flow_scale`; ``1`` keeps the original's numbers at every size).

    Raises:
        WeightsError: unreadable file, foreign format, unknown variant, missing / unexpected /
            mis-shaped keys (all listed), NaN or infinite values (the tensors named).
        InputError: a dtype that does not run on ``device`` (:func:`.interpolator.runs_on`), an
            unsupported dtype or memory option.
    """
    from safetensors.torch import load_file

    device = torch.device(device)
    if dtype != torch.float32 and dtype not in AUTOCAST_DTYPES:
        raise InputError(f"dtype must be torch.float32, float16 or bfloat16, got {dtype}")
    if not runs_on(dtype, device.type):
        raise InputError(f"{dtype} does not run on {device.type} (float16 is autocast on CUDA only, bfloat16 "
                         "on CUDA or the CPU); use torch.float32")

    meta = read_metadata(path)
    if meta.get("format") != WEIGHTS_FORMAT:
        raise WeightsError(f"{path}: format {meta.get('format')!r} is not {WEIGHTS_FORMAT!r}; convert "
                           "the original checkpoint first (animeinterp convert)")
    variant = meta.get("variant")
    if variant == FLOWNET_ONLY_VARIANT:
        raise WeightsError(f"{path} holds GMA flow-net weights only; combine it with an AnimeInterp "
                           "checkpoint (convert.combine) to get a full 'afi' model")
    if variant not in VARIANTS:
        raise WeightsError(f"{path}: unknown variant {variant!r}; expected one of {sorted(VARIANTS)}")

    state = load_file(os.fspath(path), device="cpu")
    model = build_model(variant)
    check_state_dict(model, state, str(path))
    require_finite(state, str(path))
    model.load_state_dict(state, strict=True)
    model.autocast_dtype = None if dtype == torch.float32 else dtype
    model.set_memory_options(correlation, attention, memory_budget)
    model.flow_scale = check_flow_scale(flow_scale)
    return model.eval().to(device)


def check_state_dict(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Raise :class:`WeightsError` listing missing, unexpected and mis-shaped keys."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    misshaped = sorted(f"{k}: {tuple(state[k].shape)} != {expected[k]}"
                       for k in set(expected) & set(state) if tuple(state[k].shape) != expected[k])
    if missing or unexpected or misshaped:
        parts = [f"{source} does not fit the model"]
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped)):
            if keys:
                parts.append(f"{len(keys)} {label}: " + ", ".join(keys))
        raise WeightsError("; ".join(parts))
