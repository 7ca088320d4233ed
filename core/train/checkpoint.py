"""Training checkpoints: everything needed to continue a run exactly, written atomically.

A checkpoint is one ``step_<NNNNNNNN>.pt`` file in the run's ``checkpoints`` folder holding the
model, optimizer and scheduler states, the random-number-generator states, the step, the
configuration and a few facts about the run (:class:`TrainingState`). It is written to a
temporary file, flushed to disk and renamed into place, so an interruption at any moment leaves
either the complete new file or none — never a damaged one — and older checkpoints are deleted
only after the new one is in place (the newest ``keep`` are kept). Loading goes from the newest
file down and skips (with a warning) any file that cannot be read.
"""

from __future__ import annotations

import logging
import os
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..io.stale import sweep_checkpoint_temps

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "comfyui-animeinterp-finetune/1"
_NAME = re.compile(r"^step_(\d{8})\.pt$")


@dataclass
class TrainingState:
    """What a checkpoint holds. ``config`` is :meth:`.config.FinetuneConfig.to_dict`; ``run`` holds
    facts such as the data fingerprint and the base weights."""

    step: int
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    rng: dict[str, Any]
    config: dict[str, Any]
    run: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "step": self.step,
            "model": self.model,
            "optimizer": self.optimizer,
            "scheduler": self.scheduler,
            "rng": self.rng,
            "config": self.config,
            "run": self.run,
        }


def checkpoint_path(folder: str | os.PathLike, step: int) -> Path:
    return Path(folder) / f"step_{step:08d}.pt"


def list_checkpoints(folder: str | os.PathLike) -> list[tuple[int, Path]]:
    """``[(step, path)]`` of the checkpoint files in ``folder``, oldest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [(int(m[1]), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return sorted(found)


def save_checkpoint(folder: str | os.PathLike, state: TrainingState, keep: int = 2) -> Path:
    """Write ``state`` atomically as ``step_<step>.pt`` and keep only the newest ``keep`` files."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sweep_checkpoint_temps(folder)  # a killed run's partial files (81 MB each)
    path = checkpoint_path(folder, state.step)
    tmp = folder / f".{path.name}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as f:
            torch.save(state.to_dict(), f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(folder)
    finally:
        tmp.unlink(missing_ok=True)
    for _, old in list_checkpoints(folder)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | os.PathLike) -> TrainingState:
    """Read one checkpoint (``weights_only``: plain tensors and containers only)."""
    obj = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
    if not isinstance(obj, dict) or obj.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"not a {CHECKPOINT_FORMAT} checkpoint")
    return TrainingState(
        obj["step"],
        obj["model"],
        obj["optimizer"],
        obj["scheduler"],
        obj["rng"],
        obj["config"],
        obj.get("run", {}),
    )


def load_latest(folder: str | os.PathLike) -> tuple[TrainingState, Path] | None:
    """The newest readable checkpoint in ``folder`` (unreadable ones are skipped with a warning)."""
    for step, path in reversed(list_checkpoints(folder)):
        try:
            return load_checkpoint(path), path
        except Exception as e:  # noqa: BLE001 - truncated / foreign file: fall back to the previous one
            log.warning("checkpoint %s is unreadable (%s); trying an older one", path, e)
    return None


def capture_rng() -> dict[str, Any]:
    """States of Python's, NumPy's (global) and torch's CPU and CUDA generators."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].copy()), *np_state[2:]],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Undo :func:`capture_rng` (CUDA states only if CUDA is in use with as many devices)."""
    python = state["python"]
    random.setstate((python[0], tuple(python[1]), python[2]))
    kind, keys, *rest = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), *rest))
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # not possible on every platform (Windows)
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
