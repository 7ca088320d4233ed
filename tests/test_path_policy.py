"""A ComfyUI server stays closed (issue 15.7): node inputs naming files are confined to ComfyUI's
input / model folders and the owner's ANIMEINTERP_ALLOWED_DIRS; refused and missing paths get the
same message."""
from __future__ import annotations

import pytest
from comfyui_animeinterp.core.data.synthetic import make_clip
from comfyui_animeinterp.core.errors import InputError, WeightsError
from comfyui_animeinterp.core.io.video import write_frames
from comfyui_animeinterp.nodes.io_nodes import AnimeInterpLoadFrames
from comfyui_animeinterp.nodes.path_policy import ALLOWED_DIRS_ENV, input_path, weight_reference


@pytest.fixture
def comfy(fake_comfy, tmp_path, monkeypatch):
    monkeypatch.delenv(ALLOWED_DIRS_ENV, raising=False)
    inp = tmp_path / "input"
    write_frames(inp / "clip", make_clip(2, 32, 32, seed=1))
    outside = tmp_path / "private"
    write_frames(outside, make_clip(2, 32, 32, seed=2))
    return inp, outside


def _message(text: str, what: str = "path") -> str:
    with pytest.raises(InputError) as e:
        input_path(text, what)
    return str(e.value)


def test_inside_the_input_folder_is_allowed(comfy):
    inp, _ = comfy
    assert input_path("clip") == (inp / "clip").resolve()
    assert input_path(str(inp / "clip")) == (inp / "clip").resolve()
    assert input_path("clip/../clip") == (inp / "clip").resolve()


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink"])
def test_outside_is_refused_with_the_message_of_a_missing_path(comfy, how):
    inp, outside = comfy
    if how == "symlink":
        (inp / "link").symlink_to(outside)
        text = "link"
    else:
        text = "../private" if how == "dotdot" else str(outside)
    refused = _message(text)
    assert refused == f"path: {text!r} does not exist in ComfyUI's input folder"
    missing_text = {"dotdot": "../nothing", "absolute": str(outside.parent / "nothing"), "symlink": "nolink"}[how]
    assert _message(missing_text) == refused.replace(repr(text), repr(missing_text))


def test_validation_does_not_tell_whether_a_server_path_exists(comfy):
    exists = AnimeInterpLoadFrames.VALIDATE_INPUTS(path="/etc/passwd")
    missing = AnimeInterpLoadFrames.VALIDATE_INPUTS(path="/etc/no-such-file-here")
    assert exists is not True and missing is not True
    assert exists.replace("/etc/passwd", "X") == missing.replace("/etc/no-such-file-here", "X")


def test_loading_outside_is_refused(comfy):
    _, outside = comfy
    with pytest.raises(InputError, match="does not exist in ComfyUI's input folder"):
        AnimeInterpLoadFrames().load(str(outside))


def test_the_owner_can_allow_more_folders(comfy, monkeypatch):
    _, outside = comfy
    monkeypatch.setenv(ALLOWED_DIRS_ENV, str(outside.parent / "elsewhere") + ":" + str(outside))
    assert input_path(str(outside)) == outside.resolve()
    _, _, count = AnimeInterpLoadFrames().load(str(outside))
    assert count == 2
    assert "or a folder listed in ANIMEINTERP_ALLOWED_DIRS" in _message("/etc")


def test_style_finetune_data_is_confined(comfy):
    from comfyui_animeinterp.nodes.io_nodes import resolve_clip_path

    _, outside = comfy
    with pytest.raises(InputError, match="^data: .* does not exist in ComfyUI's input folder"):
        resolve_clip_path(str(outside), "data")


def test_outside_comfyui_paths_are_taken_as_given(tmp_path, monkeypatch):
    monkeypatch.delenv(ALLOWED_DIRS_ENV, raising=False)
    write_frames(tmp_path / "mine", make_clip(2, 32, 32, seed=1))
    assert input_path(str(tmp_path / "mine")) == tmp_path / "mine"
    assert weight_reference(str(tmp_path / "any.safetensors")) == str(tmp_path / "any.safetensors")


def test_weight_names_come_from_the_manifest_or_the_model_folders(comfy, fake_comfy, tmp_path, monkeypatch):
    folder = fake_comfy.models_dir / "animeinterp"
    (folder / "mine.safetensors").write_bytes(b"x")
    secret = tmp_path / "private" / "secret.safetensors"
    secret.write_bytes(b"x")
    (folder / "linked.safetensors").symlink_to(secret)  # the owner's own link in the model folder
    assert weight_reference("vgg19") == "vgg19"
    assert weight_reference("mine.safetensors") == "mine.safetensors"
    assert weight_reference(str(folder / "mine.safetensors")) == str(folder / "mine.safetensors")
    assert weight_reference("linked.safetensors") == "linked.safetensors"
    messages = set()
    for text in (str(secret), "../../private/secret.safetensors", "/etc/passwd", "/no/such.safetensors",
                 str(folder / ".." / ".." / "private" / "secret.safetensors")):
        with pytest.raises(WeightsError) as e:
            weight_reference(text)
        messages.add(str(e.value).replace(repr(text), "X"))
    assert len(messages) == 1 and "is not a known weight name" in messages.pop()
    monkeypatch.setenv(ALLOWED_DIRS_ENV, str(secret.parent))
    assert weight_reference(str(secret)) == str(secret)


def test_vgg_weights_of_a_node_are_checked_before_any_load(comfy, tmp_path):
    from comfyui_animeinterp.nodes.model_cache import resolve

    with pytest.raises(WeightsError, match="is not a known weight name"):
        resolve("/etc/passwd")


def test_auto_matching_does_not_tell_whether_an_outside_weight_exists(comfy, tmp_path):
    from comfyui_animeinterp.nodes.model_cache import on_disk

    secret = tmp_path / "private" / "vgg.safetensors"
    secret.write_bytes(b"x")
    assert on_disk(str(secret)) is False and on_disk(str(tmp_path / "private" / "none.safetensors")) is False
