"""ComfyUI-AnimeInterp core library: anime frame interpolation without any ComfyUI dependency.

Stages (one module each): ``segment`` -> ``match`` -> ``coarse_flow`` (together: ``sgm``),
then ``refine`` and ``synthesize``. Weights live in ``weights``; training in ``train``.
"""
from .errors import AnimeInterpError, DataError, InputError, WeightsError

__all__ = ["AnimeInterpError", "InputError", "WeightsError", "DataError"]
