"""The path without a network: dense flows by OpenCV DIS and an occlusion-aware blend.

* :mod:`.refine` — coarse SGM flows -> dense flows (:class:`PairFlows`), fused per pixel by warping error;
* :mod:`.blend` — both frames forward-splatted to time t and blended by flow consistency.
"""
from .blend import blend_at
from .refine import PairFlows, refine_dis

__all__ = ["PairFlows", "blend_at", "refine_dis"]
