"""The compatibility configuration: how the released AnimeInterp / AFI checkpoints compute.

The original code has behaviours that differ from the papers (ARCHITECTURE.md §10-11). The
checkpoints were trained with them, so the model reproduces them. Each quirk is documented where
it lives (a comment plus the docstring of that function) and listed here:

===  ===============================================  =============================  ==========
 #   Quirk (original behaviour)                       Where it lives                 Knob
===  ===============================================  =============================  ==========
 1   Confidence map (``attention2``) is computed and  ``weights/convert.py`` drops   fixed
     thrown away: its keys are accepted, never run.   the keys; never built here
 2   The SGM init flow is added to the coordinates    ``flownet.FlowNet._iterate``   ``init_flow_additions``
     twice (before the loop and in iteration 0).
 3   Correlation lookups use ``grid_sample`` with     ``corr.CorrelationPyramid``    ``lookup_align_corners``
     ``align_corners=True`` (torch <= 1.2 default).
 4   The flow net bilinearly resizes the frames to    ``flownet.FlowNet.forward``    fixed
     H, W rounded *down* to a multiple of 8, then
     rescales and resizes the flow back.
 5   Feature pyramid and flow net see frames mapped   ``interpolator.to_signed``     fixed
     to [-1, 1] by ``(x - 0.5) / 0.5``; the warp and
     GridNet use the raw [0, 1] frames.
 6   The init flow is downsampled to 1/8 with legacy  ``flownet.downsample_init``    fixed
     *nearest* interpolation, scaled per axis.
 7   12 refinement iterations (train and test).       ``flownet.FlowNet._iterate``   ``iterations``
 8   Context (GRU hidden state + input) comes from    ``flownet.FlowNet.forward``    fixed
     the feature encoder ``fnet`` (``cnet`` unused),
     so it equals the correlation features.
 9   Feature levels get the time-scaled flow by       ``interpolator.flow_to_level`` fixed
     legacy nearest resizing + per-axis scaling.
===  ===============================================  =============================  ==========

"fixed" means the trained weights depend on it, so it is not configurable. The knobs exist for
experiments; :data:`CHECKPOINT_COMPAT` holds the values the checkpoints need.

Independent of these quirks, the model accepts any frame size: where the original works
(H, W >= 128 and multiples of 4) it runs the original computation unchanged; elsewhere it pads
internally (see ``padding.py``).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import InputError


@dataclass(frozen=True)
class CheckpointCompat:
    """Numerics knobs of the flow network; the defaults reproduce the original code.

    Attributes:
        iterations: refinement iterations of the recurrent update (original: 12).
        init_flow_additions: how many times the 1/8 init flow is added to the starting
            coordinates (original: 2, a bug the checkpoints were trained with; 1 = intent).
        lookup_align_corners: ``align_corners`` of the correlation lookup (original: True).
    """

    iterations: int = 12
    init_flow_additions: int = 2
    lookup_align_corners: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.iterations, int) or self.iterations < 1:
            raise InputError(f"iterations must be an int >= 1, got {self.iterations!r}")
        if not isinstance(self.init_flow_additions, int) or self.init_flow_additions < 0:
            raise InputError(f"init_flow_additions must be an int >= 0, got {self.init_flow_additions!r}")


CHECKPOINT_COMPAT = CheckpointCompat()
"""What the released checkpoints were trained with (ARCHITECTURE.md §11)."""
