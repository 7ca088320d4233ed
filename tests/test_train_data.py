"""Style set, augmentation, flow cache and sample order of the fine-tuning data path."""

from __future__ import annotations

import itertools
import json
import logging

import numpy as np
import pytest
import torch
from comfyui_animeinterp.core.data.synthetic import make_clip, make_triplet
from comfyui_animeinterp.core.errors import DataError, InputError
from comfyui_animeinterp.core.io.video import write_frames, write_image
from comfyui_animeinterp.core.sgm.run import SGMOptions
from comfyui_animeinterp.core.train.augment import (
    AugmentOptions,
    AugmentParams,
    Sample,
    augment,
    training_size,
)
from comfyui_animeinterp.core.train.flow_cache import FLOW_QUANTUM, FlowCache, load_flows, save_flows
from comfyui_animeinterp.core.train.samples import FlowSource, TrainingSamples
from comfyui_animeinterp.core.train.sampling import MicroBatches, SampleStream, local_slice
from comfyui_animeinterp.core.train.style_set import open_style_set, write_frame_triplets

H, W = 48, 64


def _triplet_folder(root, name, frames, t=None):
    for i, f in enumerate(frames, start=1):
        write_image(root / name / f"frame{i}.png", f)
    if t is not None:
        (root / name / "triplet.json").write_text(json.dumps({"t": t}))


def _distinct(seed):
    tri = make_triplet(H, W, seed=seed)
    return [tri.frame1, tri.frame2, tri.frame3]


# ---------------------------------------------------------------------------------------------- style set
def test_triplet_folders_skip_bad_items_with_warnings(tmp_path, caplog):
    root = tmp_path / "style"
    _triplet_folder(root, "a_good", _distinct(1))
    _triplet_folder(root, "b_timed", _distinct(2), t=0.4)
    f = _distinct(3)
    _triplet_folder(root, "c_held", [f[0], f[0], f[2]])
    _triplet_folder(root, "d_sizes", [f[0], f[1], f[2][:, :32]])
    _triplet_folder(root, "e_corrupt", f)
    (root / "e_corrupt" / "frame2.png").write_bytes(b"not a png")
    _triplet_folder(root, "f_missing", f)
    (root / "f_missing" / "frame3.png").unlink()
    with caplog.at_level(logging.WARNING):
        style = open_style_set(root, tmp_path / "run").scan()
    assert [t.name for t in style.triplets] == ["a_good", "b_timed"]
    assert [t.t for t in style.triplets] == [0.5, 0.4]
    reasons = {s.name: s.reason for s in style.skipped}
    assert set(reasons) == {"c_held", "d_sizes", "e_corrupt", "f_missing"}
    assert "held drawing" in reasons["c_held"] and "differ in size" in reasons["d_sizes"]
    assert "not a readable image" in reasons["e_corrupt"] and "frame3" in reasons["f_missing"]
    assert all(name in caplog.text for name in ("c_held", "d_sizes", "e_corrupt"))
    assert style.sizes["a_good"] == (W, H)


def test_unusable_sets_are_clear_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no triplet folders"):
        open_style_set(empty, tmp_path / "run")
    with pytest.raises(DataError, match="no such file"):
        open_style_set(tmp_path / "missing", tmp_path / "run")
    bad = tmp_path / "bad"
    f = _distinct(4)
    _triplet_folder(bad, "held", [f[0], f[0], f[0]])
    _triplet_folder(bad, "corrupt", f)
    (bad / "corrupt" / "frame1.png").write_bytes(b"")
    with pytest.raises(DataError, match=r"no usable triplets.*corrupt.*not a readable image.*held drawing"):
        open_style_set(bad, tmp_path / "run").scan()


def test_sequences_are_cut_skipping_holds_and_cuts(tmp_path):
    # 8 drawings on twos, a scene cut after the 4th: triplets (0,1,2) (1,2,3) and (4,5,6) (5,6,7)
    frames = make_clip(8, H, W, seed=5, hold=2, cut_after=4)
    write_frames(tmp_path / "clip", frames)
    style = open_style_set(tmp_path / "clip", tmp_path / "run").scan()
    assert len(style.triplets) == 4 and style.from_sequences
    starts = [tuple(int(x) for x in t.name.split("_f")[1].split("-")) for t in style.triplets]
    assert starts == [(0, 2, 4), (2, 4, 6), (8, 10, 12), (10, 12, 14)]
    assert all(t.t == 0.5 for t in style.triplets)
    written = sorted((tmp_path / "run" / "style_triplets").iterdir())
    stamp = [p.stat().st_mtime_ns for p in written if p.is_dir()]
    again = open_style_set(tmp_path / "clip", tmp_path / "run")  # unchanged source: not rewritten
    assert [
        p.stat().st_mtime_ns for p in sorted((tmp_path / "run" / "style_triplets").iterdir()) if p.is_dir()
    ] == stamp
    assert [t.name for t in again.triplets] == [t.name for t in style.triplets]
    train, val = style.split(0.25, 10)
    assert [t.name for t in val] == [style.triplets[-1].name]
    assert [t.name for t in train] == [style.triplets[0].name]  # two triplets sharing frames left out


def test_in_memory_frames_become_triplets(tmp_path):
    frames = make_clip(5, H, W, seed=6, hold=2)
    assert write_frame_triplets(frames, tmp_path / "t") == 3
    style = open_style_set(tmp_path / "t", tmp_path / "run").scan()
    assert len(style.triplets) == 3
    with pytest.raises(DataError, match="no triplet of three consecutive distinct drawings"):
        write_frame_triplets(make_clip(2, H, W, seed=6, hold=3), tmp_path / "u")


# ---------------------------------------------------------------------------------------------- augmentation
def _shifted_sample(dx=5, dy=-3):
    """frame3 = frame1 moved by (dx, dy) (periodic), with the exact integer flows."""
    rng = np.random.default_rng(0)
    f1 = torch.from_numpy(rng.random((3, 40, 56), dtype=np.float32))
    f3 = torch.roll(f1, shifts=(dy, dx), dims=(1, 2))
    f2 = torch.roll(f1, shifts=(0, 2), dims=(1, 2))
    flow13 = torch.tensor([dx, dy], dtype=torch.float32).view(2, 1, 1).expand(2, 40, 56).clone()
    return Sample(f1, f2, f3, flow13, -flow13, 0.25)


def _check_flow_maps(src, dst, flow):
    """dst[p + flow(p)] == src[p] wherever p + flow(p) is inside the frame (integer flows)."""
    _, h, w = src.shape
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    tx, ty = xs + flow[0].long(), ys + flow[1].long()
    inside = (tx >= 0) & (tx < w) & (ty >= 0) & (ty < h)
    assert inside.float().mean() > 0.5
    torch.testing.assert_close(dst[:, ty[inside], tx[inside]], src[:, ys[inside], xs[inside]], rtol=0, atol=0)


@pytest.mark.parametrize("hflip,vflip,reverse", list(itertools.product([False, True], repeat=3)))
def test_flows_follow_every_augmentation(hflip, vflip, reverse):
    sample = _shifted_sample()
    out = augment(sample, AugmentParams(7, 4, hflip, vflip, reverse), crop=24)
    assert out.frame1.shape == (3, 24, 24) and out.flow13.shape == (2, 24, 24)
    _check_flow_maps(out.frame1, out.frame3, out.flow13)
    _check_flow_maps(out.frame3, out.frame1, out.flow31)
    assert out.t == (0.75 if reverse else 0.25)
    expect = sample.frame2[:, 4:28, 7:31]
    if hflip:
        expect = expect.flip(2)
    if vflip:
        expect = expect.flip(1)
    torch.testing.assert_close(out.frame2, expect, rtol=0, atol=0)


def test_training_size_policy():
    assert training_size((1920, 1080), AugmentOptions((960, 540), 380)) == (960, 540)
    assert training_size((1920, 1080), AugmentOptions(None, 380)) == (1920, 1080)
    assert training_size((320, 180), AugmentOptions(None, 380)) == (676, 380)  # enlarged to fit the crop
    assert training_size((320, 180), AugmentOptions(None, None)) == (320, 180)
    assert training_size((1440, 1080), AugmentOptions((960, 540), 380, fit=True)) == (720, 540)  # aspect kept
    assert training_size((640, 360), AugmentOptions((960, 540), 380, fit=True)) == (
        676,
        380,
    )  # enlarged only for the crop
    assert training_size((640, 480), AugmentOptions((960, 540), None, fit=True)) == (640, 480)


def test_training_samples_are_a_function_of_the_key(tmp_path):
    root = tmp_path / "style"
    for i in range(3):
        _triplet_folder(root, f"t{i}", _distinct(10 + i))
    items = open_style_set(root, tmp_path / "run").scan().triplets
    data = TrainingSamples(items, AugmentOptions(None, 32), FlowSource("none"), seed=3)
    a, b, c = data[(1, 17)], data[(1, 17)], data[(1, 18)]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert a["frame1"].shape == (3, 32, 32) and a["flow13"].shape == (2, 32, 32)
    assert not all(torch.equal(a[k], c[k]) for k in ("frame1", "frame2", "frame3"))


# ---------------------------------------------------------------------------------------------- flow cache
def test_flow_file_round_trip_and_size(tmp_path):
    tri = make_triplet(240, 432, seed=2)
    size = save_flows(tmp_path / "f.npz", tri.flow_13, tri.flow_31)
    f13, f31 = load_flows(tmp_path / "f.npz")
    assert f13.dtype == np.float32 and f13.shape == (2, 240, 432)
    assert np.abs(f13 - tri.flow_13).max() <= FLOW_QUANTUM / 2 + 1e-6
    assert np.abs(f31 - tri.flow_31).max() <= FLOW_QUANTUM / 2 + 1e-6
    raw_float64 = 2 * tri.flow_13.size * 8  # the original's guide_flo13/31.npy
    assert size < raw_float64 / 20
    with pytest.raises(InputError, match="cannot be cached"):
        save_flows(tmp_path / "g.npz", tri.flow_13 * 1e4, tri.flow_31)
    assert not (tmp_path / "g.npz").exists()


def test_flow_cache_computes_once_and_recovers(tmp_path, caplog):
    tri = make_triplet(H, W, seed=7)
    cache = FlowCache(tmp_path / "cache", SGMOptions(features="colour"))
    first = cache.get(tri.frame1, tri.frame3)
    again = cache.get(tri.frame1, tri.frame3)
    assert cache.computed == 1 and all(np.array_equal(a, b) for a, b in zip(first, again))
    assert first[0].shape == (2, H, W) and np.abs(first[0]).max() > 0
    other = tri.frame3.copy()
    other[0, 0] ^= 255
    cache.get(tri.frame1, other)
    assert cache.computed == 2
    path = cache.path(tri.frame1, tri.frame3)
    path.write_bytes(b"truncated")
    with caplog.at_level(logging.WARNING):
        repaired = cache.get(tri.frame1, tri.frame3)
    assert "unreadable" in caplog.text and cache.computed == 3
    assert all(np.array_equal(a, b) for a, b in zip(first, repaired))
    reader = FlowCache(tmp_path / "cache", SGMOptions(features="vgg"), read_only=True)
    with pytest.raises(DataError, match="no usable flows"):
        reader.get(tri.frame1, tri.frame3)  # other options: another key, and a reader never computes
    with pytest.raises(InputError, match="VGG-19"):
        FlowCache(tmp_path / "cache", SGMOptions(features="vgg"))


def test_flow_sources_agree(tmp_path):
    tri = make_triplet(H, W, seed=7)
    options = SGMOptions(features="colour")
    cached = FlowSource("cache", cache=FlowCache(tmp_path / "c", options)).flows(tri.frame1, tri.frame3)
    live = FlowSource("live", options=options).flows(tri.frame1, tri.frame3)
    none = FlowSource("none").flows(tri.frame1, tri.frame3)
    for from_cache, computed, zero in zip(cached, live, none):
        assert from_cache.shape == computed.shape == zero.shape == (2, H, W) and not zero.any()
        assert np.abs(from_cache - computed).max() <= FLOW_QUANTUM / 2 + 1e-6 and np.abs(computed).max() > 0


# ---------------------------------------------------------------------------------------------- sample order
def test_sample_stream_covers_epochs_and_resumes_exactly():
    stream = SampleStream(n_items=10, batch_size=4, accumulation=2, seed=1)
    keys = [k for step in range(5) for micro in range(2) for k in stream.micro_batch(step, micro)]
    assert [p for _, p in keys] == list(range(40))
    for epoch in range(4):
        assert sorted(i for i, p in keys if p // 10 == epoch) == list(range(10))
    assert not np.array_equal(stream.epoch_order(0), stream.epoch_order(1))
    full = list(MicroBatches(stream, 0, 5))
    assert list(MicroBatches(stream, 3, 5)) == full[6:]
    shards = [list(MicroBatches(stream, 0, 5, rank=r, world_size=2)) for r in range(2)]
    assert [a + b for a, b in zip(*shards)] == full
    assert stream.epoch_ends_in_step(1) == 0 and stream.epoch_ends_in_step(0) is None  # 8 then 16 samples
    with pytest.raises(InputError, match="multiple of the number of processes"):
        local_slice(stream.micro_batch(0, 0), 0, 3)


def test_delta_coding_is_exact_at_the_int16_limits(tmp_path):
    q = FLOW_QUANTUM
    extremes = np.array([[[-2047.0, 2047.0, -2047.0, 0.0, 1 / 16, -1 / 16]]] * 2, np.float32) * np.ones(
        (1, 3, 1)
    )
    save_flows(tmp_path / "x.npz", extremes, -extremes)
    f13, f31 = load_flows(tmp_path / "x.npz")
    assert np.abs(f13 - extremes).max() <= q / 2 and np.abs(f31 + extremes).max() <= q / 2
