"""Per-frame SGM work is done once per frame on a clip, and the results do not change."""
from __future__ import annotations

import numpy as np
import pytest
from comfyui_animeinterp.core.clip.frame_memo import FrameMemo
from comfyui_animeinterp.core.data.synthetic import make_clip
from comfyui_animeinterp.core.pipeline import Interpolator
from comfyui_animeinterp.core.sgm import describe as describe_module
from comfyui_animeinterp.core.sgm import match as match_module
from comfyui_animeinterp.core.sgm.clip import match_clip, segment_clip
from comfyui_animeinterp.core.sgm.run import SGMOptions, run_sgm


def test_memo_keys_on_content_and_context_and_forgets_the_oldest():
    memo, calls = FrameMemo(capacity=2), []

    def compute(tag):
        return lambda: calls.append(tag) or tag

    a = np.zeros((4, 5, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0] = 1
    assert memo.get(a, "ctx", compute("a")) == "a"
    assert memo.get(a.copy(), "ctx", compute("again")) == "a"  # equal pixels, other object: a hit
    assert memo.get(a, "other ctx", compute("a2")) == "a2"  # same pixels, other context: a miss
    assert memo.get(b, "ctx", compute("b")) == "b"  # evicts (a, ctx), the least recently used
    assert memo.get(a, "ctx", compute("a3")) == "a3"
    assert calls == ["a", "a2", "b", "a3"] and len(memo) == 2
    assert (memo.hits, memo.misses) == (1, 4)
    with pytest.raises(ValueError):
        FrameMemo(capacity=0)


def test_a_clip_walked_pair_by_pair_describes_each_frame_once():
    frames = make_clip(3, 96, 160, seed=3)
    interp = Interpolator(sgm=SGMOptions(features="colour"))
    for k in range(2):
        interp.prepare(frames[k], frames[k + 1])
    assert (interp.sgm_memo.misses, interp.sgm_memo.hits) == (3, 1)

    options = SGMOptions(features="colour")
    with_memo = run_sgm(frames[1], frames[2], options, memo=interp.sgm_memo)
    fresh = run_sgm(frames[1], frames[2], options)
    assert np.array_equal(with_memo.labels1, fresh.labels1)
    assert np.array_equal(with_memo.flow.flow_13, fresh.flow.flow_13)
    assert np.array_equal(with_memo.flow.flow_31, fresh.flow.flow_31)


def test_match_clip_describes_each_frame_once_with_the_same_matches(monkeypatch):
    frames = make_clip(4, 96, 160, seed=4)
    segments = segment_clip(frames, SGMOptions(features="colour"))
    described = []
    real = describe_module.colour_shape_features

    def counting(frame, labels, n):
        described.append(n)
        return real(frame, labels, n)

    monkeypatch.setattr(describe_module, "colour_shape_features", counting)
    clip = match_clip(segments, features="colour")
    assert len(described) == 4  # not 2 per pair
    for k, m in enumerate(clip.matches):
        pair = match_module.match_segments(segments.frames[k], segments.frames[k + 1], segments.labels[k],
                                           segments.labels[k + 1], features="colour")
        assert np.array_equal(m.affinity.numpy(), pair.affinity.numpy())
        assert np.array_equal(m.match_13.numpy(), pair.match_13.numpy())
