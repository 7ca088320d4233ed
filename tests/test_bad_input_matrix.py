"""The bad-input matrix (docs/bad_input.md): each case, its one-line message, its exit status, and
that nothing was half-written or lost. Run through the CLI's ``main()``."""
from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from comfyui_animeinterp.core.cli import main
from comfyui_animeinterp.core.data.synthetic import make_clip
from comfyui_animeinterp.core.io.output import check_output
from comfyui_animeinterp.core.io.video import list_images, write_frames
from comfyui_animeinterp.core.pipeline import Interpolator

H, W = 72, 96


@pytest.fixture(scope="module")
def frames():
    return make_clip(3, H, W, seed=21, hold=2, max_shift=6)


@pytest.fixture
def folder(tmp_path, frames):
    write_frames(tmp_path / "in", frames)
    return tmp_path / "in"


@pytest.fixture
def finished(folder, tmp_path):
    """A finished output folder (x3) and its frames' bytes."""
    out = tmp_path / "done"
    assert _cli(folder, out, "--multiplier", 3) == 0
    return out, _snapshot(out)


def _cli(*args, weight_free: bool = True) -> int:
    extra = ["--weight-free"] if weight_free else []
    return main(["interpolate", *map(str, args), *extra, "--quiet"])


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())} if folder.exists() else {}


def _one_line(err: str, fragment: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and fragment in lines[0], err
    assert "Traceback" not in err


def _leftovers(folder: Path) -> list[str]:
    """Hidden files (staging, locks, probes, temporaries) left in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def _unwritable(tmp_path: Path) -> Path:
    """A folder this process cannot write to: a read-only one, or /sys when running as root."""
    d = tmp_path / "readonly"
    d.mkdir()
    d.chmod(0o555)
    for candidate in (d, Path("/sys")):
        try:
            fd, name = tempfile.mkstemp(dir=candidate)
        except OSError:
            return candidate
        os.close(fd)
        os.unlink(name)
    pytest.skip("no unwritable folder available (root without /sys)")


# --------------------------------------------------------------------------- interpolate: OUT

@pytest.mark.parametrize("name, fragment", [
    ("clip.xyz", "unknown OUT extension '.xyz'"),
    ("clip.png", "unknown OUT extension '.png'"),
    ("clip.gif", "OpenCV cannot write GIF"),
])
def test_out_names_that_cannot_work(folder, tmp_path, capsys, name, fragment):
    assert _cli(folder, tmp_path / name) == 2
    _one_line(capsys.readouterr().err, fragment)
    assert not (tmp_path / name).exists() and _leftovers(tmp_path) == []


@pytest.mark.parametrize("name, codec", [("clip.webm", "mp4v"), ("clip.avi", "XXXX")])
def test_a_codec_opencv_cannot_write_fails_before_any_work(folder, tmp_path, capfd, monkeypatch, name, codec):
    calls = []
    monkeypatch.setattr(Interpolator, "prepare", lambda *a: calls.append(1))
    assert _cli(folder, tmp_path / name, "--codec", codec) == 2
    _one_line(capfd.readouterr().err, f"OpenCV cannot write {Path(name).suffix} video with codec {codec}")
    assert calls == [] and not (tmp_path / name).exists() and _leftovers(tmp_path) == []


def test_out_equal_to_in_is_refused(folder, capsys):
    before = _snapshot(folder)
    assert _cli(folder, folder) == 2
    _one_line(capsys.readouterr().err, "is the input")
    assert _snapshot(folder) == before


def test_out_below_a_file(folder, tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    assert _cli(folder, tmp_path / "afile" / "out") == 2
    _one_line(capsys.readouterr().err, "afile is a file, not a folder")


def test_out_that_is_a_file_for_a_folder_out(folder, tmp_path, capsys):
    (tmp_path / "out").write_text("x")
    assert _cli(folder, tmp_path / "out") == 2
    _one_line(capsys.readouterr().err, "exists and is not a folder")
    assert (tmp_path / "out").read_text() == "x"


def test_unwritable_parent_is_diagnosed_before_the_codec(folder, tmp_path, capsys):
    parent = _unwritable(tmp_path)
    for out in (parent / "out", parent / "new" / "out.mp4"):
        assert _cli(folder, out) == 2
        _one_line(capsys.readouterr().err, f"cannot write into {parent}")
        assert not out.exists()


def test_unwritable_existing_out_folder(folder, tmp_path, capsys):
    out = _unwritable(tmp_path)
    assert _cli(folder, out, "--overwrite") == 2
    _one_line(capsys.readouterr().err, f"{out} cannot be written")


def test_existing_out_needs_overwrite(finished, folder, capsys):
    out, before = finished
    assert _cli(folder, out) == 2
    _one_line(capsys.readouterr().err, "pass --overwrite")
    assert _snapshot(out) == before


def test_a_second_run_into_a_locked_out_is_refused(folder, tmp_path, capsys):
    out = tmp_path / "out"
    held = check_output(str(out), [str(folder)], overwrite=False)
    held.lock()
    try:
        assert _cli(folder, out) == 2
        _one_line(capsys.readouterr().err, "is being written by another animeinterp run")
        assert not out.exists()
    finally:
        held.unlock()
    assert _cli(folder, out) == 0 and _leftovers(tmp_path) == []  # the lock is gone with its run


def test_two_runs_started_together_into_one_out_one_is_refused(folder, tmp_path, capsys):
    from concurrent.futures import ThreadPoolExecutor

    out = tmp_path / "out"
    with ThreadPoolExecutor(2) as pool:
        statuses = sorted(pool.map(lambda _: _cli(folder, out), range(2)))
    assert statuses == [0, 2]
    err = capsys.readouterr().err
    assert "being written by another animeinterp run" in err or "pass --overwrite" in err
    assert len(list_images(out)) == 11 and _leftovers(tmp_path) == [] and _leftovers(out) == []


# --------------------------------------------------------------------------- interpolate: options, weights

def test_source_fps_zero(folder, tmp_path, capsys):
    assert _cli(folder, tmp_path / "out", "--source-fps", 0) == 2
    _one_line(capsys.readouterr().err, "--source-fps must be a positive frame rate, got 0")


def test_overwrite_with_a_weight_typo_keeps_the_finished_output(finished, folder, capsys):
    out, before = finished
    assert _cli(folder, out, "--overwrite", "--weights", "typo-name", weight_free=False) == 2
    assert "neither a known weight name nor an existing file" in capsys.readouterr().err
    assert _snapshot(out) == before and _leftovers(out.parent) == []


def test_weights_with_nan_are_refused_before_out_is_touched(finished, folder, tmp_path, capsys):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from tests.support.model_files import write_model_file

    good = write_model_file(tmp_path / "m.safetensors")
    state = load_file(str(good))
    with safe_open(str(good), framework="pt") as f:
        meta = f.metadata()
    key = min(state)
    state[key] = torch.full_like(state[key], float("nan"))
    bad = tmp_path / "diverged.safetensors"
    save_file(state, str(bad), metadata=meta)
    out, before = finished
    assert _cli(folder, out, "--overwrite", "--weights", bad, "--matching", "colour", weight_free=False) == 2
    _one_line(capsys.readouterr().err, f"{key} ({state[key].numel()} NaN, 0 inf)")
    assert _snapshot(out) == before


# --------------------------------------------------------------------------- interpolate: faults mid-run

def _fail_after(monkeypatch, n: int, exc: BaseException) -> None:
    real = Interpolator.frame_at
    calls = []

    def frame_at(self, pair, t):
        calls.append(t)
        if len(calls) > n:
            raise exc
        return real(self, pair, t)

    monkeypatch.setattr(Interpolator, "frame_at", frame_at)


@pytest.mark.parametrize("exc, status, fragment", [
    (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), 1,
     f"out of memory while interpolating {W}x{H} frames on cpu"),
    (MemoryError(), 1, "out of memory"),
    (OSError(errno.ENOSPC, "No space left on device"), 1, "No space left on device"),
])
def test_a_fault_mid_run_leaves_the_previous_output_whole(finished, folder, capsys, monkeypatch,
                                                          exc, status, fragment):
    out, before = finished
    _fail_after(monkeypatch, 2, exc)
    assert _cli(folder, out, "--overwrite") == status
    _one_line(capsys.readouterr().err, fragment)
    assert _snapshot(out) == before and _leftovers(out.parent) == []


def test_a_fault_mid_run_into_a_new_out_writes_nothing(folder, tmp_path, capsys, monkeypatch):
    _fail_after(monkeypatch, 2, torch.OutOfMemoryError("out of memory"))
    assert _cli(folder, tmp_path / "new" / "out") == 1
    _one_line(capsys.readouterr().err, "OUT was left as it was")
    assert not (tmp_path / "new").exists()


def test_overwrite_replaces_the_frames_only_when_complete(finished, folder):
    out, _ = finished
    (out / "notes.txt").write_text("mine")
    assert _cli(folder, out, "--overwrite") == 0  # x2: 11 frames replace the x3 run's 16
    assert len(list_images(out)) == 11 and (out / "notes.txt").read_text() == "mine"
    assert _leftovers(out.parent) == [] and _leftovers(out) == []


# --------------------------------------------------------------------------- convert, weights verify

def _evil_pickle(path: Path) -> Path:
    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))

    torch.save({"state_dict": {"a": torch.zeros(1)}, "x": Evil()}, path)
    return path


def test_convert_onto_its_own_source_is_refused(tmp_path, capsys):
    src = tmp_path / "49.pth"
    torch.save({"a": torch.zeros(1)}, src)
    before = src.read_bytes()
    assert main(["convert", str(src), str(src)]) == 1
    _one_line(capsys.readouterr().err, "would replace the original")
    assert src.read_bytes() == before


def test_convert_into_an_unwritable_folder(tmp_path, capsys):
    src = tmp_path / "49.pth"
    torch.save({"a": torch.zeros(1)}, src)
    parent = _unwritable(tmp_path)
    assert main(["convert", str(src), str(parent / "out.safetensors")]) == 1
    _one_line(capsys.readouterr().err, f"cannot write into {parent}")


def test_a_malicious_pickle_is_refused_without_retry_advice(tmp_path, capsys):
    src = _evil_pickle(tmp_path / "evil.pth")
    assert main(["convert", str(src), str(tmp_path / "out.safetensors")]) == 1
    err = capsys.readouterr().err
    _one_line(err, "refused")
    assert "system" in err and "weights_only" not in err and "False" not in err
    assert not (tmp_path / "out.safetensors").exists()


def test_weights_verify_of_an_unknown_file_fails(tmp_path, capsys):
    path = tmp_path / "mystery.safetensors"
    path.write_bytes(b"not in any manifest")
    assert main(["weights", "verify", str(path)]) == 1
    assert "CANNOT BE VERIFIED" in capsys.readouterr().err


# --------------------------------------------------------------------------- Python API

@pytest.mark.parametrize("frame, fragment", [
    (np.full((64, 64, 3), 200.0, np.float32), "got values in [200, 200]"),
    (np.full((64, 64, 3), -0.5, np.float32), "got values in [-0.5, -0.5]"),
])
def test_api_float_frames_out_of_range(frame, fragment):
    from comfyui_animeinterp.core.errors import InputError

    with pytest.raises(InputError) as info:
        Interpolator().interpolate(frame, frame)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_a_new_folder_with_a_dot_in_its_name_needs_a_trailing_slash(folder, tmp_path, capsys):
    assert _cli(folder, tmp_path / "take.v2") == 2
    _one_line(capsys.readouterr().err, "end it with /")
    assert _cli(folder, f"{tmp_path / 'take.v2'}/") == 0
    assert len(list_images(tmp_path / "take.v2")) == 11


def test_an_existing_out_in_a_read_only_parent_is_staged_inside_it(finished, folder):
    out, _ = finished
    out.parent.chmod(0o555)
    try:
        try:
            fd, name = tempfile.mkstemp(dir=out.parent)
        except OSError:
            pass
        else:
            os.close(fd)
            os.unlink(name)
            pytest.skip("running as root: a read-only folder is still writable")
        assert _cli(folder, out, "--overwrite") == 0
        assert len(list_images(out)) == 11 and _leftovers(out) == []
    finally:
        out.parent.chmod(0o755)


def test_staging_inside_out_replaces_the_frames_and_leaves_nothing(finished, frames):
    """The mechanism of the read-only-parent case, checked whoever runs the tests."""
    from comfyui_animeinterp.core.io.output import OutputTarget

    out, before = finished
    target = OutputTarget(out, "folder", overwrite=True, work_dir=out)
    target.lock()
    assert target.lock_path.parent == out and target.lock_path.exists()
    sink = target.open_sink("png", 24.0, "mp4v")
    assert sink.staging.parent == out
    for f in frames[:4]:
        sink.write(f)
    names = {p.name for p in out.iterdir()}
    assert names - {sink.staging.name, target.lock_path.name} == before.keys()  # untouched so far
    assert all((out / name).read_bytes() == data for name, data in before.items())
    sink.close(commit=True)
    target.unlock()
    assert [p.name for p in list_images(out)] == [f"frame_{i:06d}.png" for i in range(4)]
    assert _leftovers(out) == []


@pytest.mark.parametrize("exc, status, fragment", [
    (MemoryError(), 1, "out of memory"),
    (OSError(errno.EACCES, "Permission denied", "/somewhere/report.json"), 1,
     "Permission denied: /somewhere/report.json"),
])
def test_a_fault_no_command_handles_is_one_line(monkeypatch, capsys, exc, status, fragment):
    from comfyui_animeinterp.core.cli import weights as weights_cli

    def fail(*args, **kwargs):
        raise exc

    monkeypatch.setattr(weights_cli, "load_manifest", fail)
    assert main(["weights", "list"]) == status
    _one_line(capsys.readouterr().err, fragment)


# --------------------------------------------------------------------------- interpolate: nothing to do (issue 15.6)

def test_a_folder_of_unreadable_files_is_an_error_not_zero_frames(tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    for i in range(3):
        (bad / f"f{i}.png").write_bytes(b"not a png")
    assert _cli(bad, tmp_path / "out") == 2
    _one_line(capsys.readouterr().err, "none of its 3 image files could be read (e.g. f0.png: not a readable image)")
    assert not (tmp_path / "out").exists() and _leftovers(tmp_path) == []


def test_a_one_frame_folder_is_nothing_to_interpolate(tmp_path, frames, capsys):
    write_frames(tmp_path / "one", frames[:1])
    assert _cli(tmp_path / "one", tmp_path / "out") == 2
    _one_line(capsys.readouterr().err, "nothing to interpolate: one frame")
    assert not (tmp_path / "out").exists()


def test_one_readable_frame_among_corrupt_ones(tmp_path, frames, capsys):
    write_frames(tmp_path / "in", frames[:1])
    (tmp_path / "in" / "frame_000001.png").write_bytes(b"junk")
    assert _cli(tmp_path / "in", tmp_path / "out") == 2
    _one_line(capsys.readouterr().err, "nothing to interpolate: only one frame could be read, 1 skipped")


def test_skipped_frames_are_counted_in_a_warning(folder, tmp_path, capsys):
    (folder / "frame_000001.png").write_bytes(b"junk")
    assert _cli(folder, tmp_path / "out") == 0
    err = capsys.readouterr().err
    assert "warning: skipped 1 of 6 frames (frame_000001.png: not a readable image)" in err, err
    assert "wrote " in err


def test_a_truncated_video_warns_with_counts(tmp_path, frames, capsys):
    from comfyui_animeinterp.core.io import video

    whole = tmp_path / "whole.avi"
    video.write_video(whole, frames, 24.0, "MJPG")
    data = whole.read_bytes()
    src = tmp_path / "cut.avi"
    src.write_bytes(data[: len(data) * 6 // 10])  # a copy that stopped part-way; the header still says 6
    reader = video.FrameReader(src, warn=False)
    kept = sum(1 for _ in reader)
    assert 2 <= kept < len(reader) == len(frames)
    assert _cli(src, tmp_path / "out") == 0
    err = capsys.readouterr().err
    assert f"warning: the video ended after {kept} frames; its header says {len(frames)} (truncated?)" in err, err


# --------------------------------------------------------------------------- interrupted work (issue 15.8)

def test_sigterm_is_handled_like_ctrl_c(folder, tmp_path, capsys, monkeypatch):
    import signal

    real = Interpolator.frame_at
    calls = []

    def frame_at(self, pair, t):
        calls.append(t)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(self, pair, t)

    monkeypatch.setattr(Interpolator, "frame_at", frame_at)
    before = signal.getsignal(signal.SIGTERM)
    assert _cli(folder, tmp_path / "out.mp4") == 130
    _one_line(capsys.readouterr().err, "interrupted")
    assert not (tmp_path / "out.mp4").exists() and _leftovers(tmp_path) == []
    assert signal.getsignal(signal.SIGTERM) is before  # the handler lives only while the command runs


def test_stale_temporaries_of_our_out_are_swept(finished, folder, tmp_path):
    out, _ = finished
    (out / ".frame_000003.png.tmp").write_bytes(b"half")
    (out / ".notes.tmp").write_text("not ours")
    stale = tmp_path / f".{out.name}.staging-abc123"
    stale.mkdir()
    (stale / "frame_000000.png").write_bytes(b"x")
    other = tmp_path / ".elsewhere.staging-xyz"
    other.mkdir()
    assert _cli(folder, out, "--overwrite") == 0
    assert not stale.exists() and not (out / ".frame_000003.png.tmp").exists()
    assert (out / ".notes.tmp").exists() and other.exists()  # only our own names for this OUT


def test_old_unlocked_staging_of_another_out_is_swept_a_locked_or_recent_one_kept(folder, tmp_path):
    import fcntl

    from comfyui_animeinterp.core.io.stale import STALE_AFTER_S

    time_ago = os.path.getmtime(folder) - STALE_AFTER_S - 60
    stagings = {}
    for name in ("gone", "busy", "recent"):
        d = tmp_path / f".{name}.staging-x1y2"
        d.mkdir()
        (d / "frame_000000.png").write_bytes(b"x")
        if name != "recent":
            os.utime(d, (time_ago, time_ago))
        stagings[name] = d
    lock = tmp_path / ".busy.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a run writing 'busy' right now
    try:
        assert _cli(folder, tmp_path / "out") == 0
    finally:
        os.close(fd)
    assert not stagings["gone"].exists() and stagings["busy"].exists() and stagings["recent"].exists()


def _dead_pid() -> int:
    import subprocess
    import sys

    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True).stdout)


def test_stale_video_temporaries_are_swept(folder, tmp_path):
    out = tmp_path / "clip.mp4"
    (tmp_path / ".clip.tmp.mp4").write_bytes(b"killed run")
    (tmp_path / f".clip.probe-{_dead_pid()}.mp4").write_bytes(b"killed during the codec probe")
    (tmp_path / ".other.tmp.mp4").write_bytes(b"another OUT's")
    assert _cli(folder, out) == 0
    assert out.is_file() and not (tmp_path / ".clip.tmp.mp4").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == [".other.tmp.mp4"]


def test_checkpoint_temporaries_of_dead_processes_are_swept(tmp_path):
    from comfyui_animeinterp.core.io.stale import sweep_checkpoint_temps

    dead_pid = _dead_pid()
    (tmp_path / f".step_00000010.pt.{dead_pid}.tmp").write_bytes(b"x")
    (tmp_path / f".step_00000011.pt.{os.getpid()}.tmp").write_bytes(b"mine, in progress")
    (tmp_path / f".step_00000012.pt.{os.getppid()}.tmp").write_bytes(b"alive")
    (tmp_path / "step_00000009.pt").write_bytes(b"a real checkpoint")
    removed = sweep_checkpoint_temps(tmp_path)
    assert [p.name for p in removed] == [f".step_00000010.pt.{dead_pid}.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([
        f".step_00000011.pt.{os.getpid()}.tmp", f".step_00000012.pt.{os.getppid()}.tmp", "step_00000009.pt"])


# --------------------------------------------------------------------------- nodes: nothing or something else (issue 15.6)

@pytest.fixture
def comfy_input(fake_comfy, tmp_path):
    return tmp_path / "input"


def _load(name: str):
    from comfyui_animeinterp.nodes.io_nodes import AnimeInterpLoadFrames

    return AnimeInterpLoadFrames().load(name)


def test_node_load_of_mixed_sizes_names_the_frames(comfy_input, frames):
    import cv2
    from comfyui_animeinterp.core.errors import InputError

    write_frames(comfy_input / "mixed", frames)
    odd = cv2.resize(frames[2], (W // 2, H // 2))
    write_frames(comfy_input / "mixed", [odd], start=2)
    with pytest.raises(InputError, match=r"1 frame\(s\) differ in size from the first: frame_000002.png: size "
                                         rf"{W // 2}x{H // 2} differs"):
        _load("mixed")


def test_node_load_of_an_all_corrupt_folder_says_the_files_could_not_be_read(comfy_input):
    from comfyui_animeinterp.core.errors import InputError

    (comfy_input / "bad").mkdir()
    for i in range(2):
        (comfy_input / "bad" / f"f{i}.png").write_bytes(b"junk")
    with pytest.raises(InputError, match=r"none of its 2 files could be read \(e.g. f0.png: not a readable image\)"):
        _load("bad")


def test_node_load_with_start_past_the_end(comfy_input, frames):
    from comfyui_animeinterp.core.errors import InputError
    from comfyui_animeinterp.nodes.io_nodes import AnimeInterpLoadFrames

    write_frames(comfy_input / "clip", frames)
    with pytest.raises(InputError, match=f"start 99 is at or past the last of its {len(frames)} readable frames"):
        AnimeInterpLoadFrames().load("clip", start=99)


def test_node_interpolate_refuses_one_frame_and_a_lower_target_fps(frames):
    from comfyui_animeinterp.core.errors import InputError
    from comfyui_animeinterp.nodes.interpolate_node import AnimeInterpolate

    batch = torch.from_numpy(np.stack(frames)).float() / 255
    with pytest.raises(InputError, match="nothing to interpolate: the batch holds one frame"):
        AnimeInterpolate().run(batch[:1], matching="colour")
    with pytest.raises(InputError, match="target_fps 12 is below source_fps 24: that would drop frames"):
        AnimeInterpolate().run(batch, mode="target fps", source_fps=24.0, target_fps=12.0, matching="colour")


def test_sigterm_to_a_running_cli_leaves_no_temporary(tmp_path):
    """The real thing: a separate ``animeinterp interpolate`` writing a video, stopped with SIGTERM."""
    import signal
    import subprocess
    import sys
    import time

    write_frames(tmp_path / "in", make_clip(40, 180, 240, seed=4, max_shift=8))
    out = tmp_path / "clip.mp4"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "comfyui_animeinterp.core.cli", "interpolate",
                             str(tmp_path / "in"), str(out), "-m", "8", "--weight-free", "--quiet"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / ".clip.tmp.mp4").exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, "finished before it could be stopped"
        proc.send_signal(signal.SIGTERM)
        code, err = proc.wait(timeout=60), proc.stderr.read()
    finally:
        proc.kill()
        proc.stderr.close()
    assert code == 130, err
    _one_line(err, "interrupted")
    assert not out.exists() and _leftovers(tmp_path) == []
