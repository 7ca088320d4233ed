"""LPIPS against the official PerceptualSimilarity example, when its images and the real weights
are on this machine (nothing is downloaded: the test is skipped otherwise).

Set ``ANIMEINTERP_LPIPS_EXAMPLES`` to a folder holding ``ex_ref.png``, ``ex_p0.png`` and
``ex_p1.png`` (the repository's ``imgs/``); the ``alexnet`` and ``lpips-alex`` weights must be in
the cache (e.g. after ``animeinterp weights download alexnet lpips-alex``).
``bench/check_lpips.py`` runs the same check and records the values.
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import pytest
import torch
from comfyui_animeinterp.core.metrics.lpips import resolve_lpips

OFFICIAL = {"ex_p0.png": 0.7219, "ex_p1.png": 0.1376, "ex_ref.png": 0.0}


def _image(path: Path) -> torch.Tensor:
    return torch.from_numpy(cv2.imread(str(path))[:, :, ::-1].copy()).permute(2, 0, 1)[None].float() / 255


def test_lpips_agrees_with_the_official_example_within_1e_3():
    folder = Path(os.environ.get("ANIMEINTERP_LPIPS_EXAMPLES", "/nonexistent"))
    if not all((folder / name).is_file() for name in OFFICIAL):
        pytest.skip("PerceptualSimilarity's example images not given (ANIMEINTERP_LPIPS_EXAMPLES)")
    model, note = resolve_lpips(offline=True)
    if model is None:
        pytest.skip(f"real LPIPS weights not cached: {note.splitlines()[0]}")
    ref = _image(folder / "ex_ref.png")
    with torch.no_grad():
        for name, expected in OFFICIAL.items():
            assert float(model(ref, _image(folder / name))[0]) == pytest.approx(expected, abs=1e-3), name
