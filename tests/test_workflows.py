"""The example workflows: templates where ComfyUI looks for them, valid against the nodes, UI and API
versions agree and come from the generator, API versions run end to end (one with no files at all)."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from comfyui_animeinterp.core.data.synthetic import random_scene
from comfyui_animeinterp.core.io.video import write_frames

from tests.support import workflows as wf
from tests.support.model_files import write_model_file, write_record, write_vgg_file
from workflows import generate

ROOT = Path(__file__).resolve().parents[1]
GRAPHS = {make().name: make() for make in generate.GRAPHS}
NAMES = sorted(GRAPHS)
SIZE = 64
TEMPLATE_FOLDERS = ("example_workflows", "example", "examples", "workflow", "workflows")
"""The folders of a pack whose top-level *.json ComfyUI's template browser lists."""


def _load(name: str) -> tuple[dict, dict]:
    ui = json.loads(generate.template_path(GRAPHS[name]).read_text())
    api = json.loads(generate.api_path(GRAPHS[name]).read_text())
    return ui, api


def test_the_four_workflows_exist():
    assert set(NAMES) == {"one_click_x2", "weight_free_x2", "step_by_step", "style_finetune"}
    for name in NAMES:
        assert generate.template_path(GRAPHS[name]).is_file() and generate.api_path(GRAPHS[name]).is_file()


def test_the_template_folder_holds_the_editor_workflows_only():
    templates = sorted(p.name for p in (ROOT / "example_workflows").iterdir())
    assert templates == sorted(f"{GRAPHS[n].template}.json" for n in NAMES)
    for name in templates:
        assert name[0].isupper() and "_" not in name  # a readable title in the browser
        workflow = json.loads((ROOT / "example_workflows" / name).read_text())
        assert workflow["version"] and workflow["nodes"] and "links" in workflow  # editor format
        assert workflow["extra"]["info"]["description"]
    # no other folder ComfyUI scans holds workflows (an API prompt there opens as an empty canvas)
    for folder in TEMPLATE_FOLDERS[1:]:
        assert not list((ROOT / folder).glob("*.json")), folder


def test_the_files_are_what_the_generator_writes():
    defs = generate.node_definitions()
    for name, graph in GRAPHS.items():
        ui, api = _load(name)
        assert ui == json.loads(json.dumps(generate.to_ui(graph, defs))), name
        assert api == json.loads(json.dumps(generate.to_api(graph, defs))), name


@pytest.fixture
def input_folder(fake_comfy):
    """ComfyUI's input folder with the 'frames' and 'style_frames' folders the workflows name."""
    root = Path(fake_comfy.models_dir).parent / "input"
    for name in ("frames", "style_frames"):
        (root / name).mkdir(parents=True, exist_ok=True)
    return root


@pytest.mark.parametrize("name", NAMES)
def test_workflow_is_valid_and_both_formats_agree(name, input_folder):
    classes = wf.node_classes()
    ui, api = _load(name)
    assert wf.check_ui(ui, classes) == []
    assert wf.check_api(api, classes) == []
    stripped = {nid: {"class_type": n["class_type"], "inputs": n["inputs"]} for nid, n in api.items()}
    assert wf.ui_to_api(ui, classes) == stripped


def test_checks_catch_broken_workflows(input_folder):
    classes = wf.node_classes()
    ui, api = _load("one_click_x2")
    cases = (("3", "multiplier", 1, "multiplier"), ("3", "matching", "sift", "sift"),
             ("4", "images", ["2", 0], "ANIMEINTERP_MODEL linked into IMAGE"),
             ("2", "dtype", "fp64", "fp64"), ("1", "path", "nowhere", "does not exist"))
    for node, name, value, expected in cases:
        bad = copy.deepcopy(api)
        bad[node]["inputs"][name] = value
        assert expected in "\n".join(wf.check_api(bad, classes))
    bad = copy.deepcopy(api)
    bad["9"] = {"class_type": "NoSuchNode", "inputs": {}}
    del bad["3"]["inputs"]["images"]
    errors = "\n".join(wf.check_api(bad, classes))
    assert "NoSuchNode" in errors and "required input 'images' missing" in errors
    broken = copy.deepcopy(ui)
    broken["nodes"][2]["widgets_values"] = broken["nodes"][2]["widgets_values"][:-1]
    broken["links"][0][5] = "LATENT"
    errors = "\n".join(wf.check_ui(broken, classes))
    assert "widget values" in errors and "LATENT" in errors


@pytest.fixture
def comfy_with_weights(fake_comfy, tmp_path_factory):
    """Fake ComfyUI whose models/animeinterp holds test-made weights under the manifest's file names."""
    weights = tmp_path_factory.getbasetemp() / "workflow_weights"
    if not weights.exists():
        write_record(write_model_file(weights / "afi-atd12k-style.safetensors"), "afi-atd12k-style")
        write_record(write_vgg_file(weights / "vgg19.safetensors"), "vgg19")
    for f in weights.iterdir():
        (fake_comfy.models_dir / "animeinterp" / f.name).symlink_to(f)
    wf.SaveImage.saved.clear()
    wf.PreviewImage.shown.clear()
    yield fake_comfy
    from comfyui_animeinterp.nodes import model_cache

    model_cache.release_all()


def _input_frames(fake_comfy, frames):
    write_frames(Path(fake_comfy.models_dir).parent / "input" / "frames", frames)


def test_one_click_runs(comfy_with_weights):
    scene = random_scene(SIZE, SIZE, 3, max_shift=4)
    a, b = scene.frame(0.0), scene.frame(1.0)
    _input_frames(comfy_with_weights, [a, a, b, b])  # on twos
    _, api = _load("one_click_x2")
    outputs = wf.execute(api, wf.node_classes())
    (prefix, images), = wf.SaveImage.saved
    assert prefix == "AnimeInterp/x2" and images.shape == ((4 - 1) * 2 + 1, SIZE, SIZE, 3)
    assert outputs["3"][1] == 48.0  # fps: the loader's 24 x 2
    u8 = (images * 255).round().to(torch.uint8).numpy()
    np.testing.assert_array_equal(u8[0], a)
    np.testing.assert_array_equal(u8[4], b)


def test_step_by_step_runs(comfy_with_weights):
    scene = random_scene(SIZE, SIZE, 4, max_shift=4)
    frames = [scene.frame(0.0), scene.frame(1.0)]
    _input_frames(comfy_with_weights, frames)
    _, api = _load("step_by_step")
    outputs = wf.execute(api, wf.node_classes())
    assert len(wf.PreviewImage.shown) == 4  # segments, matches, coarse flow, refined flow
    assert outputs["9"][0].kind == "refined" and outputs["9"][0].pairs[0].source == "afi"
    (prefix, images), = wf.SaveImage.saved
    assert images.shape == (3, SIZE, SIZE, 3)
    u8 = (images * 255).round().to(torch.uint8).numpy()
    np.testing.assert_array_equal(u8[0], frames[0])
    np.testing.assert_array_equal(u8[2], frames[1])


def test_style_finetune_runs(comfy_with_weights):
    classes = wf.node_classes()
    assert "AnimeInterpStyleFinetune" in classes
    scene = random_scene(SIZE, SIZE, 5, max_shift=6)
    drawings = [scene.frame(t) for t in (0.0, 0.25, 0.5, 0.75, 1.0)]
    root = Path(comfy_with_weights.models_dir).parent / "input"
    write_frames(root / "style_frames", drawings)
    _input_frames(comfy_with_weights, drawings[:2])
    _, api = _load("style_finetune")
    api["2"]["inputs"].update(steps=1, crop=0, batch_size=1, init_flows="none", loss_preset="l1",
                              train="synthesis only", checkpoint_every=1)  # a tiny run
    assert wf.check_api(api, classes) == []
    outputs = wf.execute(api, classes)
    tuned, weights_path = outputs["2"]
    assert Path(weights_path).is_file() and weights_path.endswith("my_style.safetensors")
    listed = classes["AnimeInterpLoadModel"].INPUT_TYPES()["required"]["weights"][0]
    assert "finetuned/my_style.safetensors" in listed
    (prefix, images), = wf.SaveImage.saved
    assert prefix == "AnimeInterp/style" and images.shape == (3, SIZE, SIZE, 3)


def test_weight_free_runs_with_no_files_at_all(fake_comfy):
    """A fresh install: nothing in models/animeinterp and nothing to download (tests are offline)."""
    scene = random_scene(SIZE, SIZE, 6, max_shift=4)
    a, b = scene.frame(0.0), scene.frame(1.0)
    _input_frames(fake_comfy, [a, b])
    wf.SaveImage.saved.clear()
    _, api = _load("weight_free_x2")
    assert "AnimeInterpLoadModel" not in {n["class_type"] for n in api.values()}
    outputs = wf.execute(api, wf.node_classes())
    (prefix, images), = wf.SaveImage.saved
    assert prefix == "AnimeInterp/x2_weight_free" and images.shape == (3, SIZE, SIZE, 3)
    assert outputs["2"][1] == 48.0
    assert not any((fake_comfy.models_dir / "animeinterp").iterdir())  # nothing was fetched


def test_a_validation_error_is_said_once(input_folder):
    """ComfyUI lists a VALIDATE_INPUTS error once per input the method takes: every node takes at
    most one, so a bad value gives one message (it gave 4-8)."""
    classes = wf.node_classes()
    import inspect

    for name, cls in classes.items():
        validate = getattr(cls, "VALIDATE_INPUTS", None)
        if validate is not None:
            assert len(inspect.getfullargspec(validate).args) <= 2, name  # cls + one input
    _, api = _load("one_click_x2")
    for node, name, value in (("1", "path", "nowhere"), ("3", "schedule", "1, two"),
                              ("2", "weights", "missing.safetensors")):
        bad = copy.deepcopy(api)
        bad[node]["inputs"][name] = value
        errors = wf.check_api(bad, classes)
        assert len(errors) == 1, errors
