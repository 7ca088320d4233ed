"""ComfyUI-AnimeInterp core library: anime frame interpolation without any ComfyUI dependency.

The folder tree is the pipeline::

    io/          frames in and out (validation, conversion, video)
    sgm/         segment -> describe -> match -> coarse flow (segment-guided matching)
    model/       the learned network: RFR+GMA flow refinement, splatting, GridNet synthesis
    weightfree/  the path without a network: DIS refinement and an occlusion-aware blend
    splat/       forward splatting shared by both paths
    features/    ImageNet backbones (VGG-19, AlexNet)
    clip/        held drawings, cuts, retiming, rendering a clip pair by pair
    pipeline.py  Interpolator / build_interpolator: the one-call Python API
    cli/         the ``animeinterp`` command, one module per sub-command

Around it: ``weights`` (manifest, download, verify, convert), ``train`` (style fine-tuning),
``evaluate`` and ``metrics``, ``data`` (triplet sets, synthetic cartoons).
"""
from .errors import AnimeInterpError, DataError, InputError, WeightsError

__all__ = ["AnimeInterpError", "DataError", "InputError", "WeightsError"]
