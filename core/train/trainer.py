"""The fine-tuning loop: style set -> (SGM flows) -> Adam steps on the style loss -> checkpoints,
validation curves and an exported safetensors file.

``run_finetune(config)`` does, in order (every failure before step 1 is a clear error, raised
before any training):

1. join the process group if launched by torchrun (:mod:`.distributed`);
2. open and scan the style set (:mod:`.style_set`), split off the validation triplets;
3. load the base weights and the VGG-19 (one file for the loss and SGM);
4. compute the missing SGM init flows into the cache (:mod:`.flow_cache`), shared over processes;
5. resume from the newest checkpoint if asked (:mod:`.checkpoint`);
6. train: per step ``accumulation`` micro-batches of the global ``batch_size``, loss weights from
   the current stage, Adam, the LR schedule; log, validate once per epoch, checkpoint every
   ``checkpoint_every`` steps;
7. export ``<out>/<export_name>`` with provenance metadata (:mod:`.export`) and plot the curves.

Output folder: ``config.json``, ``metrics.csv``, ``curves.png``, ``checkpoints/step_*.pt``,
``flow_cache/`` (unless elsewhere), ``style_triplets/`` (sequences cut into triplets), the export.
Ctrl-C, SIGTERM or ``should_stop()`` end the run after the current step with a checkpoint and an
export (:mod:`.interrupt`).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import torch
import torch.utils.data

from .. import progress as checkpoints
from ..errors import AnimeInterpError, DataError, InputError
from ..features.networks import load_feature_network
from ..features.vgg19 import VGG19Features
from ..model import LearnedInterpolator, load_model
from ..sgm.run import SGMOptions
from . import distributed as dist_utils
from .augment import AugmentOptions
from .checkpoint import (
    TrainingState,
    capture_rng,
    list_checkpoints,
    load_latest,
    restore_rng,
    save_checkpoint,
)
from .config import FinetuneConfig, ResolvedStage, resume_differences, stage_at
from .export import export_weights, state_sha256
from .flow_cache import FlowCache
from .history import MetricsLog, plot_curves
from .interrupt import StopRequest, is_interrupt, stop_on_signals
from .losses import StyleLoss
from .memory import activation_checkpointing
from .samples import FlowSource, TrainingSamples, ValidationSamples, load_resized
from .sampling import MicroBatches, SampleStream
from .style_set import StyleSet, StyleTriplet, open_style_set
from .validate import validate

log = logging.getLogger(__name__)

ResumeMode = Literal[False, True, "auto"]


class TrainingError(AnimeInterpError):
    """Training cannot go on (e.g. the loss became NaN)."""


@dataclass
class ProgressEvent:
    """Progress of one phase: ``"scan"`` (reading the style set), ``"flows"`` (SGM), ``"train"``
    (optimizer steps; ``metrics`` holds the step's loss terms and lr), ``"validate"`` (``metrics``
    holds the validation results)."""

    phase: str
    done: int
    total: int
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass
class FinetuneResult:
    """What a run produced. ``model`` is the fine-tuned model (eval mode, on the training device)."""

    model: LearnedInterpolator
    export_path: Path | None
    checkpoint_path: Path | None
    steps_done: int
    total_steps: int
    interrupted: bool
    metrics_path: Path
    plot_path: Path | None
    validation: dict[str, float]
    data: dict[str, Any]
    seconds_per_step: float | None = None


def run_finetune(
    config: FinetuneConfig,
    *,
    resume: ResumeMode = False,
    model: LearnedInterpolator | None = None,
    vgg: VGG19Features | None = None,
    progress: Callable[[ProgressEvent], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> FinetuneResult:
    """Fine-tune per ``config`` (see the module docstring).

    Args:
        resume: False = a new run (refuses an ``out`` folder that already holds checkpoints);
            True = continue from the newest checkpoint (error if none); "auto" = continue if one exists.
        model: an already loaded model to start from (copied; the caller's instance is not touched);
            default: load ``config.weights``.
        vgg: an already loaded VGG-19; default: load ``config.vgg`` when the loss or SGM needs it.
        progress: called with :class:`ProgressEvent` s (main process only).
        should_stop: polled after every step; True ends the run like Ctrl-C (checkpoint + export).

    Raises:
        DataError: no usable triplet; InputError / WeightsError: bad settings or weights, a resume
        that does not fit; TrainingError: non-finite loss.
    """
    # ComfyUI runs nodes under torch.inference_mode(): training needs autograd back.
    with torch.inference_mode(False), torch.enable_grad(), _process_settings(config):
        ctx = dist_utils.init_distributed(config.device)
        try:
            run = _Run(config, ctx, progress, should_stop)
            return run.execute(resume, model, vgg)
        finally:
            dist_utils.shutdown(ctx)


class _Run:
    """One fine-tuning run in one process (the steps of :func:`run_finetune`)."""

    def __init__(
        self,
        config: FinetuneConfig,
        ctx: dist_utils.DistContext,
        progress: Callable[[ProgressEvent], None] | None,
        should_stop: Callable[[], bool] | None,
    ):
        self.config, self.ctx = config, ctx
        self.progress = progress if ctx.is_main else None
        self.should_stop = should_stop
        self.out = Path(config.out)
        self.stages = config.resolved_stages()
        self.augment = AugmentOptions(
            config.resize, config.crop, config.hflip, config.vflip, config.reverse, fit=config.resize_fit
        )
        self.log = MetricsLog(self.out / "metrics.csv")
        self.started = time.perf_counter()
        self.base_info: dict[str, Any] = {}

    # -- orchestration -------------------------------------------------------------------------------
    def execute(
        self, resume: ResumeMode, model: LearnedInterpolator | None, vgg: VGG19Features | None
    ) -> FinetuneResult:
        cfg = self.config
        if cfg.batch_size % self.ctx.world_size:
            raise InputError(
                f"batch_size {cfg.batch_size} must be a multiple of the number of processes "
                f"({self.ctx.world_size}): it is the global batch"
            )
        amp = self._autocast_dtype()
        saved = self._find_checkpoint(resume)
        style, train_items, val_items = self._prepare_data()
        model, vgg = self._load_networks(model, vgg)
        flow_source = self._prepare_flows(vgg, train_items, val_items)

        model = model.to(self.ctx.device)
        trainable = self._freeze(model)
        optimizer = torch.optim.Adam(trainable, lr=cfg.lr, weight_decay=0.0)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, self._lr_factor)
        loss_fn = StyleLoss(
            vgg.to(self.ctx.device) if vgg is not None else None, cfg.definition, cfg.gram_normalisation
        )
        run_facts = {
            "data_fingerprint": style.fingerprint(train_items + val_items),
            "train_triplets": len(train_items),
            "val_triplets": len(val_items),
            "base": self.base_info,
        }
        start = 0
        if saved is not None:
            start = self._restore(saved, model, optimizer, scheduler, run_facts)
        elif self.ctx.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "config.json").write_text(cfg.to_json(), encoding="utf-8")
            if self.log.path.exists():
                self.log.path.unlink()
        dist_utils.barrier(self.ctx)

        net = dist_utils.wrap_model(self.ctx, model)
        stream = SampleStream(len(train_items), cfg.batch_size, cfg.accumulation, cfg.seed)
        train_data = TrainingSamples(train_items, self.augment, flow_source, cfg.seed)
        val_loader = self._val_loader(val_items, flow_source)
        loop = _Loop(self, net, model, optimizer, scheduler, loss_fn, stream, amp, run_facts)
        if start == 0 and val_loader is not None and self.ctx.is_main:
            loop.validate(val_loader, step=0)
        loader = self._train_loader(train_data, stream, start)
        if self.progress is not None:
            self.progress(
                ProgressEvent("train", start, cfg.steps, {"stage": stage_at(self.stages, start).name})
            )
        stop = StopRequest()
        with stop_on_signals(stop), activation_checkpointing(model, cfg.activation_checkpointing):
            steps_done, interrupted = loop.train(iter(loader), start, val_loader, stop)
        return self._finish(loop, model, steps_done, interrupted, style, val_loader)

    # -- 1. checkpoints present? ---------------------------------------------------------------------
    def _find_checkpoint(self, resume: ResumeMode) -> tuple[TrainingState, Path] | None:
        folder = self.out / "checkpoints"
        existing = list_checkpoints(folder)
        if resume is False:
            if existing:
                raise InputError(
                    f"{self.out} already holds a run ({len(existing)} checkpoint(s), newest at step "
                    f"{existing[-1][0]}); resume it (--resume) or choose another output folder"
                )
            return None
        found = load_latest(folder)
        if found is None and resume is True:
            raise InputError(f"nothing to resume: no readable checkpoint in {folder}")
        return found

    # -- 2. data ---------------------------------------------------------------------------------------
    def _prepare_data(self) -> tuple[StyleSet, list[StyleTriplet], list[StyleTriplet]]:
        """Main process: open, cut and scan the style set; the others receive the result."""
        cfg = self.config
        payload: Any
        if self.ctx.is_main:
            try:
                style = open_style_set(cfg.data, self.out, max_timing_skew=cfg.max_timing_skew)
                report = self._phase("scan")
                if report is not None:
                    report(0, len(style.triplets))
                style.scan(progress=report)
                train, val = style.split(cfg.val_fraction, cfg.val_max)
                self._check_sizes(style, train)
                payload = (style, train, val)
            except AnimeInterpError as e:
                payload = e
        else:
            payload = None
        payload = dist_utils.broadcast_object(self.ctx, payload)
        if isinstance(payload, Exception):
            raise payload
        return payload

    def _check_sizes(self, style: StyleSet, train: list[StyleTriplet]) -> None:
        cfg = self.config
        if (
            cfg.crop is None
            and (cfg.resize is None or cfg.resize_fit)
            and cfg.batch_size // self.ctx.world_size > 1
        ):
            sizes = {style.sizes[t.name] for t in train}
            if len(sizes) > 1:
                raise DataError(
                    f"the style set has frames of {len(sizes)} sizes; with whole frames (no crop) "
                    "and batches > 1 per process set a resize size or a crop"
                )

    # -- 3. networks ----------------------------------------------------------------------------------
    def _load_networks(
        self, model: LearnedInterpolator | None, vgg: VGG19Features | None
    ) -> tuple[LearnedInterpolator, VGG19Features | None]:
        cfg = self.config
        if model is not None:
            if not isinstance(model, LearnedInterpolator):
                raise InputError(f"model: expected a LearnedInterpolator, got {type(model).__name__}")
            model = copy.deepcopy(model).to("cpu")
            self.base_info = {
                "weights": "in-memory model",
                "variant": model.variant,
                "state_sha256": state_sha256(model),
            }
        else:
            path = _resolve(cfg.weights)
            model = load_model(path, "cpu")
            self.base_info = {
                "weights": cfg.weights,
                "file": path.name,
                "variant": model.variant,
                "state_sha256": state_sha256(model),
            }
        model.autocast_dtype = None
        needs_vgg = any(s.weights.needs_vgg for s in self.stages) or (
            cfg.flows != "none" and cfg.sgm_features == "vgg"
        )
        if vgg is None and needs_vgg:
            vgg = load_feature_network(_resolve(cfg.vgg))
        elif vgg is not None and any(p.is_inference() for p in vgg.parameters()):
            vgg = copy.deepcopy(vgg)  # loaded under inference mode: autograd cannot pass through it
        return model, vgg

    # -- 4. flows ---------------------------------------------------------------------------------------
    def _prepare_flows(
        self, vgg: VGG19Features | None, train: list[StyleTriplet], val: list[StyleTriplet]
    ) -> FlowSource:
        """Flows for every triplet at the size it is loaded at; in cache mode all are computed now
        (shared out over the processes), so the data loaders only read the cache."""
        cfg = self.config
        if cfg.flows == "none":
            return FlowSource("none")
        options = SGMOptions(preset=cfg.sgm_preset, features=cfg.sgm_features)
        sgm_vgg = vgg if cfg.sgm_features == "vgg" else None
        if cfg.flows == "live":  # computed in the data loader (possibly worker processes): CPU copy
            return FlowSource(
                "live", options=options, vgg=copy.deepcopy(sgm_vgg).to("cpu") if sgm_vgg else None
            )
        folder = Path(cfg.flow_cache) if cfg.flow_cache else self.out / "flow_cache"
        cache = FlowCache(folder, options, sgm_vgg, self.ctx.device)
        val_options = replace(self.augment, crop=None)
        work = [(it, self.augment) for it in train] + [(it, val_options) for it in val]
        mine = work[self.ctx.rank :: self.ctx.world_size]
        report = self._phase("flows")
        if report is not None:
            report(0, len(mine))
        for i, (item, options_) in enumerate(mine):
            frames = load_resized(item, options_)
            cache.get(frames[0], frames[2])
            if report is not None:
                report(i + 1, len(mine))
        if cache.computed:
            log.info("computed %d SGM flow pairs into %s", cache.computed, folder)
        dist_utils.barrier(self.ctx)
        return FlowSource("cache", cache=FlowCache(folder, options, read_only=True))

    # -- 5. resume -----------------------------------------------------------------------------------
    def _restore(self, saved: tuple[TrainingState, Path], model, optimizer, scheduler, run_facts) -> int:
        state, path = saved
        old = FinetuneConfig.from_dict(state.config)
        problems = resume_differences(old, self.config, state.step)
        if state.run.get("data_fingerprint") != run_facts["data_fingerprint"]:
            problems.append("the style set differs from the one the checkpoint was trained on")
        if problems:
            raise InputError(f"cannot resume {path}: " + "; ".join(problems)
                             + f". To start a new run, choose another run name or output folder "
                             f"(or delete {path.parent.parent})")
        model.load_state_dict(state.model)
        optimizer.load_state_dict(state.optimizer)
        scheduler.load_state_dict(state.scheduler)
        restore_rng(state.rng)
        run_facts["base"] = state.run.get("base", run_facts["base"])
        self.base_info = run_facts["base"]
        if self.ctx.is_main:
            self.log.truncate_after(state.step)
            (self.out / "config.json").write_text(self.config.to_json(), encoding="utf-8")
        log.info("resumed %s at step %d", path, state.step)
        return state.step

    # -- 6. loaders and helpers ---------------------------------------------------------------------------
    def _train_loader(
        self, data: TrainingSamples, stream: SampleStream, start: int
    ) -> torch.utils.data.DataLoader:
        sampler = MicroBatches(stream, start, self.config.steps, self.ctx.rank, self.ctx.world_size)
        workers = self.config.num_workers
        return torch.utils.data.DataLoader(
            data,
            batch_sampler=sampler,
            num_workers=workers,
            pin_memory=self.ctx.device.type == "cuda",
            persistent_workers=False,
            prefetch_factor=2 if workers else None,
        )

    def _val_loader(self, items: list[StyleTriplet], flows: FlowSource) -> torch.utils.data.DataLoader | None:
        if not items or not self.ctx.is_main:
            return None
        return torch.utils.data.DataLoader(ValidationSamples(items, self.augment, flows), batch_size=1)

    def _autocast_dtype(self) -> torch.dtype | None:
        precision, device = self.config.precision, self.ctx.device
        if precision == "fp32":
            return None
        if device.type != "cuda":
            if precision == "bf16":
                raise InputError("bf16 autocast needs CUDA; use precision 'fp32' (or 'auto') on the CPU")
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None

    def _freeze(self, model: LearnedInterpolator) -> list[torch.nn.Parameter]:
        model.requires_grad_(False)
        params = []
        for name in self.config.train_modules:
            module = getattr(model, name)
            module.requires_grad_(True)
            params += list(module.parameters())
        model.train()
        return params

    def _lr_factor(self, step: int) -> float:
        cfg = self.config
        if cfg.warmup_steps and step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        if cfg.schedule == "cosine":
            span = max(1, cfg.steps - cfg.warmup_steps)
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - cfg.warmup_steps) / span)))
        return 1.0

    def _phase(self, name: str) -> Callable[[int, int], None] | None:
        if self.progress is None:
            return None
        return lambda done, total: self.progress(ProgressEvent(name, done, total))

    # -- 7. the end -----------------------------------------------------------------------------------
    def _finish(
        self,
        loop: _Loop,
        model: LearnedInterpolator,
        steps_done: int,
        interrupted: bool,
        style: StyleSet,
        val_loader,
    ) -> FinetuneResult:
        export_path = plot_path = None
        if self.ctx.is_main:
            if (
                not interrupted
                and loop.last_validation_step != steps_done
                and val_loader is not None
                and steps_done > 0
            ):
                loop.validate(val_loader, steps_done)
            export_path = export_weights(
                model,
                self.out / self.config.export_name,
                self._metadata(steps_done, interrupted, style, loop),
            )
            plot_path = plot_curves(
                self.log.rows(),
                self.out / "curves.png",
                title=f"fine-tuning {Path(str(self.base_info.get('weights', ''))).name} on "
                f"{Path(self.config.data).name}",
            )
        dist_utils.barrier(self.ctx)
        model.eval()
        model.requires_grad_(False)
        return FinetuneResult(
            model,
            export_path,
            loop.last_checkpoint,
            steps_done,
            self.config.steps,
            interrupted,
            self.log.path,
            plot_path,
            loop.last_validation,
            style.summary(),
            loop.seconds_per_step(),
        )

    def _metadata(self, steps_done: int, interrupted: bool, style: StyleSet, loop: _Loop) -> dict[str, Any]:
        cfg = self.config
        return {
            "finetune_base": self.base_info,
            "finetune_data": {
                **style.summary(),
                "train": loop.stream.n_items,
                "flows": cfg.flows,
                "sgm_features": cfg.sgm_features,
                "resize": cfg.resize,
                "crop": cfg.crop,
            },
            "finetune_loss": {
                "definition": cfg.definition,
                "gram_normalisation": cfg.gram_normalisation,
                "stages": [
                    {"name": s.name, "start": s.start, "end": s.end, "weights": list(s.weights.as_tuple())}
                    for s in self.stages
                ],
            },
            "finetune_steps": str(steps_done),
            "finetune_interrupted": "true" if interrupted else "false",
            "finetune_validation": loop.last_validation,
            "finetune_config": cfg.to_dict(),
        }


class _Loop:
    """The optimizer-step loop of a prepared run."""

    def __init__(
        self,
        run: _Run,
        net,
        model,
        optimizer,
        scheduler,
        loss_fn: StyleLoss,
        stream: SampleStream,
        amp: torch.dtype | None,
        run_facts: dict[str, Any],
    ):
        self.run, self.net, self.model = run, net, model
        self.optimizer, self.scheduler, self.loss_fn = optimizer, scheduler, loss_fn
        self.stream, self.amp, self.run_facts = stream, amp, run_facts
        self.device = run.ctx.device
        self.last_checkpoint: Path | None = None
        self.last_saved_step = -1
        self.last_validation: dict[str, float] = {}
        self.last_validation_step = -1
        self._pending: list[dict[str, float]] = []
        self._step_times: list[float] = []

    def train(
        self, batches: Iterator[dict[str, torch.Tensor]], start: int, val_loader, stop: StopRequest
    ) -> tuple[int, bool]:
        cfg, ctx = self.run.config, self.run.ctx
        step = start
        in_update = False

        def wants_stop() -> bool:
            return stop.requested or bool(self.run.should_stop and self.run.should_stop())

        # a stop request also ends a step half-way (at the next checkpoint inside the networks),
        # except the run's first step, so that every run (and every resume) moves on; with several
        # processes only between steps, where they all agree
        mid_step = checkpoints.stop_when(wants_stop) if ctx.world_size == 1 else None
        try:
            while step < cfg.steps:
                t0 = time.perf_counter()
                stage = stage_at(self.run.stages, step)
                try:
                    with checkpoints.reporting(mid_step if step > start else None):
                        metrics = self._accumulate(batches, stage, step)
                except checkpoints.Cancelled:
                    self.optimizer.zero_grad(set_to_none=True)  # drop the half-done step
                    if step > self.last_saved_step:
                        self.save(step)
                    log.warning("stopped during step %d of %d; checkpoint %s", step + 1, cfg.steps,
                                self.last_checkpoint)
                    return step, True
                metrics["lr"] = self.optimizer.param_groups[0]["lr"]  # the rate of this update
                in_update = True
                self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
                self.scheduler.step()
                in_update = False
                step += 1
                self._step_times.append(time.perf_counter() - t0)
                self._pending.append(metrics)
                self._after_step(step, stage, metrics, val_loader)
                if dist_utils.any_process(ctx, wants_stop()):
                    self.save(step)
                    log.warning(
                        "stopped at step %d of %d (%s); checkpoint %s",
                        step,
                        cfg.steps,
                        stop.reason or "cancelled",
                        self.last_checkpoint,
                    )
                    return step, True
                if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                    self.save(step)
        except BaseException as e:
            # An interruption between updates leaves model and optimizer at the last finished step.
            if is_interrupt(e) and not in_update and step > self.last_saved_step and step > start:
                self.save(step)
            raise
        return step, False

    def _accumulate(
        self, batches: Iterator[dict[str, torch.Tensor]], stage: ResolvedStage, step: int
    ) -> dict[str, float]:
        cfg = self.run.config
        sums: dict[str, float] = {}
        for micro in range(cfg.accumulation):
            batch = next(batches)
            f1, f2, f3, flow13, flow31, t = (
                batch[k].to(self.device, non_blocking=True)
                for k in ("frame1", "frame2", "frame3", "flow13", "flow31", "t")
            )
            with dist_utils.no_sync(self.net, micro < cfg.accumulation - 1):
                amp = (
                    torch.autocast(device_type=self.device.type, dtype=self.amp)
                    if self.amp is not None
                    else contextlib.nullcontext()
                )
                with amp:
                    prediction = self.net(f1, f3, flow13, flow31, t)[0]
                terms = self.loss_fn(prediction.float(), f2, stage.weights)
                if not torch.isfinite(terms.total):
                    raise TrainingError(
                        f"the loss became {float(terms.total)} at step {step + 1}; "
                        f"the last good checkpoint is {self.last_checkpoint}"
                    )
                (terms.total / cfg.accumulation).backward()
            for name, value in terms.as_floats().items():
                if value is not None:
                    sums[name] = sums.get(name, 0.0) + value / cfg.accumulation
        return sums

    def _after_step(self, step: int, stage: ResolvedStage, metrics: dict[str, float], val_loader) -> None:
        cfg, ctx = self.run.config, self.run.ctx
        epoch_end = self.stream.epoch_ends_in_step(step - 1)
        stage_ends = step < cfg.steps and stage_at(self.run.stages, step).start != stage.start
        log_now = step % cfg.log_every == 0 or epoch_end is not None or step == cfg.steps or stage_ends
        if log_now:
            self._log_train(step, stage)
        if self.run.progress is not None:
            self.run.progress(ProgressEvent("train", step, cfg.steps, {**metrics, "stage": stage.name}))
        due = (step % cfg.val_every == 0) if cfg.val_every else (epoch_end is not None)
        if due and val_loader is not None and ctx.is_main:
            self.validate(val_loader, step)

    def _log_train(self, step: int, stage: ResolvedStage) -> None:
        if not self._pending:
            return
        names = sorted(set.intersection(*(set(m) for m in self._pending)))  # one stage: the same terms
        means = [sum(m[k] for m in self._pending) / len(self._pending) for k in names]
        means = dist_utils.all_mean(self.run.ctx, means)
        self._pending = []
        if self.run.ctx.is_main:
            row = dict(zip(names, means))
            self.run.log.append(
                {
                    **row,
                    "step": step,
                    "epoch": round(self.stream.epoch_after(step), 4),
                    "stage": stage.name,
                    "split": "train",
                    "seconds": round(time.perf_counter() - self.run.started, 2),
                }
            )

    def validate(self, loader, step: int) -> None:
        stage = stage_at(self.run.stages, max(0, step - 1))
        result = validate(
            dist_utils.unwrap(self.net), self.loss_fn, loader, stage.weights, self.device, self.amp
        )
        self.last_validation, self.last_validation_step = result, step
        self.run.log.append(
            {
                **result,
                "step": step,
                "epoch": round(self.stream.epoch_after(step), 4),
                "stage": stage.name,
                "split": "val",
                "lr": self.optimizer.param_groups[0]["lr"],
                "seconds": round(time.perf_counter() - self.run.started, 2),
            }
        )
        if self.run.progress is not None:
            self.run.progress(ProgressEvent("validate", step, self.run.config.steps, result))

    def save(self, step: int) -> None:
        if step == self.last_saved_step:
            return
        self.last_saved_step = step
        if not self.run.ctx.is_main:
            return
        state = TrainingState(
            step,
            dist_utils.unwrap(self.net).state_dict(),
            self.optimizer.state_dict(),
            self.scheduler.state_dict(),
            capture_rng(),
            self.run.config.to_dict(),
            self.run_facts,
        )
        self.last_checkpoint = save_checkpoint(
            self.run.out / "checkpoints", state, self.run.config.keep_checkpoints
        )

    def seconds_per_step(self) -> float | None:
        times = sorted(self._step_times[1:] or self._step_times)
        return times[len(times) // 2] if times else None


def _resolve(name_or_path: str) -> Path:
    from ..weights.resolve import resolve_weight

    return resolve_weight(name_or_path)


@contextlib.contextmanager
def _process_settings(config: FinetuneConfig) -> Iterator[None]:
    """Threads, determinism and seeds for the run; all restored afterwards, random-number generators
    included (the node runs inside ComfyUI's process)."""
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    cudnn_benchmark = torch.backends.cudnn.benchmark
    rng = capture_rng()
    if config.threads:
        torch.set_num_threads(config.threads)
    if config.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    torch.manual_seed(config.seed)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        torch.backends.cudnn.benchmark = cudnn_benchmark
        restore_rng(rng)
