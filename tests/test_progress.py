"""Checkpoints inside long loops: every stage reports, a fake interrupt stops the work at once
(from worker threads too), the node bar moves inside a unit (throttled, monotone), the trainer stops
mid-step."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from comfyui_animeinterp.core import progress
from comfyui_animeinterp.core.concurrency import map_threaded
from comfyui_animeinterp.core.data.synthetic import make_clip, random_scene
from comfyui_animeinterp.core.pipeline import Interpolator
from comfyui_animeinterp.core.sgm.run import SGMOptions


class FakeInterrupt(Exception):
    pass


@pytest.fixture(scope="module")
def pair():
    scene = random_scene(120, 160, 3, max_shift=6)
    return scene.frame(0.0), scene.frame(1.0)


def _record(into: list, raise_at: int | None = None):
    lock = threading.Lock()

    def callback(update: progress.Update) -> None:
        with lock:
            into.append((update.stage, threading.get_ident(), update))
            if raise_at is not None and len(into) > raise_at:
                raise FakeInterrupt(update.stage)

    return callback


def test_checkpoint_is_silent_without_a_listener_and_nests():
    progress.checkpoint("segment")  # nobody listens: nothing happens
    outer, inner = [], []
    with progress.reporting(_record(outer)):
        progress.checkpoint("match", 1, 2)
        with progress.reporting(_record(inner)):
            progress.checkpoint("refine")
        with progress.reporting(None):
            progress.checkpoint("refine")
        progress.checkpoint("synthesis")
    assert [s for s, *_ in outer] == ["match", "synthesis"] and [s for s, *_ in inner] == ["refine"]
    assert outer[0][2].fraction == 0.5 and progress.active() is None


def test_workers_see_the_callers_listener():
    seen = []
    with progress.reporting(_record(seen)):
        list(map_threaded(lambda x: progress.checkpoint("segment", x, 4), range(4), workers=2))
    assert len(seen) == 4
    assert len({tid for _, tid, _ in seen} - {threading.get_ident()}) >= 1  # ran on the workers


def test_every_stage_of_a_pair_reports(pair):
    seen = []
    interp = Interpolator(sgm=SGMOptions(features="colour"))
    with progress.reporting(_record(seen)):
        pair_state = interp.prepare(*pair)
        interp.frame_at(pair_state, 0.5)
    stages = [s for s, *_ in seen]
    assert set(progress.STAGES) <= set(stages)
    assert stages.count("segment") > 10  # inside the fill and merge loops, not once per frame
    previews = [u.preview for s, _, u in seen if u.preview is not None]
    assert len(previews) == 3  # segments, matches, coarse flow
    for make in previews:
        picture = make()
        assert picture.dtype == np.uint8 and picture.ndim == 3 and picture.shape[2] == 3


def test_a_fake_interrupt_stops_the_work_at_the_next_checkpoint(pair):
    seen = []
    interp = Interpolator(sgm=SGMOptions(features="colour"))
    with progress.reporting(_record(seen)):
        interp.prepare(*pair)
    total = len(seen)
    # cancel at checkpoints spread over the whole pair: the error reaches the caller every time
    # (from worker threads too), and nothing runs on after it but jobs already started
    for at in sorted({1, total // 4, total // 2, 3 * total // 4, total - 1}):
        after = []
        fresh = Interpolator(sgm=SGMOptions(features="colour"))  # no remembered segmentation
        with pytest.raises(FakeInterrupt), progress.reporting(_record(after, raise_at=at)):
            fresh.prepare(*pair)
        assert len(after) <= at + 1 + 8  # at most one more checkpoint per running worker


def test_flow_net_checks_every_iteration(pair):
    from comfyui_animeinterp.core.model import build_model

    torch.manual_seed(0)
    model = build_model("animeinterp").eval()
    interp = Interpolator(model, sgm=SGMOptions(features="colour"))
    seen = []
    with torch.inference_mode(), progress.reporting(_record(seen)):
        interp.prepare(*pair)
    refine = [u for s, _, u in seen if s == "refine"]
    assert len(refine) >= 2 * model.flow_net.compat.iterations  # both directions, every iteration
    first_refine = next(i for i, (s, *_) in enumerate(seen) if s == "refine")
    fresh = Interpolator(model, sgm=SGMOptions(features="colour"))
    with (pytest.raises(FakeInterrupt, match="refine"), torch.inference_mode(),
          progress.reporting(_record([], raise_at=first_refine))):
        fresh.prepare(*pair)
    # every network layer is a checkpoint too, through a hook that exists only while one listens
    from torch.nn.modules import module as torch_module

    assert sum(1 for s, *_ in seen if s == progress.NETWORK) > 10 * len(refine)
    assert not torch_module._global_forward_pre_hooks
    with (pytest.raises(FakeInterrupt, match=progress.NETWORK), torch.inference_mode(),
          progress.reporting(_record([], raise_at=first_refine + 1))):
        fresh.prepare(*pair)
    assert not torch_module._global_forward_pre_hooks


# --------------------------------------------------------------------------------- the node bar
def test_node_bar_moves_inside_a_unit_throttled_and_monotone(fake_comfy):
    from comfyui_animeinterp.nodes.progress import UPDATE_EVERY_S, NodeProgress

    now = [0.0]
    bar = NodeProgress(3, clock=lambda: now[0])
    bar.step(1, 3)
    for stage in progress.STAGES:
        for done in range(3):
            now[0] += UPDATE_EVERY_S
            bar(progress.Update(stage, done, 3))
    bar(progress.Update("segment", 0, 1))  # going back inside the unit does not move the bar
    now[0] += 0.01
    bar(progress.Update("synthesis", 3, 3))  # too soon after the last update: not sent
    values = [v for v, total in fake_comfy.progress]
    assert values == sorted(values) and all(total == 3 for _, total in fake_comfy.progress)
    inside = [v for v in values if 1 < v < 2]
    assert len(inside) >= len(progress.STAGES) * 2 and max(inside) < 2
    bar.step(2, 3)
    assert fake_comfy.progress[-1] == (2, 3)
    fake_comfy.cancel_now()
    with pytest.raises(Exception) as exc:
        bar(progress.Update("refine", 0, 1))
    assert type(exc.value).__name__ == "InterruptProcessingException"


def test_one_click_node_reports_sub_steps_and_cancels_inside_a_pair(fake_comfy, monkeypatch):
    from comfyui_animeinterp.nodes import progress as node_progress
    from comfyui_animeinterp.nodes.interpolate_node import AnimeInterpolate

    monkeypatch.setattr(node_progress, "UPDATE_EVERY_S", 0.0)
    monkeypatch.setattr(node_progress, "PREVIEW_EVERY_S", 0.0)
    frames = make_clip(2, 72, 128, seed=3, max_shift=6)
    images = torch.from_numpy(np.stack(frames)).float() / 255
    AnimeInterpolate().run(images, matching="colour")
    values = [v for v, _ in fake_comfy.progress]
    assert fake_comfy.progress[-1] == (3, 3) and values == sorted(values)
    assert len([v for v in values if 1 < v < 2]) >= 4  # segment, match, coarse flow, refine, ...
    # Cancel pressed during the pair's preparation: raised there, not after the next frame
    fake_comfy.progress.clear()
    fake_comfy.interrupt_after = fake_comfy.checks + 20
    with pytest.raises(Exception) as exc:
        AnimeInterpolate().run(images, matching="colour")
    assert type(exc.value).__name__ == "InterruptProcessingException"
    assert max(v for v, _ in fake_comfy.progress) < 2


# ----------------------------------------------------------------------------------- fine-tuning
def test_finetuning_stops_half_way_through_a_step(tmp_path):
    from comfyui_animeinterp.core.train import run_finetune

    from tests.support.model_files import write_model_file, write_vgg_file
    from tests.test_train_run import _argv, _config

    weights = (write_model_file(tmp_path / "base.safetensors", variant="animeinterp"),
               write_vgg_file(tmp_path / "vgg.safetensors"))
    config = _config(_argv(weights, tmp_path / "run"))
    asked = {"armed": False, "calls": 0}

    def on_progress(event):
        if event.phase == "train" and event.done == 1:
            asked["armed"] = True

    def should_stop():
        if not asked["armed"]:
            return False
        asked["calls"] += 1
        return asked["calls"] > 1  # not at the check after step 1: inside step 2

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = run_finetune(config, progress=on_progress, should_stop=should_stop)
    finally:
        torch.set_num_threads(threads)
    assert result.interrupted and result.steps_done == 1  # step 2 was abandoned half-way
    assert result.checkpoint_path.name == "step_00000001.pt" and result.export_path.is_file()
