"""StyleFinetune node: IMAGE frames in, fine-tuned model and weight file out; Cancel saves and returns."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from comfyui_animeinterp.core.data.synthetic import make_clip
from comfyui_animeinterp.core.errors import InputError
from comfyui_animeinterp.core.model import LearnedInterpolator, load_model
from safetensors import safe_open

from tests.support.model_files import write_model_file, write_vgg_file


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("node_weights")
    return write_model_file(folder / "base.safetensors", variant="animeinterp"), write_vgg_file(
        folder / "vgg.safetensors"
    )


@pytest.fixture
def node(fake_comfy, files, monkeypatch):
    from comfyui_animeinterp.nodes import model_cache
    from comfyui_animeinterp.nodes.path_policy import ALLOWED_DIRS_ENV
    from comfyui_animeinterp.nodes.train_nodes import StyleFinetune

    monkeypatch.setenv(ALLOWED_DIRS_ENV, str(files[1].parent))  # the owner allows the test's weights folder

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small tensors: one thread is faster and immune to a busy machine
    yield StyleFinetune()
    torch.set_num_threads(threads)
    model_cache.release_all()


def _args(files, **over):
    frames = make_clip(6, 64, 64, seed=2, hold=2)  # 6 drawings on twos -> 4 triplets
    images = torch.from_numpy(__import__("numpy").stack(frames)).float() / 255
    args = {
        "data": "",
        "steps": 3,
        "lr": 1e-4,
        "loss_preset": "style",
        "name": "test_style",
        "images": images,
        "crop": 48,
        "batch_size": 1,
        "train": "freeze flow net",
        "init_flows": "sgm (colour, weight-free)",
        "vgg_weights": str(files[1]),
        "checkpoint_every": 100,
        "seed": 0,
    }
    args.update(over)
    return args


def _meta(path):
    with safe_open(path, framework="pt") as f:
        return f.metadata()


def test_cancel_saves_and_returns_then_the_same_name_continues(node, fake_comfy, files):
    with torch.inference_mode():  # as ComfyUI runs nodes: the loaded model holds inference tensors
        model = load_model(files[0])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fake_comfy.interrupt_after = 0  # Cancel already pressed: stop after the first step
    with torch.inference_mode():
        tuned, path = node.finetune(model, **_args(files))
    assert Path(path) == fake_comfy.models_dir / "animeinterp" / "finetuned" / "test_style.safetensors"
    meta = _meta(path)
    assert meta["finetune_interrupted"] == "true" and meta["finetune_steps"] == "1"
    run = fake_comfy.models_dir.parent / "output" / "animeinterp_finetune" / "test_style"
    assert (run / "checkpoints" / "step_00000001.pt").is_file()
    assert isinstance(tuned, LearnedInterpolator) and not tuned.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # the input is not touched
    assert any(not torch.equal(before[k], v.cpu()) for k, v in tuned.state_dict().items())
    assert fake_comfy.progress and fake_comfy.progress[-1][1] == 3

    fake_comfy.interrupt_after = None
    with torch.inference_mode():
        tuned, path = node.finetune(model, **_args(files))
    meta = _meta(path)
    assert meta["finetune_interrupted"] == "false" and meta["finetune_steps"] == "3"
    reloaded = load_model(path)
    assert all(torch.equal(v, reloaded.state_dict()[k]) for k, v in tuned.state_dict().items())


def test_bad_inputs_are_clear(node, files):
    model = load_model(files[0])
    with pytest.raises(InputError, match="does not exist"):
        node.finetune(model, **_args(files, images=None, data="no_such_folder"))
    with pytest.raises(InputError, match="name"):
        node.finetune(model, **_args(files, name="../escape"))
    with pytest.raises(InputError, match="ANIMEINTERP_MODEL"):
        node.finetune("not a model", **_args(files))
