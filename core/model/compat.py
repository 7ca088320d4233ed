"""The compatibility configuration: how the released AnimeInterp / AFI checkpoints compute.

The original code has behaviours that differ from the papers (ARCHITECTURE.md §10-11). The
checkpoints were trained with them, so the model reproduces them. Each quirk is documented where
it lives (a comment plus the docstring of that function) and listed here:

| # | Quirk (original behaviour)                                  | Lives in                         |
|---|-------------------------------------------------------------|----------------------------------|
| 1 | Confidence map ``attention2`` computed, then discarded: its | ``weights/convert.py`` drops its |
|   | keys are accepted and dropped, it is never built. Fixed.    | keys                             |
| 2 | SGM init flow added to the coordinates twice (before the    | ``flownet.FlowNet._iterate``     |
|   | loop, again in iteration 0). Knob ``init_flow_additions``.  |                                  |
| 3 | Correlation lookups use ``align_corners=True`` (the torch   | ``corr.CorrelationPyramid``      |
|   | <= 1.2 default). Knob ``lookup_align_corners``.             |                                  |
| 4 | Frames bilinearly resized to H, W rounded *down* to         | ``FlowNet.encode_pair``,         |
|   | multiples of 8; the flow rescaled and resized back. Fixed.  | ``FlowNet._to_full_size``        |
| 5 | Feature pyramid and flow net see ``(x - 0.5) / 0.5``;       | ``interpolator.to_signed``       |
|   | splatting and GridNet use the raw [0, 1] frames. Fixed.     |                                  |
| 6 | Init flow brought to the 1/8 grid by legacy *nearest*       | ``flownet.downsample_init``      |
|   | resizing plus per-axis scaling. Fixed.                      |                                  |
| 7 | 12 refinement iterations (training and test). Knob          | ``flownet.FlowNet._iterate``     |
|   | ``iterations``.                                             |                                  |
| 8 | Context (GRU state and input) from the feature encoder      | ``flownet.FlowNet.refine``       |
|   | ``fnet``, not ``cnet`` (built, never used); it equals the   |                                  |
|   | first frame's correlation features. Fixed.                  |                                  |
| 9 | Feature levels get the time-scaled flow by legacy nearest   | ``interpolator.flow_to_level``   |
|   | resizing plus per-axis scaling (full res too). Fixed.       |                                  |

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
