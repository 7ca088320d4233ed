"""``torchrun --nproc-per-node 2 ... interpolate``: two gloo processes write what one process writes, byte for byte."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from comfyui_animeinterp.core.cli import main
from comfyui_animeinterp.core.clip.retime import RetimeOptions, iter_clip_drawings
from comfyui_animeinterp.core.clip.schedule import frame_rate, multiplier
from comfyui_animeinterp.core.clip.shard import plan_spans, span_cost, split_spans
from comfyui_animeinterp.core.data.synthetic import make_clip
from comfyui_animeinterp.core.io.video import list_images, write_frames

REPO = Path(__file__).resolve().parents[1]
H, W = 72, 96


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(*args) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
           "--master-port", str(_free_port()), "-m", "comfyui_animeinterp.core.cli", "interpolate",
           *map(str, args), "--weight-free", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def _shares(frames, timing):
    spans = plan_spans(iter_clip_drawings(frames, RetimeOptions()), timing)
    return spans, split_spans([span_cost(s) for s in spans], 2)


def _same_files(a: Path, b: Path) -> None:
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_folder_output_split_at_a_cut_after_a_held_drawing(tmp_path):
    frames = make_clip(4, H, W, seed=21, hold=2, max_shift=6, cut_after=2)  # A A B B | C C D D
    write_frames(tmp_path / "in", frames)
    spans, (first, second) = _shares(frames, multiplier(3))
    # process 0 renders A -> B and B held up to the cut; process 1 starts at the cut
    assert [(s.start, s.interpolate) for s in spans[first.start:first.stop]] == [(0, True), (2, False)]
    assert spans[second.start].start == 4 and second.stop == len(spans)
    assert main(["interpolate", str(tmp_path / "in"), str(tmp_path / "single"), "-m", "3",
                 "--weight-free", "--quiet"]) == 0
    done = _torchrun(tmp_path / "in", tmp_path / "two", "-m", 3)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "wrote 22 frames" in done.stderr and "(2 processes)" in done.stderr
    assert len(list_images(tmp_path / "two")) == 22
    _same_files(tmp_path / "single", tmp_path / "two")  # no temporary files either


def test_video_output_joined_by_process_zero(tmp_path):
    frames = make_clip(5, H, W, seed=4, hold=2, max_shift=6)  # on twos, no cut
    write_frames(tmp_path / "in", frames)
    spans, (first, second) = _shares(frames, frame_rate(24, 60))
    # the boundary falls between two interpolated pairs: one drawing is in both processes' pairs
    assert spans[first.stop - 1].interpolate and spans[first.stop - 1].stop == spans[second.start].start
    assert main(["interpolate", str(tmp_path / "in"), str(tmp_path / "single" / "out.avi"), "--fps", "60",
                 "--codec", "MJPG", "--weight-free", "--quiet"]) == 0
    done = _torchrun(tmp_path / "in", tmp_path / "two" / "out.avi", "--fps", 60, "--codec", "MJPG")
    assert done.returncode == 0, done.stderr[-3000:]
    _same_files(tmp_path / "single", tmp_path / "two")  # the parts folder is gone


def _two_processes(*args) -> list[tuple[int, str]]:
    """Both processes of a torchrun job started by hand (torchrun itself would stop the second as
    soon as the first fails): their exit codes and stderr."""
    port = str(_free_port())
    procs = []
    for rank in (0, 1):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "RANK": str(rank), "LOCAL_RANK": str(rank),
               "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port}
        cmd = [sys.executable, "-m", "comfyui_animeinterp.core.cli", "interpolate", *map(str, args),
               "--weight-free", "--quiet"]
        procs.append(subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                      text=True))
    try:
        return [(p.wait(timeout=240), p.stderr.read()) for p in procs]
    finally:
        for p in procs:
            p.kill()
            p.stderr.close()


def test_an_error_stops_every_process_and_is_reported_once(tmp_path):
    frames = make_clip(2, H, W, seed=5)
    write_frames(tmp_path / "in", frames)
    write_frames(tmp_path / "out", frames)
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out").iterdir()}
    (code0, err0), (code1, err1) = _two_processes(tmp_path / "in", tmp_path / "out")
    assert (code0, code1) == (2, 2), err0[-2000:] + err1[-2000:]
    assert "already holds 2 frames" in err0 and "--overwrite" in err0
    assert err1 == ""  # only process 0 checks OUT, and says so once
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out").iterdir()} == before


def test_one_frame_is_nothing_to_interpolate_across_processes(tmp_path):
    write_frames(tmp_path / "in", make_clip(1, H, W, seed=3))
    (code0, err0), (code1, _) = _two_processes(tmp_path / "in", tmp_path / "out")
    assert (code0, code1) == (2, 2), err0[-2000:]
    assert "nothing to interpolate: one frame" in err0 and not (tmp_path / "out").exists()
