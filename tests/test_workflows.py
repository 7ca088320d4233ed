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
    wf.SaveVideo.saved.clear()
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
    (prefix, video, _, _), = wf.SaveVideo.saved
    images = video.images
    assert prefix == "AnimeInterp/x2" and images.shape == ((4 - 1) * 2 + 1, SIZE, SIZE, 3)
    assert outputs["3"][1] == 48.0  # fps: the loader's 24 x 2
    assert video.frame_rate == 48.0  # the video plays at the interpolated rate
    u8 = (images * 255).round().to(torch.uint8).numpy()
    # held drawings keep their time: drawing b, shown from 2/24 s in the source, is at 4/48 s
    np.testing.assert_array_equal(u8[0], a)
    np.testing.assert_array_equal(u8[round(2 / 24 * video.frame_rate)], b)
    assert not wf.SaveImage.saved


def test_the_one_click_examples_end_in_a_video_at_the_interpolated_rate():
    for name in ("one_click_x2", "weight_free_x2"):
        _, api = _load(name)
        interp = next(nid for nid, n in api.items() if n["class_type"] == "AnimeInterpolate")
        create = next(n for n in api.values() if n["class_type"] == "CreateVideo")
        assert create["inputs"]["images"] == [interp, 0] and create["inputs"]["fps"] == [interp, 1]
        (save,) = [n for n in api.values() if n["class_type"] == "SaveVideo"]
        assert save["inputs"]["video"][0] in api and save["inputs"]["filename_prefix"].startswith("AnimeInterp/")
    # the stand-ins declare what ComfyUI's own video nodes declare
    defs = generate.node_definitions()
    for name in ("CreateVideo", "SaveVideo"):
        assert _same_spec(getattr(wf, name).INPUT_TYPES(), defs[name]["input"]), name
        assert tuple(getattr(wf, name).RETURN_TYPES) == defs[name]["output"]


def _same_spec(a: dict, b: dict) -> bool:
    return json.loads(json.dumps(a)) == json.loads(json.dumps(b))


TITLE_H = 30
"""The editor draws a node's title bar above its ``pos``."""


def _boxes(workflow: dict) -> list[tuple[int, float, float, float, float]]:
    return [(n["id"], n["pos"][0], n["pos"][1] - TITLE_H, n["pos"][0] + n["size"][0], n["pos"][1] + n["size"][1])
            for n in workflow["nodes"]]


def _overlaps(workflow: dict) -> list[tuple[int, int]]:
    boxes = _boxes(workflow)
    found = []
    for i, (a, ax0, ay0, ax1, ay1) in enumerate(boxes):
        for b, bx0, by0, bx1, by1 in boxes[i + 1:]:
            if not (ax1 <= bx0 or bx1 <= ax0 or ay1 <= by0 or by1 <= ay0):
                found.append((a, b))
    return found


def test_no_two_nodes_overlap_in_any_example():
    for name in NAMES:
        ui, _ = _load(name)
        assert _overlaps(ui) == [], name


def test_the_overlap_check_sees_a_title_bar_under_a_node():
    ui, _ = _load("one_click_x2")
    first, second = ui["nodes"][0], ui["nodes"][1]
    second["pos"] = [first["pos"][0] + 10, first["pos"][1] + first["size"][1] + TITLE_H // 2]
    assert (first["id"], second["id"]) in _overlaps(ui)


def test_every_example_opens_readable_on_its_graph():
    for name in NAMES:
        ui, _ = _load(name)
        ds = ui["extra"]["ds"]
        assert 0.8 <= ds["scale"] <= 1.0, name  # text is drawn (it is not at 0.44)
        boxes = _boxes(ui)
        left, top = min(b[1] for b in boxes), min(b[2] for b in boxes)
        # the editor shows canvas point p at screen (p + offset) * scale: the graph's top left is in view
        sx, sy = (left + ds["offset"][0]) * ds["scale"], (top + ds["offset"][1]) * ds["scale"]
        assert 0 <= sx <= 100 and 0 <= sy <= 100, (name, sx, sy)
        for n in ui["nodes"]:  # no node sizes below what its sockets and widgets need
            assert n["size"][0] >= 300 and n["size"][1] >= 20 * len(n.get("widgets_values", [])), (name, n["id"])


def test_every_example_has_short_notes_on_what_to_change():
    for name in NAMES:
        ui, api = _load(name)
        notes = [n for n in ui["nodes"] if n["type"] in wf.NOTE_TYPES]
        assert notes, name
        for note in notes:
            (text,) = note["widgets_values"]
            assert 40 <= len(text) <= 320, (name, text)
        assert not {n["type"] for n in notes} & {n["class_type"] for n in api.values()}  # editor only


def test_a_workflow_saved_with_the_old_type_names_still_loads(input_folder):
    from comfyui_animeinterp.nodes import DEPRECATED_ALIASES

    classes = wf.node_classes()
    old = {new: old for old, new in DEPRECATED_ALIASES.items()}
    used = set()
    for name in NAMES:
        _, api = _load(name)
        renamed = copy.deepcopy(api)
        for node in renamed.values():
            node["class_type"] = old.get(node["class_type"], node["class_type"])
        assert wf.check_api(renamed, classes) == [], name
        used |= {n["class_type"] for n in renamed.values()}
    assert {"StyleFinetune", "LoadAnimeInterpModel"} <= used


def test_step_by_step_runs(comfy_with_weights):
    scene = random_scene(SIZE, SIZE, 4, max_shift=4)
    frames = [scene.frame(0.0), scene.frame(1.0)]
    _input_frames(comfy_with_weights, frames)
    _, api = _load("step_by_step")
    outputs = wf.execute(api, wf.node_classes())
    assert len(wf.PreviewImage.shown) == 4  # segments, matches, coarse flow, refined flow
    assert outputs["9"][0].kind == "refined" and outputs["9"][0].pairs[0].source == "afi"
    (_prefix, images), = wf.SaveImage.saved
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
    _tuned, weights_path = outputs["2"]
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
    wf.SaveVideo.saved.clear()
    _, api = _load("weight_free_x2")
    assert "AnimeInterpLoadModel" not in {n["class_type"] for n in api.values()}
    outputs = wf.execute(api, wf.node_classes())
    (prefix, video, _, _), = wf.SaveVideo.saved
    assert prefix == "AnimeInterp/x2_weight_free" and video.images.shape == (3, SIZE, SIZE, 3)
    assert outputs["2"][1] == 48.0 and video.frame_rate == 48.0
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
