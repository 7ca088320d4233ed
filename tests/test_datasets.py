"""Data sets: ATD-12K test layout with annotations, triplet folders, sequences/videos, synthetic."""
from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from comfyui_animeinterp.core.data.synthetic import make_clip, make_triplet
from comfyui_animeinterp.core.data.triplets import (
    SequenceDataset,
    SyntheticDataset,
    Triplet,
    TripletFolderDataset,
    export_triplets,
    open_dataset,
    read_atd_annotation,
    require_usable,
)
from comfyui_animeinterp.core.errors import DataError
from comfyui_animeinterp.core.io.video import write_frames, write_image, write_video

H, W = 54, 96  # a 16:9 miniature of the 960x540 test frames


def _write_triplet(folder, seed, ext="png"):
    t = make_triplet(H, W, seed=seed)
    for i, f in enumerate((t.frame1, t.frame2, t.frame3), start=1):
        write_image(folder / f"frame{i}.{ext}", f)
    return t


def _annotation(folder, name, level, box=(200, 100, 400, 300), size=(1920, 1080)):
    (folder / name).mkdir(parents=True)
    data = {"image_size": list(size), "level": level,
            "motion_RoI": dict(zip(("x", "y", "width", "height"), box)), "general_motion_type": "translation"}
    (folder / name / f"{name}.json").write_text(json.dumps(data))


@pytest.fixture
def atd_root(tmp_path):
    root = tmp_path / "datasets"
    frames, ann = root / "test_2k_540p", root / "test_2k_annotations"
    names = ["Disney_v4_8_002959_s2", "Japan_v2_0_161238_s3", "Japan_v2_1_070321_s3"]
    for seed, name in enumerate(names):
        _write_triplet(frames / name, seed)
    _annotation(ann, names[0], 0)
    _annotation(ann, names[1], 2, box=(100, 90, 30, 45), size=(1280, 720))
    (ann / names[2]).mkdir()
    (ann / names[2] / f"{names[2]}.json").write_text("{not json")
    (frames / "incomplete").mkdir()
    write_image(frames / "incomplete" / "frame1.png", np.zeros((H, W, 3), np.uint8))
    return root


def test_atd12k_layout_and_annotations(atd_root, caplog):
    with caplog.at_level(logging.WARNING):
        ds = open_dataset(atd_root)
    assert isinstance(ds, TripletFolderDataset) and ds.has_annotations and "ATD-12K" in ds.description
    assert [s.name for s in ds.skipped] == ["incomplete"] and "frame2" in ds.skipped[0].reason
    assert any("Japan_v2_1_070321_s3" in n and "unreadable" in n for n in ds.notes)
    entries = list(ds.entries())
    assert [e.level for e in entries] == ["easy", "hard", None]
    first, second, third = (e.load() for e in entries)
    assert first.size == (W, H) and first.t == 0.5
    # the original's mapping: int(x // (image_W / W)); 1920 / 96 = 20
    assert first.roi_box() == (10, 5, 20, 15)
    # 1280 / 96 = 13.33: floor divisions, then clipped to the frame
    assert second.roi_box() == (int(100 // (1280 / 96)), int(90 // (720 / 54)), int(30 // (1280 / 96)),
                                int(45 // (720 / 54)))
    assert third.roi is None and third.roi_box() is None
    # the same folder given directly, annotations found next to it
    assert open_dataset(atd_root / "test_2k_540p").has_annotations


def test_roi_follows_a_resize():
    t = make_triplet(H, W, seed=3)
    tri = Triplet("x", t.frame1, t.frame2, t.frame3, roi=(960, 540, 480, 270), roi_image_size=(1920, 1080),
                  flow_13=t.flow_13, flow_31=t.flow_31)
    big = tri.resized((192, 108))
    assert big.size == (192, 108) and big.frame2.shape == (108, 192, 3)
    assert big.roi_box() == (96, 54, 48, 27) and tri.roi_box() == (48, 27, 24, 13)
    assert big.flow_13.shape == (2, 108, 192)
    assert np.abs(big.flow_13).max() == pytest.approx(2 * np.abs(t.flow_13).max(), rel=0.05)
    assert tri.resized((W, H)) is tri


def test_annotation_parser_tolerates_damage(tmp_path):
    p = tmp_path / "a.json"
    p.write_text(json.dumps({"level": "mid", "motion_RoI": {"x": 1, "y": 2, "width": 0, "height": 4}}))
    ann = read_atd_annotation(p)
    assert ann.level == "medium" and ann.roi is None and ann.problems
    p.write_text(json.dumps({"level": 7, "motion_RoI": {"x": 1, "y": 2, "width": 3, "height": 4}}))
    ann = read_atd_annotation(p)
    assert ann.level is None and ann.roi == (1, 2, 3, 4) and any("image_size" in x for x in ann.problems)


def test_generic_triplet_folders_and_corrupt_frame(tmp_path):
    _write_triplet(tmp_path / "b_2", 1, "jpg")
    _write_triplet(tmp_path / "b_10", 2)
    (tmp_path / "b_10" / "frame2.png").write_bytes(b"corrupt")
    ds = open_dataset(tmp_path)
    assert isinstance(ds, TripletFolderDataset) and not ds.has_annotations
    entries = list(ds.entries())
    assert [e.name for e in entries] == ["b_2", "b_10"]  # natural order
    assert entries[0].load().frame1.shape == (H, W, 3)
    with pytest.raises(DataError, match="frame2.png"):
        entries[1].load()


def test_nested_triplet_folders_and_numbered_sequences(tmp_path):
    _write_triplet(tmp_path / "src_a" / "clip1" / "t1", 1)
    _write_triplet(tmp_path / "src_b" / "t2", 2)
    ds = open_dataset(tmp_path)
    assert isinstance(ds, TripletFolderDataset) and [e.name for e in ds.entries()] == ["src_a/clip1/t1", "src_b/t2"]
    write_frames(tmp_path / "seqs" / "numbered", make_clip(5, H, W, seed=3), pattern="frame{:d}.png", start=1)
    seqs = open_dataset(tmp_path / "seqs")  # frame1 … frame5 is a sequence, not a triplet folder
    assert isinstance(seqs, SequenceDataset) and len(list(seqs.entries())) == 3


def test_sequences_and_videos_become_triplets(tmp_path):
    clip = make_clip(6, H, W, seed=4, hold=2, cut_after=3)
    write_frames(tmp_path / "seq", clip)
    ds = open_dataset(tmp_path / "seq")
    assert isinstance(ds, SequenceDataset)
    tris = [e.load() for e in ds.entries()]
    assert [t.name for t in tris] == ["seq_f00000-00002-00004", "seq_f00006-00008-00010"]
    assert np.array_equal(tris[0].frame2, clip[2]) and all(t.t == 0.5 for t in tris)
    write_video(tmp_path / "videos" / "a.mp4", clip, fps=12)
    write_frames(tmp_path / "videos" / "b", make_clip(4, H, W, seed=5, hold=2))
    ds = open_dataset(tmp_path / "videos")
    assert [e.name.split("_f")[0] for e in ds.entries()] == ["a", "a", "b", "b"]
    assert len(list(open_dataset(tmp_path / "videos" / "a.mp4").entries())) == 2


def test_unusable_sets_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="no such"):
        open_dataset(tmp_path / "missing")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("hi")
    with pytest.raises(DataError, match="found no triplet folders"):
        open_dataset(tmp_path / "notes")
    still = [make_clip(1, H, W, seed=6)[0]] * 5  # one held drawing: no triplet at all
    write_frames(tmp_path / "still", still)
    with pytest.raises(DataError, match="no usable triplets"):
        require_usable(open_dataset(tmp_path / "still"))
    (tmp_path / "only_bad" / "t1").mkdir(parents=True)
    write_image(tmp_path / "only_bad" / "t1" / "frame1.png", still[0])
    with pytest.raises(DataError, match="missing frame2, frame3"):
        open_dataset(tmp_path / "only_bad")


def test_synthetic_set_and_export(tmp_path):
    ds = open_dataset("synthetic:2:96x54")
    assert isinstance(ds, SyntheticDataset) and ds.has_flows and ds.size_hint() == 2
    t = next(ds.entries()).load()
    assert t.size == (96, 54) and t.flow_13.shape == (2, 54, 96) and t.flow_31 is not None
    assert export_triplets(ds, tmp_path / "exported") == 2
    back = open_dataset(tmp_path / "exported")
    assert require_usable(back) == 2
    assert np.array_equal(next(back.entries()).load().frame2, t.frame2)
