"""How the flow net holds its two quadratic tensors: the correlation volume and the GMA map.

Both live on the 1/8 grid and grow with the square of the pixel count (960x540: 341 MB + 259 MB;
1920x1080: 5.6 GB + 4.2 GB; 3840x2160: 90 GB + 67 GB). Each has a memory-efficient form that gives
the same numbers with memory linear in the pixels (``corr.OnDemandCorrelation``,
``attention.EfficientAttention``). :class:`MemoryOptions` chooses per flow-net call:

* ``correlation``: ``"all-pairs"`` (volume once per pair), ``"on-demand"`` (lookups computed per
  iteration, tile by tile), or ``"auto"``;
* ``attention``: ``"full"`` (map once per pair), ``"efficient"`` (recomputed blockwise per
  iteration, about twice the attention arithmetic), or ``"auto"``;
* ``budget``: bytes the quadratic tensors may take in auto mode: a number, or a callable
  ``device -> bytes`` (inside ComfyUI: ``comfy.model_management.get_free_memory``); None = the
  default (:func:`default_budget`). It also sizes the synthesis bands
  (:meth:`MemoryOptions.synthesis_band_pixels`).

Auto keeps the attention map when it fits the budget (recomputing it is the costlier of the two),
then the correlation volume when it fits what is left.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from ..errors import InputError
from .corr import all_pairs_bytes

CORRELATION_MODES = ("auto", "all-pairs", "on-demand")
ATTENTION_MODES = ("auto", "full", "efficient")

CPU_BUDGET = 2**30
"""Default budget on CPU: 960x540 keeps both (600 MB, peak RSS 1.1 GB; the
all-pairs volume is faster there); 1920x1080 and larger use both linear-memory forms. A fixed
figure (not the free RAM) keeps CPU runs reproducible and their peak close to linear in the pixels."""

SYNTHESIS_BYTES_PER_PIXEL = 640
"""Working memory of synthesis per pixel a band computes, with some room (fp32: warped inputs made
one level at a time and GridNet's activations). GridNet's blocks run in row strips and each of its
grid rows keeps one tensor (:mod:`.gridnet_block`): one 1920x1080 band took 435 B per pixel on an
Intel Xeon (Sapphire Rapids; an RSS trace, throwaway), where whole-picture blocks took 740-900 B
and this constant was 1024. With the CPU default budget, 960x540 is one band and 1920x1080 two
(1.10 times the picture's rows computed, against 1.19 with three)."""

MIN_BAND_PIXELS = 2**18
"""Smallest default band (a tiny budget would otherwise repeat the margins many times over)."""

DEFAULT_BAND_SHARE = 1 / 6
"""With the default budget, a band may hold this share of the picture: memory stays linear in the
picture, and large pictures repeat fewer margin rows. When bands took 1024 B per pixel, the budget's
1 MP bands computed 1.6 times the rows of 3840x2160 (13 bands of 272 rows) and bands of its sixth
1.4 times (9 bands of 344 rows): a 4K synthesis took 99 s instead of 121 s with 1.5 MP bands (a
throwaway timing, Intel Xeon). The budget's bands are now 1.6 MP (7 bands at 3840x2160, 1.29 times
its rows), so the share applies to pictures above 10 MP."""

CUDA_FREE_SHARE = 0.5
"""Default budget on CUDA: this share of the free device memory (the rest is for activations)."""

Budget = int | float | str | Callable[[torch.device], float] | None


def parse_budget(value: Budget) -> int | Callable[[torch.device], float] | None:
    """A budget as bytes: an int/float of bytes, a string with a unit (``"2GB"``, ``"512MB"``,
    ``"1.5GiB"``), a callable ``device -> bytes``, or None (the default)."""
    if value is None or callable(value):
        return value
    if isinstance(value, str):
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kKmMgGtT]i?[bB]|[bB])?\s*", value)
        if not match:
            raise InputError(f"memory budget: expected a size such as '2GB' or '512MB', got {value!r}")
        unit = (match.group(2) or "B").upper().replace("I", "")
        value = float(match.group(1)) * {"B": 1, "KB": 2**10, "MB": 2**20, "GB": 2**30, "TB": 2**40}[unit]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise InputError(f"memory budget must be a positive number of bytes, got {value!r}")
    return int(value)


def default_budget(device: torch.device) -> int:
    """:data:`CPU_BUDGET` on CPU; :data:`CUDA_FREE_SHARE` of the free memory on CUDA."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free * CUDA_FREE_SHARE)
    return CPU_BUDGET


@dataclass(frozen=True)
class MemoryPlan:
    """What one flow-net call uses: ``on_demand`` correlation and ``efficient`` attention or not."""

    on_demand: bool
    efficient: bool


@dataclass(frozen=True)
class MemoryOptions:
    """Correlation / attention modes and the auto budget (see the module docstring)."""

    correlation: str = "auto"
    attention: str = "auto"
    budget: int | Callable[[torch.device], float] | None = None

    def __post_init__(self) -> None:
        if self.correlation not in CORRELATION_MODES:
            raise InputError(f"correlation must be one of {CORRELATION_MODES}, got {self.correlation!r}")
        if self.attention not in ATTENTION_MODES:
            raise InputError(f"attention must be one of {ATTENTION_MODES}, got {self.attention!r}")
        object.__setattr__(self, "budget", parse_budget(self.budget))

    def updated(self, correlation: str | None = None, attention: str | None = None,
                memory_budget: Budget = None) -> MemoryOptions:
        """A copy with the given fields changed (None keeps a field)."""
        changes = {k: v for k, v in (("correlation", correlation), ("attention", attention),
                                     ("budget", memory_budget)) if v is not None}
        return replace(self, **changes)

    def budget_bytes(self, device: torch.device) -> int:
        """The budget on ``device`` in bytes."""
        if self.budget is None:
            return default_budget(device)
        if callable(self.budget):
            return int(self.budget(device))
        return int(self.budget)

    def synthesis_band_pixels(self, device: torch.device, picture_pixels: int = 0) -> int:
        """Most pixels one synthesis band may compute: the budget's worth at
        :data:`SYNTHESIS_BYTES_PER_PIXEL` (CPU default: 1.6 MP, so 960x540 is one band,
        1920x1080 two and 3840x2160 seven). With the default budget, a picture of
        ``picture_pixels`` may also take bands of a :data:`DEFAULT_BAND_SHARE` of itself (above
        10 MP); a budget set by the caller is kept to."""
        pixels = max(MIN_BAND_PIXELS, self.budget_bytes(device) // SYNTHESIS_BYTES_PER_PIXEL)
        if self.budget is None:
            pixels = max(pixels, int(picture_pixels * DEFAULT_BAND_SHARE))
        return pixels

    def plan(self, n: int, h: int, w: int, device: torch.device, attention: bool = True,
             lookup_align_corners: bool = True) -> MemoryPlan:
        """The plan for an ``(n, C, h, w)`` feature pair on ``device``.

        Args:
            attention: whether the network has the GMA branch.
            lookup_align_corners: the correlation lookup mode; on-demand lookups reproduce
                ``align_corners=True`` only (the checkpoints' mode).
        """
        if self.correlation == "on-demand" and not lookup_align_corners:
            raise InputError("on-demand correlation reproduces align_corners=True lookups only; "
                             "use correlation='all-pairs' with lookup_align_corners=False")
        auto = "auto" in (self.correlation, self.attention)
        budget = self.budget_bytes(device) if auto else 0
        map_bytes = n * (h * w) ** 2 * 4 if attention else 0
        efficient = self.attention == "efficient" or (self.attention == "auto" and map_bytes > budget)
        left = budget - (0 if efficient else map_bytes)
        if self.correlation == "auto":
            on_demand = lookup_align_corners and all_pairs_bytes(n, h, w) > left
        else:
            on_demand = self.correlation == "on-demand"
        return MemoryPlan(on_demand=on_demand, efficient=efficient and attention)
