"""Errors inside ComfyUI say what to do in ComfyUI; the loader says which models are on disk and
shows a download on its progress bar."""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from comfyui_animeinterp.core.data.synthetic import make_clip
from comfyui_animeinterp.core.errors import WeightsError

CLI_HINTS = ("animeinterp weights", "pip install", "animeinterp convert")


def _images():
    return torch.from_numpy(np.stack(make_clip(2, 64, 64, seed=1))).float() / 255


def test_missing_vgg_says_what_to_do_in_comfyui(fake_comfy):
    from comfyui_animeinterp.nodes.interpolate_node import AnimeInterpolate

    with pytest.raises(WeightsError) as exc:
        AnimeInterpolate().run(_images(), matching="vgg")
    message = str(exc.value)
    assert "vgg19" in message and str(fake_comfy.models_dir / "animeinterp") in message
    assert "models/animeinterp" in message and "matching to 'colour'" in message
    assert not any(hint in message for hint in CLI_HINTS), message


def test_loader_without_download_points_at_the_switch(fake_comfy):
    from comfyui_animeinterp.nodes.model_nodes import DEFAULT_WEIGHTS, LoadAnimeInterpModel

    with pytest.raises(WeightsError) as exc:
        LoadAnimeInterpModel().load(DEFAULT_WEIGHTS, download=False)
    message = str(exc.value)
    assert "'download' switch" in message and "models/animeinterp" in message
    assert not any(hint in message for hint in CLI_HINTS), message


def test_loader_marks_what_is_on_disk(fake_comfy):
    from comfyui_animeinterp.nodes.model_nodes import (
        DEFAULT_WEIGHTS,
        LoadAnimeInterpModel,
        interpolation_weight_names,
    )

    from tests.support.model_files import write_model_file

    def tooltip():
        return LoadAnimeInterpModel.INPUT_TYPES()["required"]["weights"][1]["tooltip"]

    assert "On disk" not in tooltip() and DEFAULT_WEIGHTS in tooltip().split("Not on disk")[1]
    write_model_file(fake_comfy.models_dir / "animeinterp" / "afi-atd12k-style.safetensors")
    on_disk = tooltip().split("On disk: ")[1].split(". ")[0].split(", ")
    assert on_disk == [DEFAULT_WEIGHTS]
    others = [n for n in interpolation_weight_names() if n != DEFAULT_WEIGHTS]
    assert all(n not in on_disk for n in others)
    assert LoadAnimeInterpModel.INPUT_TYPES()["optional"]["download"][1]["default"] is True


def test_a_download_moves_the_progress_bar(fake_comfy, tmp_path):
    from comfyui_animeinterp.nodes import downloads

    size = 4 << 20

    def fetch():  # what core.weights does: write into a staging folder, then move into place
        staging = tmp_path / ".staging-x"
        staging.mkdir()
        with open(staging / "part", "wb") as f:
            for _ in range(4):
                f.write(b"\0" * (1 << 20))
                f.flush()
                time.sleep(0.15)
        (staging / "part").rename(tmp_path / "weights.safetensors")
        return tmp_path / "weights.safetensors"

    assert downloads.with_progress(fetch, tmp_path, size, poll_s=0.05) == tmp_path / "weights.safetensors"
    values = [v for v, total in fake_comfy.progress]
    assert all(total == 4 for _, total in fake_comfy.progress)
    assert values == sorted(values) and values[-1] == 4 and len(set(values)) >= 3

    def fail():
        raise WeightsError("no")

    with pytest.raises(WeightsError):
        downloads.with_progress(fail, tmp_path, None, poll_s=0.01)
