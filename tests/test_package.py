"""The repository root is a ComfyUI custom-node package and an installable library."""
from __future__ import annotations

import importlib
import subprocess
import sys

import numpy as np


def test_node_mappings_exported():
    pack = importlib.import_module("comfyui_animeinterp")
    assert isinstance(pack.NODE_CLASS_MAPPINGS, dict)
    assert isinstance(pack.NODE_DISPLAY_NAME_MAPPINGS, dict)
    assert set(pack.NODE_DISPLAY_NAME_MAPPINGS) == set(pack.NODE_CLASS_MAPPINGS)


def test_core_never_imports_comfyui():
    code = (
        "import sys, comfyui_animeinterp.core.data.synthetic, comfyui_animeinterp.core.io.images;"
        "bad=[m for m in sys.modules if m=='comfy' or m.startswith('comfy.') or m=='folder_paths'];"
        "print(bad); assert not bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_cli_entry_point_help():
    out = subprocess.run([sys.executable, "-m", "comfyui_animeinterp.core.cli", "--help"],
                         capture_output=True, text=True, check=True)
    assert "demo" in out.stdout


def test_synthetic_triplet_is_deterministic(synthetic_triplet):
    from comfyui_animeinterp.core.data.synthetic import make_triplet

    again = make_triplet(240, 432, seed=0)
    assert np.array_equal(again.frame1, synthetic_triplet.frame1)
    assert np.array_equal(again.flow_13, synthetic_triplet.flow_13)
    other = make_triplet(240, 432, seed=1)
    assert not np.array_equal(other.frame1, synthetic_triplet.frame1)


def test_synthetic_flow_moves_shapes_onto_their_next_position(synthetic_triplet):
    """Warping frame1's owner map by the exact flow lands on the same owner in frame3."""
    t = synthetic_triplet
    h, w = t.owner1.shape
    ys, xs = np.nonzero(t.owner1 > 1)  # moving shapes (1 = static ground)
    x3 = np.round(xs + t.flow_13[0, ys, xs]).astype(int)
    y3 = np.round(ys + t.flow_13[1, ys, xs]).astype(int)
    ok = (x3 >= 0) & (x3 < w) & (y3 >= 0) & (y3 < h)
    agree = t.owner3[y3[ok], x3[ok]] == t.owner1[ys[ok], xs[ok]]
    assert agree.mean() > 0.9  # the rest is occluded at t=1 or on rasterised outlines
