"""Held drawings, scene cuts and triplets on synthetic clips; frame reading and atomic writing."""
from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest
from comfyui_animeinterp.core.clip.drawings import (
    SequenceOptions,
    is_scene_cut,
    iter_drawings,
    iter_triplets,
    same_drawing,
    signature,
)
from comfyui_animeinterp.core.data.synthetic import make_clip
from comfyui_animeinterp.core.errors import DataError, InputError
from comfyui_animeinterp.core.io.video import (
    FrameReader,
    VideoWriter,
    list_images,
    read_image,
    write_frames,
    write_image,
    write_video,
)

H, W = 96, 160


def _jpeg(rgb: np.ndarray, quality: int = 70) -> np.ndarray:
    return cv2.imdecode(cv2.imencode(".jpg", rgb, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_COLOR)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_drawings_on_twos_with_a_cut(seed):
    clip = make_clip(6, H, W, seed=seed, hold=2, cut_after=3)
    drawings = list(iter_drawings(clip))
    assert [(d.start, d.length) for d in drawings] == [(0, 2), (2, 2), (4, 2), (6, 2), (8, 2), (10, 2)]
    assert [d.shot for d in drawings] == [0, 0, 0, 1, 1, 1]
    assert [d.cut_before for d in drawings] == [False, False, False, True, False, False]
    assert all(np.array_equal(d.frame, clip[d.start]) for d in drawings)
    triplets = list(iter_triplets(drawings))
    assert [(t.first.start, t.middle.start, t.last.start) for t in triplets] == [(0, 2, 4), (6, 8, 10)]
    assert all(t.t == 0.5 and t.first.shot == t.last.shot for t in triplets)


def test_drawings_on_ones_and_threes_without_cut():
    ones = list(iter_drawings(make_clip(5, H, W, seed=4, hold=1)))
    assert [(d.start, d.length, d.shot) for d in ones] == [(i, 1, 0) for i in range(5)]
    threes = list(iter_drawings(make_clip(4, H, W, seed=4, hold=3)))
    assert [(d.start, d.length) for d in threes] == [(0, 3), (3, 3), (6, 3), (9, 3)]
    assert len(list(iter_triplets(threes))) == 2


def test_codec_noise_is_not_a_new_drawing_but_motion_is():
    clip = make_clip(3, H, W, seed=5)
    a = signature(clip[0])
    assert same_drawing(a, signature(_jpeg(clip[0])))
    assert not same_drawing(a, signature(clip[1]))
    assert not is_scene_cut(a, signature(clip[1]))
    other_scene = make_clip(2, H, W, seed=5, cut_after=1)[1]
    assert is_scene_cut(a, signature(other_scene))
    assert is_scene_cut(a, signature(np.zeros_like(clip[0])))  # cut to black


def test_timing_gives_t_and_skew_filter():
    d = make_clip(3, H, W, seed=6)
    frames = [d[0]] * 2 + [d[1]] * 3 + [d[2]] * 2  # A on twos, B on threes
    tri = list(iter_triplets(iter_drawings(frames)))
    assert len(tri) == 1 and tri[0].t == pytest.approx(0.4)
    assert list(iter_triplets(iter_drawings(frames), max_timing_skew=0.05)) == []


def test_indexed_frames_with_gaps_and_order_check():
    d = make_clip(3, H, W, seed=7)
    drawings = list(iter_drawings([(0, d[0]), (1, d[0]), (3, d[1]), (4, d[2])]))  # frame 2 was unreadable
    assert [(x.start, x.length) for x in drawings] == [(0, 3), (3, 1), (4, 1)]
    with pytest.raises(InputError, match="increase"):
        list(iter_drawings([(1, d[0]), (0, d[1])]))
    with pytest.raises(InputError):
        SequenceOptions(hold_max_changed=2.0)


def test_video_round_trip_keeps_the_holds(tmp_path):
    clip = make_clip(4, H, W, seed=8, hold=2)
    assert write_video(tmp_path / "clip.mp4", clip, fps=12) == 8
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]
    reader = FrameReader(tmp_path / "clip.mp4")
    assert reader.kind == "video" and reader.fps == pytest.approx(12) and len(reader) == 8
    drawings = list(iter_drawings(reader))
    assert [(x.start, x.length) for x in drawings] == [(0, 2), (2, 2), (4, 2), (6, 2)]


def test_video_writer_leaves_nothing_on_failure(tmp_path):
    with pytest.raises(RuntimeError), VideoWriter(tmp_path / "x.mp4", fps=10) as w:
        w.write(np.zeros((32, 32, 3), np.uint8))
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(InputError, match="differs from the video size"), VideoWriter(tmp_path / "y.mp4", fps=10) as w:
        w.write(np.zeros((32, 32, 3), np.uint8))
        w.write(np.zeros((32, 48, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_image_folder_reader_skips_bad_frames(tmp_path, caplog):
    clip = make_clip(3, H, W, seed=9)
    write_frames(tmp_path, clip + [clip[2]])
    (tmp_path / "frame_000001.png").write_bytes(b"broken")
    write_image(tmp_path / "frame_000010.png", np.zeros((H // 2, W, 3), np.uint8))
    assert [p.name for p in list_images(tmp_path)][-1] == "frame_000010.png"  # natural order
    reader = FrameReader(tmp_path)
    with caplog.at_level(logging.WARNING):
        indices = [i for i, _ in reader]
    assert indices == [0, 2, 3]
    assert [s.name for s in reader.skipped] == ["frame_000001.png", "frame_000010.png"]
    assert "frame_000001.png" in caplog.text
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no image files"):
        FrameReader(tmp_path / "empty")


def test_read_image_formats(tmp_path):
    rgba = np.zeros((10, 12, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 0  # fully transparent: white paper shows
    cv2.imwrite(str(tmp_path / "a.png"), rgba)
    assert (read_image(tmp_path / "a.png") == 255).all()
    grey16 = np.full((10, 12), 65535, np.uint16)
    cv2.imwrite(str(tmp_path / "b.png"), grey16)
    out = read_image(tmp_path / "b.png")
    assert out.shape == (10, 12, 3) and (out == 255).all()
    bgr = np.zeros((10, 12, 3), np.uint8)
    bgr[..., 2] = 255  # red in OpenCV order
    cv2.imwrite(str(tmp_path / "c.png"), bgr)
    assert tuple(read_image(tmp_path / "c.png")[0, 0]) == (255, 0, 0)
    with pytest.raises(DataError):
        read_image(tmp_path / "missing.png")
