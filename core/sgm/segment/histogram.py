"""Colour histograms of regions, bin for bin equal to the original's ``np.histogram(values, 25)``.

``np.histogram(a, 25)`` on uint8 values spans the data's own ``[min, max]`` (``[v - 0.5, v + 0.5]``
when constant) with float64 edges ``np.linspace(min, max, 26)``; a value ``v`` falls in bin ``b``
when ``edge[b] <= v < edge[b + 1]`` (the last bin also takes ``max``). For integer values that
means ``bound[b] <= v < bound[b + 1]`` with ``bound[b] = ceil(edge[b])``. One table of these
integer bounds for every ``(min, max)`` pair, built once from numpy's own edges, gives the bins
either from a region's 256-bin value counts (cumulative sum, then differences) or pixel by pixel
(an integer estimate of the bin, corrected by one against the bounds).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

BINS = 25
"""Bins per channel (``calculate_color_hist`` in the original)."""


@lru_cache(maxsize=1)
def bin_bounds() -> np.ndarray:
    """``int16 (256, 256, BINS + 1)``: for data range ``(lo, hi)`` (``lo <= hi``), the integer
    values of bin ``b`` are ``bounds[lo, hi, b] <= v < bounds[lo, hi, b + 1]``. Entries with
    ``lo > hi`` are unused."""
    lo, hi = np.meshgrid(np.arange(256.0), np.arange(256.0), indexing="ij")
    lo, hi = lo.ravel(), hi.ravel()
    constant = lo == hi
    first = np.where(constant, lo - 0.5, np.where(lo > hi, 0.0, lo))
    last = np.where(constant, hi + 0.5, np.where(lo > hi, 1.0, hi))
    edges = np.linspace(first, last, BINS + 1, axis=-1)  # == numpy's scalar call (no zero step)
    bounds = np.ceil(edges)
    bounds[:, 0] = lo
    bounds[:, -1] = hi + 1  # the last bin is closed
    return np.ascontiguousarray(bounds, dtype=np.int16).reshape(256, 256, BINS + 1)


def value_bins(lo: np.ndarray, hi: np.ndarray, values: np.ndarray) -> np.ndarray:
    """numpy's bin (0..24) of each value given the range ``lo <= values <= hi`` of its region
    (all three arrays of one shape, integers)."""
    lo, hi, values = (np.asarray(a, np.int32) for a in (lo, hi, values))
    span = hi - lo
    guess = np.where(span > 0, (values - lo) * BINS // np.maximum(span, 1), BINS // 2)
    np.minimum(guess, BINS - 1, out=guess)
    bounds = bin_bounds().ravel()
    at = (lo * 256 + hi) * (BINS + 1) + guess
    guess -= values < bounds[at]
    at = (lo * 256 + hi) * (BINS + 1) + guess + 1
    guess += (guess < BINS - 1) & (values >= bounds[at])
    return guess


def histograms_from_counts(counts: np.ndarray) -> np.ndarray:
    """numpy's 25-bin histograms from 256-bin value counts.

    Args:
        counts: ``(R, C, 256)`` integer counts of the values 0..255 of each region and channel;
            every ``(r, c)`` row must be non-empty.

    Returns:
        ``int64 (R, C, BINS)``: ``np.histogram(values, BINS)[0]`` of each region and channel.
    """
    r, c, _ = counts.shape
    rows = counts.reshape(r * c, 256)
    present = rows > 0
    lo = np.argmax(present, axis=1)
    hi = 255 - np.argmax(present[:, ::-1], axis=1)
    bounds = bin_bounds()[lo, hi].astype(np.intp)  # (R*C, BINS + 1)
    cumulative = np.zeros((r * c, 257), np.int64)
    np.cumsum(rows, axis=1, out=cumulative[:, 1:])
    at = np.take_along_axis(cumulative, bounds, axis=1)
    return np.diff(at, axis=1).reshape(r, c, BINS)


def histograms_from_pixels(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """numpy's 25-bin histograms of consecutive runs of pixels.

    Args:
        values: ``uint8 (C, n)`` pixel values, the pixels of each region consecutive.
        starts: ``(R,)`` index of the first pixel of each region, ascending, ``starts[0] == 0``,
            every region non-empty.

    Returns:
        ``int64 (R, C, BINS)``.
    """
    c, n = values.shape
    r = starts.size
    region = np.repeat(np.arange(r), np.diff(np.r_[starts, n]))
    lo = np.minimum.reduceat(values, starts, axis=1)[:, region]
    hi = np.maximum.reduceat(values, starts, axis=1)[:, region]
    key = (region * c + np.arange(c)[:, None]) * BINS + value_bins(lo, hi, values)
    return np.bincount(key.ravel(), minlength=r * c * BINS).reshape(r, c, BINS)


def normalised(hist: np.ndarray, areas: np.ndarray) -> np.ndarray:
    """The original's L1 normalisation of the concatenated channel histograms: ``float64 (R, C *
    BINS)``; ``hist`` is ``(R, C, BINS)`` and every channel of region ``r`` sums to ``areas[r]``."""
    r = hist.shape[0]
    flat = hist.reshape(r, -1).astype(np.float64)
    return flat / (np.asarray(areas, np.float64) * hist.shape[1])[:, None]
