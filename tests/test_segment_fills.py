"""Trapped-ball and flood fills: equal to the one-fill-at-a-time original on random line images."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import scipy.ndimage as ndi
from comfyui_animeinterp.core.sgm.segment import build_fill_map, trapped_ball_fills
from comfyui_animeinterp.core.sgm.segment import trapped_ball as TB
from comfyui_animeinterp.core.sgm.segment.fill_map import FILL_RADII, MAX_FLOOD_FILLS, flood_fills
from comfyui_animeinterp.core.sgm.segment.trapped_ball import MAX_TRAPPED_BALL_FILLS, ball

from tests.support.segment_cases import random_binary
from tests.support.segment_reference import fill_map_reference, trapped_ball_reference


def test_published_fill_parameters_are_pinned():
    assert FILL_RADII == ((3, True), (2, False), (1, False))
    assert (MAX_TRAPPED_BALL_FILLS, MAX_FLOOD_FILLS) == (1000, 20000)
    assert ball(1).tolist() == [[0, 1, 0], [1, 1, 1], [0, 1, 0]]
    assert ball(3).sum() == 33 and ball(2).sum() == 17


def test_opencv_numbers_4_connected_components_in_raster_order():
    # the fast fills rely on it: component k+1 starts after component k in raster order
    rng = np.random.default_rng(0)
    for i in range(40):
        h, w = rng.integers(5, 300, 2)
        mask = (rng.random((h, w)) < rng.uniform(0.3, 0.7)).astype(np.uint8)
        _, labels = cv2.connectedComponents(mask, connectivity=4, ltype=cv2.CV_32S)
        assert np.array_equal(labels, ndi.label(mask)[0])


def _as_masks(fills: np.ndarray, k: int) -> list[np.ndarray]:
    return [fills == i for i in range(1, k + 1)]


@pytest.mark.parametrize("atlas_below", [0.0, 1.0])  # never / always pack the last pixels
@pytest.mark.parametrize("radius", [1, 2, 3])
def test_trapped_ball_equals_the_sequential_original(radius, atlas_below, monkeypatch):
    monkeypatch.setattr(TB, "ATLAS_BELOW", atlas_below)
    rng = np.random.default_rng(radius)
    trimmed = 0
    for _ in range(60):
        h, w = rng.integers(8, 70, 2)
        binary = random_binary(rng, h, w)
        expected = trapped_ball_reference(binary > 0, radius)
        fills, k = trapped_ball_fills(binary, radius)
        assert fills.dtype == np.int32
        assert k == len(expected)
        assert all(np.array_equal(a, b) for a, b in zip(_as_masks(fills, k), expected))
        eroded = cv2.erode((binary > 0).astype(np.uint8), ball(radius))
        trimmed += cv2.connectedComponents(eroded, connectivity=4)[0] - 1 != k
    assert trimmed > 5  # the cases where earlier fills cut later ones were exercised


def test_largest_only_and_the_fill_cap():
    rng = np.random.default_rng(7)
    for _ in range(20):
        binary = random_binary(rng, 48, 64)
        for radius in (1, 2):
            expected = trapped_ball_reference(binary > 0, radius, max_fills=3)
            fills, k = trapped_ball_fills(binary, radius, max_fills=3)
            assert all(np.array_equal(a, b) for a, b in zip(_as_masks(fills, k), expected))
            sizes = [int(f.sum()) for f in expected]
            fills, k = trapped_ball_fills(binary, radius, keep_largest=True, max_fills=3)
            kept = [f for f, s in zip(expected, sizes) if s == max(sizes)]
            assert all(np.array_equal(a, b) for a, b in zip(_as_masks(fills, k), kept))
    nothing = np.zeros((10, 10), np.uint8)  # no fill at all: the original crashed on 'max'
    assert trapped_ball_fills(nothing, 3, keep_largest=True)[1] == 0


def test_flood_fill_cap_leaves_lines():
    checker = (np.indices((20, 20)).sum(axis=0) % 2 * 255).astype(np.uint8)  # 200 single pixels
    labels, k = flood_fills(checker, max_fills=50)
    assert k == 50 and labels.max() == 50
    assert np.count_nonzero(labels) == 50 and labels[0, 1] == 1


def test_fill_map_equals_the_reference():
    rng = np.random.default_rng(11)
    for _ in range(40):
        h, w = rng.integers(8, 60, 2)
        binary = random_binary(rng, h, w)
        assert np.array_equal(build_fill_map(binary), fill_map_reference(binary))


def test_atlas_packs_every_pixel_once_with_its_surroundings():
    from comfyui_animeinterp.core.sgm.segment.atlas import pack

    rng = np.random.default_rng(12)
    for _ in range(20):
        h, w = rng.integers(10, 120, 2)
        mask = (rng.random((h, w)) < rng.uniform(0.001, 0.05)).astype(np.uint8)
        if not mask.any():
            continue
        atlas, packed = pack(mask, tile=8, gap=5)
        assert packed.sum() == mask.sum()
        back = np.zeros_like(mask)
        atlas.copy_back(packed, back)
        assert np.array_equal(back, mask)
        assert not atlas.outside[packed > 0].any()
        for (y0, y1, x0, x1), (ay, ax) in zip(atlas.source, atlas.place):
            ys, xs = np.nonzero(packed[ay: ay + y1 - y0, ax: ax + x1 - x0])
            # every packed pixel keeps at least one tile of real surroundings (or the image edge)
            top = (ys >= 8) | (y0 == 0)
            left = (xs >= 8) | (x0 == 0)
            bottom = (ys < y1 - y0 - 8) | (y1 == h)
            right = (xs < x1 - x0 - 8) | (x1 == w)
            assert (top & left & bottom & right).all()


def test_order_image_keeps_the_label_order_in_both_dtypes():
    labels = np.array([[0, 3, 1], [2, 0, 70_000]], np.int32)
    for n in (5, 70_001):
        small = labels % n if n == 5 else labels
        order, top = TB._order_image(small, n)
        assert order.dtype == (np.uint16 if n == 5 else np.float32)
        assert (order[small == 0] == top).all()
        inside = small > 0
        assert np.array_equal(np.argsort(order[inside], kind="stable"),
                              np.argsort(small[inside], kind="stable"))
        assert (order[inside] < top).all()
