"""Thinning and relabelling: equal to the original's loops, quirks included."""
from __future__ import annotations

import numpy as np
from comfyui_animeinterp.core.sgm.segment import relabel_by_size, thin_lines
from comfyui_animeinterp.core.sgm.segment.thinning import FIRST_USABLE, MAX_THINNING_PASSES, SOURCE_ORDER

from tests.support.segment_cases import random_label_map
from tests.support.segment_reference import relabel_reference, thinning_reference


def test_published_thinning_order_and_quirk_are_pinned():
    # left, up-left, up, up-right, right, down-right, down, down-left
    assert SOURCE_ORDER == ((0, -1), (-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1))
    assert FIRST_USABLE == 1 and MAX_THINNING_PASSES == 100


def test_left_column_and_top_row_are_never_sources():
    labels = np.zeros((4, 5), np.int32)
    labels[:, 0] = 7  # column 0 is the only region
    out = thin_lines(labels)
    assert (out[:, 1:] == 0).all() and (out[:, 0] == 7).all()
    labels = np.zeros((4, 5), np.int32)
    labels[0, :] = 3  # row 0 only
    assert (thin_lines(labels)[1:] == 0).all()
    labels[0, 0], labels[0, 1] = 0, 0  # but row 0 feeds row 0 from the right
    assert thin_lines(labels)[0, 1] == 3 and thin_lines(labels)[0, 0] == 3


def test_thinning_equals_the_reference():
    rng = np.random.default_rng(5)
    for _ in range(40):
        h, w = rng.integers(3, 50, 2)
        labels = random_label_map(rng, h, w)
        labels[rng.random((h, w)) < rng.uniform(0, 0.6)] = 0  # thick and scattered lines
        out = thin_lines(labels)
        assert out.dtype == np.int32
        assert np.array_equal(out, thinning_reference(labels))
    assert (thin_lines(np.zeros((9, 9), np.int32)) == 0).all()


def test_relabel_equals_the_reference_ties_included():
    rng = np.random.default_rng(6)
    for _ in range(30):
        h, w = rng.integers(8, 40, 2)
        labels = rng.integers(0, rng.integers(2, 80), (h, w)) * rng.integers(1, 4)
        out = relabel_by_size(labels)
        assert out.dtype == np.int32
        assert np.array_equal(out, relabel_reference(labels))
        counts = np.bincount(out.ravel())
        assert (counts > 0).all() and (np.diff(counts) >= 0).all()
        assert np.array_equal(relabel_by_size(labels * 10**9), out)  # sparse ids, same result
