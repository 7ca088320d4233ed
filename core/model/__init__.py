"""The learned model: RFR / RFR+GMA flow refinement, forward splatting and GridNet synthesis.

Public API::

    model = load_model("afi.safetensors", device="cpu")      # or build_model("afi")
    state = model.estimate(I1, I2, F12_init, F21_init)       # flows + features, once per pair
    It = model.synthesize(state, 0.5)                         # any t in [0, 1]

One module per concept: ``encoder`` (flow-net features), ``corr`` (correlation pyramid),
``attention`` (GMA), ``update`` (motion encoder, GRU, heads), ``upsample`` (convex x8),
``flownet`` (the iteration loop), ``features`` (warped feature pyramid), ``gridnet`` (synthesis),
``gridnet_block`` (its block, whole or in row strips),
``padding`` (any input size), ``compat`` (the original's quirks), ``memory`` (all-pairs / on-demand
correlation, full / efficient attention), ``flow_scale`` (the flow net on shrunk frames at 4K),
``interpolator`` (top level).
"""
from .build import WEIGHTS_FORMAT, build_model, load_model, read_metadata
from .compat import CHECKPOINT_COMPAT, CheckpointCompat
from .flownet import FlowNet, FlowPair
from .interpolator import FrameEncoding, LearnedInterpolator, PairState
from .memory import MemoryOptions
from .variants import VARIANTS, ModelVariant

__all__ = [
    "CHECKPOINT_COMPAT",
    "VARIANTS",
    "WEIGHTS_FORMAT",
    "CheckpointCompat",
    "FlowNet",
    "FlowPair",
    "FrameEncoding",
    "LearnedInterpolator",
    "MemoryOptions",
    "ModelVariant",
    "PairState",
    "build_model",
    "load_model",
    "read_metadata",
]
