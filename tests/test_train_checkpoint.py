"""Checkpoints (atomic, retention, fallback, RNG), resume compatibility, stages and the metrics log."""

from __future__ import annotations

import logging
import random

import numpy as np
import pytest
import torch
from comfyui_animeinterp.core.errors import InputError
from comfyui_animeinterp.core.train import checkpoint as ckpt
from comfyui_animeinterp.core.train.config import (
    FinetuneConfig,
    Stage,
    parse_stage,
    resume_differences,
    stage_at,
)
from comfyui_animeinterp.core.train.history import MetricsLog, plot_curves
from comfyui_animeinterp.core.train.losses import LossWeights


def _state(step: int, value: float = 0.0) -> ckpt.TrainingState:
    return ckpt.TrainingState(
        step,
        {"w": torch.full((3,), value)},
        {"state": {}},
        {"last_epoch": step},
        ckpt.capture_rng(),
        {"lr": 1e-4},
        {"data_fingerprint": "abc"},
    )


def test_round_trip_and_retention(tmp_path):
    for step in (10, 20, 30):
        ckpt.save_checkpoint(tmp_path, _state(step, step), keep=2)
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path)] == [20, 30]
    state, path = ckpt.load_latest(tmp_path)
    assert state.step == 30 and path.name == "step_00000030.pt"
    assert torch.equal(state.model["w"], torch.full((3,), 30.0)) and state.run["data_fingerprint"] == "abc"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step_00000020.pt", "step_00000030.pt"]


def test_a_failed_write_never_damages_the_previous_checkpoint(tmp_path, monkeypatch):
    ckpt.save_checkpoint(tmp_path, _state(5, 5.0))

    def crash(obj, f):  # the process dies half-way through writing
        f.write(b"PK\x03\x04 partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(ckpt.torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save_checkpoint(tmp_path, _state(6, 6.0))
    assert [p.name for p in tmp_path.iterdir()] == ["step_00000005.pt"]
    state, _ = ckpt.load_latest(tmp_path)
    assert state.step == 5 and torch.equal(state.model["w"], torch.full((3,), 5.0))


def test_unreadable_newest_falls_back(tmp_path, caplog):
    ckpt.save_checkpoint(tmp_path, _state(1), keep=3)
    ckpt.save_checkpoint(tmp_path, _state(2), keep=3)
    newest = ckpt.checkpoint_path(tmp_path, 2)
    newest.write_bytes(newest.read_bytes()[:100])
    with caplog.at_level(logging.WARNING):
        state, _path = ckpt.load_latest(tmp_path)
    assert state.step == 1 and "unreadable" in caplog.text
    assert ckpt.load_latest(tmp_path / "none") is None


def test_rng_states_are_restored():
    saved = ckpt.capture_rng()
    expected = (random.random(), np.random.rand(), torch.rand(2))
    random.random(), np.random.rand(), torch.rand(5)
    ckpt.restore_rng(saved)
    again = (random.random(), np.random.rand(), torch.rand(2))
    assert expected[0] == again[0] and expected[1] == again[1] and torch.equal(expected[2], again[2])


def test_stages_presets_and_parsing():
    cfg = FinetuneConfig(data="d", out="o", steps=10)
    stages = cfg.resolved_stages()
    assert [(s.name, s.start, s.end, s.weights.as_tuple()) for s in stages] == [
        ("l1+vgg", 0, 5, (1.0, 1.0, 0.0)),
        ("style", 5, 10, (1.0, 0.25, 40.0)),
    ]
    assert stage_at(stages, 4).name == "l1+vgg" and stage_at(stages, 5).name == "style"
    assert FinetuneConfig(data="d", out="o", preset="afi-compat").definition == "afi"
    assert parse_stage("warm:3:1,1,0") == Stage("warm", LossWeights(1, 1, 0), steps=3)
    assert parse_stage("rest:1,0.25,40").steps is None
    explicit = FinetuneConfig(
        data="d", out="o", steps=10, stages=(parse_stage("a:3:1,0,0"), parse_stage("rest:1,1,1"))
    )
    assert [(s.start, s.end) for s in explicit.resolved_stages()] == [(0, 3), (3, 10)]
    for bad in ("1,0,0", "x:1,0", "a:b:1,0,0"):
        with pytest.raises(InputError):
            parse_stage(bad)
    assert FinetuneConfig.from_dict(explicit.to_dict()) == explicit


def test_resume_compatibility():
    old = FinetuneConfig(data="d", out="o", steps=100, lr=1e-5)
    assert (
        resume_differences(
            old, FinetuneConfig(data="moved", out="elsewhere", steps=100, lr=1e-5, num_workers=0), 40
        )
        == []
    )
    assert resume_differences(old, FinetuneConfig(data="d", out="o", steps=90, lr=1e-5), 40) == []
    problems = resume_differences(old, FinetuneConfig(data="d", out="o", steps=100, lr=2e-5), 40)
    assert any("lr" in p for p in problems)
    # 60 steps done: step 50.. used the style stage; with 200 steps the L1 stage would run to 100
    assert any(
        "loss stages" in p
        for p in resume_differences(old, FinetuneConfig(data="d", out="o", steps=200, lr=1e-5), 60)
    )
    assert any(
        "already has" in p
        for p in resume_differences(old, FinetuneConfig(data="d", out="o", steps=50, lr=1e-5), 60)
    )


def test_config_rejects_bad_values():
    for kwargs, text in (
        ({"steps": 0}, "steps"),
        ({"preset": "x"}, "preset"),
        ({"crop": 4}, "crop"),
        ({"train_modules": ("encoder",)}, "train_modules"),
        ({"lr": 0}, "lr"),
        ({"flows": "gpu"}, "flows"),
        ({"export_name": "a/b.safetensors"}, "export_name"),
    ):
        with pytest.raises(InputError, match=text):
            FinetuneConfig(data="d", out="o", **kwargs)


def test_metrics_log_truncates_on_resume_and_plots(tmp_path):
    log = MetricsLog(tmp_path / "metrics.csv")
    for step in (0, 5, 10):
        log.append({"step": step, "split": "val", "loss": 1.0 / (step + 1), "psnr": 20 + step, "ssim": 0.5})
        log.append({"step": step, "split": "train", "loss": 2.0 / (step + 1), "stage": "style"})
    log.truncate_after(5)
    rows = log.rows()
    assert (
        [int(r["step"]) for r in rows] == [0, 0, 5, 5]
        and rows[1]["stage"] == "style"
        and rows[0]["psnr"] == "20"
    )
    png = plot_curves(rows, tmp_path / "curves.png")
    assert png is not None and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_save_sweeps_a_killed_runs_partial_files(tmp_path):
    import os
    import subprocess
    import sys

    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True).stdout)
    partial = tmp_path / f".step_00000004.pt.{dead}.tmp"  # a fine-tune killed while saving (issue 15.8)
    partial.write_bytes(b"half a checkpoint")
    alive = tmp_path / f".step_00000004.pt.{os.getppid()}.tmp"  # another run saving right now
    alive.write_bytes(b"in progress")
    ckpt.save_checkpoint(tmp_path, _state(5, 5.0))
    assert not partial.exists() and alive.exists()
    assert [p.name for _, p in ckpt.list_checkpoints(tmp_path)] == ["step_00000005.pt"]
