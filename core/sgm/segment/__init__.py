"""Segmentation of a frame into flat-colour regions, the first stage of SGM.

A fast re-implementation of the original AFI / AnimeInterp ``gen_sgm.py`` segmentation that
reproduces its label maps bit for bit (ARCHITECTURE.md §5.2-5.3):

* :mod:`.lines` — bilateral filter, Laplacian, 3-D hysteresis (:mod:`.hysteresis`) -> binary lines;
* :mod:`.trapped_ball`, :mod:`.fill_map` — trapped-ball fills of radius 3, 2, 1, then flood fills;
* :mod:`.merge` — colour-histogram merging of small regions (:mod:`.histogram`);
* :mod:`.thinning` — line pixels go to the neighbouring regions;
* :mod:`.relabel` — labels ordered by size.
"""
from .fill_map import build_fill_map
from .lines import extract_lines
from .merge import merge_small_regions
from .presets import PRESETS, LinePreset, resolve_preset
from .relabel import relabel_by_size
from .segment import segment_frame
from .thinning import thin_lines
from .trapped_ball import trapped_ball_fills

__all__ = [
    "PRESETS",
    "LinePreset",
    "build_fill_map",
    "extract_lines",
    "merge_small_regions",
    "relabel_by_size",
    "resolve_preset",
    "segment_frame",
    "thin_lines",
    "trapped_ball_fills",
]
