"""Small-region merge: numpy-exact histograms and the original's pass-by-pass behaviour."""
from __future__ import annotations

import numpy as np
import pytest
from comfyui_animeinterp.core.sgm.segment import merge as M
from comfyui_animeinterp.core.sgm.segment import merge_small_regions
from comfyui_animeinterp.core.sgm.segment.histogram import (
    bin_bounds,
    histograms_from_counts,
    histograms_from_pixels,
    normalised,
    value_bins,
)

from tests.support.segment_cases import large_and_small_regions, random_image_for, random_label_map
from tests.support.segment_reference import colour_histogram, merge_pass_reference, merge_reference


def test_published_merge_parameters_are_pinned():
    assert (M.MAX_MERGE_PASSES, M.SMALL_REGION, M.LINE_IF_ALONE_BELOW) == (10, 500, 5)
    assert (M.ONE_NEIGHBOUR_AREA, M.ONE_NEIGHBOUR_CONTACT, M.ALWAYS_MERGE_BELOW) == (300, 2, 50)
    assert M.SIMILAR_RULES == ((0.2, 150, 1), (0.25, 250, 8))
    assert M.APPROX_EPSILON == 0.02


def test_bin_bounds_equal_numpy_for_every_value_range():
    bounds = bin_bounds()
    for lo in range(256):
        for hi in range(lo, 256):
            values = np.arange(lo, hi + 1, dtype=np.uint8)  # each value once: counts = bin widths
            assert np.array_equal(np.diff(bounds[lo, hi]), np.histogram(values, 25)[0]), (lo, hi)


def test_value_bins_agree_with_the_bounds_everywhere():
    bounds = bin_bounds()
    lo, hi = np.nonzero(np.triu(np.ones((256, 256), bool)))  # every range lo <= hi
    size = hi - lo + 1
    lo, hi = np.repeat(lo, size), np.repeat(hi, size)
    values = lo + np.arange(size.sum()) - np.repeat(np.cumsum(size) - size, size)
    expected = (values[:, None] >= bounds[lo, hi, 1:-1]).sum(axis=1)
    assert np.array_equal(value_bins(lo, hi, values), expected)


def test_region_histograms_equal_numpy():
    rng = np.random.default_rng(0)
    regions = []
    for _ in range(300):
        n = int(rng.integers(1, 60))
        lo = int(rng.integers(0, 256))
        hi = int(rng.integers(lo, min(lo + rng.choice([1, 3, 26, 60, 256]), 256)))
        regions.append(rng.integers(lo, hi + 1, size=(n, 3)).astype(np.uint8))
    counts = np.stack([[np.bincount(r[:, c], minlength=256) for c in range(3)] for r in regions])
    areas = [len(r) for r in regions]
    from_counts = normalised(histograms_from_counts(counts), areas)
    starts = np.r_[0, np.cumsum(areas)[:-1]]
    from_pixels = normalised(histograms_from_pixels(np.concatenate(regions).T.copy(), starts), areas)
    for r, a, b in zip(regions, from_counts, from_pixels):
        expected = colour_histogram(r[:, None, :], np.ones((len(r), 1), bool))
        assert np.array_equal(a, expected) and np.array_equal(b, expected)


def test_vectorised_intersection_sums_like_the_original():
    rng = np.random.default_rng(1)
    a = rng.dirichlet(np.full(75, 0.3), size=2000)
    b = rng.dirichlet(np.full(75, 0.3), size=2000)
    fast = np.minimum(a, b).sum(axis=1)
    slow = [np.sum(np.min([x[np.newaxis, :], y[np.newaxis, :]], axis=0)) for x, y in zip(a, b)]
    assert np.array_equal(fast, slow)


def test_one_pass_equals_the_reference():
    rng = np.random.default_rng(2)
    for _ in range(30):
        h, w = rng.integers(10, 50, 2)
        labels = random_label_map(rng, h, w)
        image = random_image_for(rng, labels)
        assert np.array_equal(merge_small_regions(labels, image, max_passes=1),
                              merge_pass_reference(labels, image))


def test_merge_equals_the_reference(monkeypatch):
    calls = []
    approx = M._approx_is_point
    monkeypatch.setattr(M, "_approx_is_point", lambda *a: calls.append(approx(*a)) or calls[-1])
    rng = np.random.default_rng(3)
    for _ in range(40):
        h, w = rng.integers(10, 60, 2)
        labels = random_label_map(rng, h, w)
        image = random_image_for(rng, labels)
        merged = merge_small_regions(labels, image)
        assert merged.dtype == np.int32
        assert np.array_equal(merged, merge_reference(labels, image))
    # ids left in pieces by a pass were met, some of them with a one-pixel first contour
    assert sum(calls) > 0 and len(calls) > sum(calls)


def test_merge_into_large_regions_equals_the_reference():
    rng = np.random.default_rng(8)
    for _ in range(6):
        labels = large_and_small_regions(rng, 60, 80)
        assert (np.bincount(labels.ravel())[1:] >= 500).any()
        image = random_image_for(rng, labels)
        assert np.array_equal(merge_small_regions(labels, image), merge_reference(labels, image))


@pytest.mark.parametrize("shape", [(8, 8), (12, 9)])
def test_tiny_frames_and_a_single_region(shape):
    rng = np.random.default_rng(4)
    image = rng.integers(0, 256, shape + (3,), np.uint8)
    one = np.ones(shape, np.int32)  # the original crashed here (no border pixel at all)
    assert np.array_equal(merge_small_regions(one, image), one)
    labels = random_label_map(rng, *shape)
    assert np.array_equal(merge_small_regions(labels, image), merge_reference(labels, image))


def test_sparse_ids_and_negative_ids():
    from comfyui_animeinterp.core.errors import InputError

    rng = np.random.default_rng(9)
    labels = random_label_map(rng, 30, 40)
    image = random_image_for(rng, labels)
    sparse = np.where(labels > 0, labels.astype(np.int64) * 1_000_003 + 7, 0)
    expected = merge_small_regions(labels, image)
    assert np.array_equal(merge_small_regions(sparse, image),
                          np.where(expected > 0, expected.astype(np.int64) * 1_000_003 + 7, 0))
    with pytest.raises(InputError):
        merge_small_regions(labels - 1, image)
    with pytest.raises(InputError):
        merge_small_regions(labels, image[:-1])


def test_channel_order_matters_so_the_frame_must_be_bgr():
    # equal histogram intersections (ties between neighbours) are broken by float rounding, and
    # the rounding of the 75-bin sum depends on the order of the channel blocks
    rng = np.random.default_rng(174)
    h, w = rng.integers(10, 40, 2)
    labels = random_label_map(rng, h, w)
    image = random_image_for(rng, labels)
    swapped = np.ascontiguousarray(image[:, :, ::-1])
    assert np.array_equal(merge_small_regions(labels, image), merge_reference(labels, image))
    assert not np.array_equal(merge_small_regions(labels, image), merge_small_regions(labels, swapped))
