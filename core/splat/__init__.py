"""Forward splatting (summation splatting with bilinear weights), shared by both paths.

* :mod:`.forward` — torch, any device: the learned model's frame and feature warping, the weight-free blend;
* :mod:`.average_numpy` — NumPy, for the coarse flow's per-segment fills.
"""
from .average_numpy import splat_average_numpy
from .forward import forward_splat, splat_average, splat_average_pair

__all__ = ["forward_splat", "splat_average", "splat_average_numpy", "splat_average_pair"]
