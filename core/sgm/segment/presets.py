"""Line-extraction parameter sets of the original SGM script (ARCHITECTURE.md §5.2)."""
from __future__ import annotations

from dataclasses import dataclass

from ...errors import InputError


@dataclass(frozen=True)
class LinePreset:
    """Parameters of the line extraction (``dline_of`` in the original ``gen_sgm.py``).

    Attributes:
        name: preset name.
        bilateral: ``(d, sigma_color, sigma_space)`` of ``cv2.bilateralFilter``.
        low: hysteresis low threshold on the Laplacian normalised to a maximum of 255.
        high: hysteresis high threshold on the same scale.
    """

    name: str
    bilateral: tuple[int, int, int]
    low: float
    high: float


PRESETS: dict[str, LinePreset] = {
    # the original used this set for ATD-12K folders whose name contains "Japan"
    "japan": LinePreset("japan", bilateral=(10, 10, 10), low=2, high=20),
    # ... and this one for every other folder ("Disney")
    "disney": LinePreset("disney", bilateral=(30, 40, 30), low=1, high=20),
}

LINE_SCALE = 20
"""The masked Laplacian is multiplied by this before ``255 - x`` gives the boundary image."""

REGION_THRESHOLD = 220
"""Boundary-image values above this are regions (255), the rest are lines (0)."""


def resolve_preset(preset: str | LinePreset) -> LinePreset:
    """A :class:`LinePreset` from its name (``"japan"``, ``"disney"``, any case) or itself."""
    if isinstance(preset, LinePreset):
        return preset
    if isinstance(preset, str) and preset.lower() in PRESETS:
        return PRESETS[preset.lower()]
    raise InputError(f"unknown line preset {preset!r}; choose one of {sorted(PRESETS)}")
