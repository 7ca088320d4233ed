"""``animeinterp interpolate``: folders, videos, two images, counts, overwrite, Ctrl-C, errors."""
from __future__ import annotations

import argparse

import numpy as np
import pytest
from comfyui_animeinterp.core.cli import build_parser, main
from comfyui_animeinterp.core.cli.interpolate import build_interpolator, parse_working_size
from comfyui_animeinterp.core.data.synthetic import make_clip
from comfyui_animeinterp.core.io import video
from comfyui_animeinterp.core.io.video import FrameReader, list_images, read_image, write_frames, write_video

H, W = 72, 96


@pytest.fixture(scope="module")
def frames():
    return make_clip(3, H, W, seed=21, hold=2, max_shift=6)  # A A B B C C


@pytest.fixture
def folder(tmp_path, frames):
    write_frames(tmp_path / "in", frames)
    return tmp_path / "in"


def _cli(*args) -> int:
    return main(["interpolate", *map(str, args), "--weight-free", "--quiet"])


def test_folder_to_folder(folder, frames, tmp_path):
    out = tmp_path / "out"
    assert _cli(folder, out) == 0
    files = list_images(out)
    assert [f.name for f in files[:2]] == ["frame_000000.png", "frame_000001.png"]
    assert len(files) == (6 - 1) * 2 + 1
    np.testing.assert_array_equal(read_image(files[0]), frames[0])
    np.testing.assert_array_equal(read_image(files[4]), frames[2])  # drawing B at its own time
    assert not np.array_equal(read_image(files[2]), frames[0])  # held copy replaced by an in-between
    assert not list(out.glob(".*"))  # no temporary files left


def test_video_to_video_at_target_fps(frames, tmp_path):
    src, out = tmp_path / "in.mp4", tmp_path / "out.mkv"
    write_video(src, frames, 24.0)
    assert _cli(src, out, "--fps", 60, "--codec", "FFV1") == 0
    reader = FrameReader(out)
    assert reader.fps == pytest.approx(60.0)
    assert sum(1 for _ in reader) == 5 * 60 // 24 + 1


def test_two_images(tmp_path, frames):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    video.write_image(a, frames[0])
    video.write_image(b, frames[2])
    out = tmp_path / "pair"
    assert _cli(a, b, out, "--multiplier", 4, "--ext", "webp") == 0
    assert len(list_images(out)) == 5 and list_images(out)[0].suffix == ".webp"


def test_existing_output_needs_overwrite(folder, tmp_path, capsys):
    out = tmp_path / "out"
    assert _cli(folder, out, "--multiplier", 3) == 0
    before = {f.name: f.stat().st_mtime_ns for f in list_images(out)}
    assert _cli(folder, out) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert {f.name: f.stat().st_mtime_ns for f in list_images(out)} == before
    assert _cli(folder, out, "--overwrite") == 0
    assert len(list_images(out)) == 11  # the x3 run's 16 frames are gone


def test_ctrl_c_keeps_finished_frames(folder, tmp_path, monkeypatch, capsys):
    write = video.write_image
    calls = []

    def interrupted_write(path, rgb):
        calls.append(path)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return write(path, rgb)

    monkeypatch.setattr(video, "write_image", interrupted_write)
    out = tmp_path / "out"
    assert _cli(folder, out) == 130
    assert "3 finished frames kept" in capsys.readouterr().err
    monkeypatch.setattr(video, "write_image", write)
    assert _cli(folder, tmp_path / "full") == 0
    kept = list_images(out)
    assert len(kept) == 3 and not list(out.glob(".*"))
    for f in kept:
        np.testing.assert_array_equal(read_image(f), read_image(tmp_path / "full" / f.name))


def test_ctrl_c_leaves_an_existing_video_intact(frames, folder, tmp_path, monkeypatch):
    out = tmp_path / "out.avi"
    write_video(out, frames[:2], 24.0, codec="MJPG")
    old = out.read_bytes()
    original = video.VideoWriter.write

    def interrupted(self, rgb):
        if self.frames_written == 2:
            raise KeyboardInterrupt
        original(self, rgb)

    monkeypatch.setattr(video.VideoWriter, "write", interrupted)
    assert _cli(folder, out, "--overwrite", "--codec", "MJPG") == 130
    assert out.read_bytes() == old
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_errors(tmp_path, folder, capsys):
    assert _cli(tmp_path / "missing", tmp_path / "o") == 2
    assert "no such file" in capsys.readouterr().err
    assert _cli(folder, folder, folder, tmp_path / "o") == 2
    assert _cli(folder, tmp_path / "o", "--working-size", "huge") == 2
    assert _cli(folder, tmp_path / "o", "--multiplier", 1) == 2
    assert _cli(folder, tmp_path / "o", "--schedule", "1,x") == 2
    assert _cli(folder, tmp_path / "o", "--device", "tpu") == 2
    with pytest.raises(SystemExit):
        main(["interpolate", str(folder), str(tmp_path / "o"), "--fps", "60", "--multiplier", "2"])
    assert parse_working_size("640x360") == (640, 360) and parse_working_size("native") is None


def test_missing_weights_offline_name_the_way_without_them(tmp_path, folder, monkeypatch, capsys):
    from tests.support.model_files import write_model_file

    monkeypatch.setenv("ANIMEINTERP_CACHE", str(tmp_path / "empty_cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "o"
    assert main(["interpolate", str(folder), str(out), "--quiet"]) == 2  # the default learned model
    err = capsys.readouterr().err
    assert "afi-atd12k-style" in err and err.rstrip().endswith("add --weight-free.")
    model = write_model_file(tmp_path / "m.safetensors")  # the model is there, VGG-19 for matching is not
    assert main(["interpolate", str(folder), str(out), "--weights", str(model), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "vgg19" in err and "add --matching colour" in err.splitlines()[-1]
    assert not out.exists()
    assert _cli(folder, out) == 0  # and the way it names works offline


def test_learned_model_and_vgg_are_loaded(tmp_path):
    from tests.support.model_files import write_model_file, write_vgg_file

    model = write_model_file(tmp_path / "m.safetensors")
    vgg = write_vgg_file(tmp_path / "v.safetensors")
    args = build_parser().parse_args(["interpolate", "a", "b", "--weights", str(model), "--vgg-weights",
                                      str(vgg), "--device", "cpu", "--working-size", "original"])
    interp = build_interpolator(args)
    assert interp.model is not None and interp.vgg is not None and interp.sgm_options.features == "vgg"
    assert interp.sgm_options.working_size == (960, 540)
    free = build_interpolator(argparse.Namespace(**{**vars(args), "weight_free": True, "matching": None}))
    assert free.model is None and free.vgg is None and free.sgm_options.features == "colour"


def test_memory_options_reach_the_model(tmp_path, folder, capsys):
    from tests.support.model_files import write_model_file

    model = write_model_file(tmp_path / "m.safetensors")
    base = ["interpolate", "a", "b", "--weights", str(model), "--matching", "colour", "--device", "cpu"]
    interp = build_interpolator(build_parser().parse_args(
        base + ["--memory-budget", "1.5", "--correlation", "on-demand", "--attention", "efficient", "--dtype", "bf16"]))
    memory = interp.model.memory
    assert (memory.correlation, memory.attention, memory.budget) == ("on-demand", "efficient", int(1.5 * 2**30))
    assert interp.model.autocast_dtype is not None  # bf16 autocast runs on the CPU too
    default = build_interpolator(build_parser().parse_args(base)).model.memory
    assert (default.correlation, default.attention, default.budget) == ("auto", "auto", None)
    for bad in (["--memory-budget", "0"], ["--dtype", "fp16"]):
        with pytest.raises(Exception) as info:
            build_interpolator(build_parser().parse_args(base + bad))
        assert type(info.value).__name__ == "InputError"
    assert _cli(folder, tmp_path / "o", "--correlation", "on-demand", "--memory-budget", "-1") == 2
    assert "--memory-budget" in capsys.readouterr().err


def test_flow_scale_reaches_the_model_and_a_bad_one_fails_first(tmp_path, folder, capsys):
    from tests.support.model_files import write_model_file

    model = write_model_file(tmp_path / "m.safetensors")
    base = ["interpolate", "a", "b", "--weights", str(model), "--matching", "colour", "--device", "cpu"]
    assert build_interpolator(build_parser().parse_args(base)).model.flow_scale == "auto"
    assert build_interpolator(build_parser().parse_args(base + ["--flow-scale", "0.5"])).model.flow_scale == 0.5
    assert _cli(folder, tmp_path / "o", "--flow-scale", "2") == 2
    assert "flow scale" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
