"""The path without a network: dense flows by OpenCV DIS, and frames at t by backward warping.

* :mod:`.refine` — coarse SGM flows -> dense flows (:class:`PairFlows`), fused by warping error
  (one flow per drawn piece when label maps are given) and checked forward-backward;
* :mod:`.blend` — the motion carried to t, both frames backward-warped (:mod:`.warp`), the motion
  corrected by the residual between the warps (:mod:`.align`), blended by visibility, with a
  cross-fade fall-back where the warps disagree; the in-betweens of several flow
  hypotheses (the fused flows, plain and seeded DIS) mixed by how well each explains the frames.
"""
from .blend import blend_at
from .refine import PairFlows, refine_dis

__all__ = ["PairFlows", "blend_at", "refine_dis"]
