"""Per-stage SGM nodes: types, previews, progress, cancellation, errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from comfyui_animeinterp.core.data.synthetic import make_clip
from comfyui_animeinterp.core.errors import InputError
from comfyui_animeinterp.nodes.sgm_nodes import AnimeInterpCoarseFlow, AnimeInterpMatch, AnimeInterpSegment


@pytest.fixture(scope="module")
def clip_images():
    frames = make_clip(3, 120, 216, seed=4, max_shift=10)
    return torch.from_numpy(np.stack(frames)).float() / 255.0


def _run_stages(images):
    seg, seg_prev = AnimeInterpSegment().run(images, "japan", "auto")
    matches, match_prev = AnimeInterpMatch().run(seg, "colour")
    flow, flow_prev = AnimeInterpCoarseFlow().run(matches)
    return seg, seg_prev, matches, match_prev, flow, flow_prev


def test_stage_chain_outputs(clip_images):
    seg, seg_prev, matches, match_prev, flow, flow_prev = _run_stages(clip_images)
    b, h, w, _ = clip_images.shape
    assert len(seg.labels) == b and seg_prev.shape == (b, h, w, 3)
    assert len(matches.matches) == b - 1 and match_prev.shape == (b - 1, h, 2 * w, 3)
    assert len(flow.pairs) == b - 1 and flow_prev.shape == (b - 1, h, 2 * w, 3)
    for prev in (seg_prev, match_prev, flow_prev):
        assert prev.dtype == torch.float32 and 0 <= prev.min() and prev.max() <= 1
    p = flow.pairs[0]
    assert p.flow_13.shape == (2, h, w) and p.flow_31.shape == (2, h, w)
    assert flow.valid[0][0].any()  # some matched piece moved


def test_progress_and_cancel(clip_images, fake_comfy):
    AnimeInterpSegment().run(clip_images, "japan", "auto")
    assert (3, 3) in fake_comfy.progress
    fake_comfy.cancel_now()
    with pytest.raises(Exception) as exc:
        AnimeInterpSegment().run(clip_images, "japan", "auto")
    assert type(exc.value).__name__ == "InterruptProcessingException"


def test_bad_inputs(clip_images):
    with pytest.raises(InputError, match="at least two frames"):
        seg, _ = AnimeInterpSegment().run(clip_images[:1], "japan", "auto")
        AnimeInterpMatch().run(seg, "colour")
    with pytest.raises(InputError):
        AnimeInterpMatch().run("not segments", "colour")
    assert AnimeInterpSegment.check_inputs("manga", "auto") is not True
    with pytest.raises(InputError, match="empty"):
        AnimeInterpSegment().run(clip_images[:0], "japan", "auto")


def test_coarse_flow_node_dis_settings(clip_images):
    seg, _ = AnimeInterpSegment().run(clip_images, "japan", "auto")
    matches, _ = AnimeInterpMatch().run(seg, "colour")
    original, _ = AnimeInterpCoarseFlow().run(matches)
    explicit, _ = AnimeInterpCoarseFlow().run(matches, "original")
    fast, _ = AnimeInterpCoarseFlow().run(matches, "fast")
    assert np.array_equal(original.pairs[0].flow_13, explicit.pairs[0].flow_13)
    assert not np.array_equal(original.pairs[0].flow_13, fast.pairs[0].flow_13)
    # the same pieces move; only the per-piece deformation differs, by little
    moving = original.valid[0][0] & fast.valid[0][0]
    assert moving.sum() > 0.9 * original.valid[0][0].sum()
    assert np.median(np.hypot(*(original.pairs[0].flow_13 - fast.pairs[0].flow_13))[moving]) < 1.0
    with pytest.raises(InputError, match="DIS settings"):
        AnimeInterpCoarseFlow().run(matches, "slowest")
