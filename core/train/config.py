"""Fine-tuning configuration: one frozen dataclass, loss presets and stages, resume compatibility.

Stages split the run into step ranges with their own loss weights. The thesis trains with an
L1-oriented stage, then with the style loss; the default preset ``"thesis"`` does the same within
one run: the first half with ``(w_l1, w_vgg, w_gram) = (1.0, 1.0, 0.0)``, the second half with
``(1.0, 0.25, 40.0)``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from .losses import GRAM_NORMALISATIONS, LossWeights

MODULE_NAMES = ("flow_net", "features", "synthesis")
"""Sub-modules of :class:`..model.LearnedInterpolator` that can be trained or frozen."""


@dataclass(frozen=True)
class Stage:
    """A part of the run with fixed loss weights.

    Attributes:
        name: shown in logs.
        weights: the loss weights.
        steps: optimizer steps of this stage; ``None`` = a share of the run (``fraction``), and the
            last stage always runs to the end.
        fraction: share of the total steps when ``steps`` is None.
    """

    name: str
    weights: LossWeights
    steps: int | None = None
    fraction: float | None = None

    def __post_init__(self) -> None:
        if self.steps is not None and (not isinstance(self.steps, int) or self.steps < 0):
            raise InputError(f"stage {self.name!r}: steps must be an int >= 0, got {self.steps!r}")
        if self.fraction is not None and not 0 <= self.fraction <= 1:
            raise InputError(f"stage {self.name!r}: fraction must be in [0, 1], got {self.fraction}")


@dataclass(frozen=True)
class ResolvedStage:
    """A stage placed on the step axis: steps ``start <= s < end`` use ``weights``."""

    name: str
    start: int
    end: int
    weights: LossWeights


L1_STAGE_WEIGHTS = LossWeights(1.0, 1.0, 0.0)
STYLE_WEIGHTS = LossWeights(1.0, 0.25, 40.0)

PRESETS: dict[str, tuple[tuple[Stage, ...], str]] = {
    "thesis": ((Stage("l1+vgg", L1_STAGE_WEIGHTS, fraction=0.5), Stage("style", STYLE_WEIGHTS)), "thesis"),
    "style": ((Stage("style", STYLE_WEIGHTS),), "thesis"),
    "l1": ((Stage("l1", LossWeights(1.0, 0.0, 0.0)),), "thesis"),
    "afi-compat": ((Stage("style", STYLE_WEIGHTS),), "afi"),
}
"""Loss presets: stages and loss definition. ``"thesis"``: L1+VGG stage then style stage (half
each); ``"style"``: style loss only; ``"l1"``: L1 only; ``"afi-compat"``: the AFI code's style loss."""


def resolve_stages(stages: tuple[Stage, ...], total_steps: int) -> tuple[ResolvedStage, ...]:
    """Place ``stages`` on ``[0, total_steps)``; the last stage takes the remaining steps."""
    if not stages:
        raise InputError("at least one stage is needed")
    out, start = [], 0
    for i, stage in enumerate(stages):
        if i == len(stages) - 1:
            length = total_steps - start
        elif stage.steps is not None:
            length = stage.steps
        elif stage.fraction is not None:
            length = round(stage.fraction * total_steps)
        else:
            raise InputError(
                f"stage {stage.name!r} needs steps or a fraction (only the last stage runs to the end)"
            )
        length = max(0, min(length, total_steps - start))
        out.append(ResolvedStage(stage.name, start, start + length, stage.weights))
        start += length
    return tuple(out)


def stage_at(stages: tuple[ResolvedStage, ...], step: int) -> ResolvedStage:
    """The stage that optimizer step ``step`` (0-based) belongs to."""
    for stage in stages:
        if stage.start <= step < stage.end:
            return stage
    return stages[-1]


def parse_stage(text: str) -> Stage:
    """``"STEPS:L1,VGG,GRAM"`` or ``"NAME:STEPS:L1,VGG,GRAM"`` (STEPS may be ``rest``) -> Stage."""
    parts = text.split(":")
    if len(parts) == 2:
        parts = ["stage", *parts]
    if len(parts) != 3:
        raise InputError(f"stage {text!r}: expected [NAME:]STEPS:W_L1,W_VGG,W_GRAM, e.g. 500:1,0.25,40")
    name, steps_text, weights_text = parts
    try:
        steps = None if steps_text.strip().lower() == "rest" else int(steps_text)
        values = [float(v) for v in weights_text.split(",")]
    except ValueError:
        raise InputError(
            f"stage {text!r}: STEPS must be an integer or 'rest', weights three numbers"
        ) from None
    if len(values) != 3:
        raise InputError(f"stage {text!r}: expected three weights (L1, VGG, Gram), got {len(values)}")
    return Stage(name or "stage", LossWeights(*values), steps=steps)


@dataclass(frozen=True)
class FinetuneConfig:
    """Everything that defines a fine-tuning run (CLI flags and node inputs map onto it).

    Data: ``data`` (style folder: triplet folders, an image sequence, a video or a folder of
    them), ``resize`` (``(W, H)`` every frame is resized to, Lanczos, like the original 960×540;
    ``None`` keeps the native size; with ``resize_fit`` larger frames are only scaled down to fit
    inside ``(W, H)``, keeping their aspect ratio), ``crop`` (random square crop side, default 380), flips and
    temporal reversal, ``val_fraction``/``val_max`` (validation split, the last triplets in
    natural order), ``max_timing_skew`` (sequences: keep triplets whose middle drawing sits at
    ``|t - 0.5| <= skew``).

    Flows: ``flows`` is ``"cache"`` (SGM once per triplet, stored compactly in ``flow_cache``,
    default ``<out>/flow_cache``), ``"live"`` (SGM each time a sample is drawn; nothing stored) or
    ``"none"`` (no init flows, like AFI's QVI-960 stage). ``sgm_features``: ``"vgg"`` (published
    method, same VGG as the loss) or ``"colour"`` (weight-free).

    Optimisation: Adam without weight decay, ``lr`` (3e-6; the AFI runs used 1e-6),
    ``schedule`` (``"constant"`` as the thesis, or ``"cosine"``) with ``warmup_steps``,
    ``batch_size`` (global, over all processes), ``accumulation`` (micro-batches per step),
    ``train_modules`` (subset of :data:`MODULE_NAMES`; the others are frozen).

    Loss: ``preset`` (:data:`PRESETS`) or explicit ``stages``; ``loss_definition`` overrides the
    preset's (``"thesis"``/``"afi"``); ``gram_normalisation`` (:data:`.losses.GRAM_NORMALISATIONS`).

    Run: ``steps``, ``seed``, ``deterministic``, ``precision`` (``"auto"`` = bf16 autocast on CUDA,
    fp32 on CPU; ``"fp32"``; ``"bf16"``), ``device`` (``"auto"``, ``"cpu"``, ``"cuda"``...),
    ``checkpoint_every`` (steps), ``keep_checkpoints``, ``log_every`` (steps), ``val_every``
    (steps; ``None`` = once per epoch), ``num_workers`` (data-loading processes), ``threads``
    (CPU threads; ``None`` = leave as is), ``export_name`` (file in ``out``),
    ``activation_checkpointing`` (recompute activations in the backward pass: a lower memory peak,
    the same numbers; :mod:`.memory`).
    """

    data: str
    out: str
    weights: str = "afi-atd12k-style"
    vgg: str = "vgg19"
    steps: int = 1000
    preset: str = "thesis"
    stages: tuple[Stage, ...] | None = None
    loss_definition: str | None = None
    gram_normalisation: str = "locations"
    lr: float = 3e-6
    schedule: str = "constant"
    warmup_steps: int = 0
    batch_size: int = 4
    accumulation: int = 1
    crop: int | None = 380
    resize: tuple[int, int] | None = (960, 540)
    resize_fit: bool = False
    hflip: bool = True
    vflip: bool = True
    reverse: bool = True
    flows: str = "cache"
    flow_cache: str | None = None
    sgm_features: str = "vgg"
    sgm_preset: str = "japan"
    train_modules: tuple[str, ...] = MODULE_NAMES
    val_fraction: float = 0.1
    val_max: int = 32
    val_every: int | None = None
    max_timing_skew: float | None = 0.1
    seed: int = 0
    deterministic: bool = False
    precision: str = "auto"
    activation_checkpointing: bool = False
    device: str = "auto"
    checkpoint_every: int = 100
    keep_checkpoints: int = 2
    log_every: int = 25
    num_workers: int = 2
    threads: int | None = None
    export_name: str = "finetuned.safetensors"

    def __post_init__(self) -> None:
        _positive_int("steps", self.steps)
        _positive_int("batch_size", self.batch_size)
        _positive_int("accumulation", self.accumulation)
        _positive_int("checkpoint_every", self.checkpoint_every)
        _positive_int("keep_checkpoints", self.keep_checkpoints)
        _positive_int("log_every", self.log_every)
        if self.val_every is not None:
            _positive_int("val_every", self.val_every)
        if self.preset not in PRESETS and self.stages is None:
            raise InputError(f"unknown loss preset {self.preset!r}; choose one of {sorted(PRESETS)}")
        if self.loss_definition not in (None, "thesis", "afi"):
            raise InputError(f"loss_definition must be 'thesis' or 'afi', got {self.loss_definition!r}")
        if self.gram_normalisation not in GRAM_NORMALISATIONS:
            raise InputError(
                f"gram_normalisation must be one of {sorted(GRAM_NORMALISATIONS)}, "
                f"got {self.gram_normalisation!r}"
            )
        if not (isinstance(self.lr, (int, float)) and 0 < self.lr < 1):
            raise InputError(f"lr must be in (0, 1), got {self.lr!r}")
        if self.schedule not in ("constant", "cosine"):
            raise InputError(f"schedule must be 'constant' or 'cosine', got {self.schedule!r}")
        if self.warmup_steps < 0:
            raise InputError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if self.crop is not None and (not isinstance(self.crop, int) or self.crop < 8):
            raise InputError(f"crop must be an int >= 8 (or None for whole frames), got {self.crop!r}")
        if self.resize is not None and (len(self.resize) != 2 or min(self.resize) < 8):
            raise InputError(f"resize must be (width, height) >= 8 or None, got {self.resize!r}")
        if self.flows not in ("cache", "live", "none"):
            raise InputError(f"flows must be 'cache', 'live' or 'none', got {self.flows!r}")
        if self.sgm_features not in ("vgg", "colour"):
            raise InputError(f"sgm_features must be 'vgg' or 'colour', got {self.sgm_features!r}")
        unknown = [m for m in self.train_modules if m not in MODULE_NAMES]
        if unknown or not self.train_modules:
            raise InputError(
                f"train_modules must be a non-empty subset of {MODULE_NAMES}, got {self.train_modules}"
            )
        if not 0 <= self.val_fraction < 1:
            raise InputError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise InputError(f"precision must be 'auto', 'fp32' or 'bf16', got {self.precision!r}")
        if self.num_workers < 0:
            raise InputError(f"num_workers must be >= 0, got {self.num_workers}")
        if (
            not self.export_name.endswith(".safetensors")
            or "/" in self.export_name
            or "\\" in self.export_name
        ):
            raise InputError(
                f"export_name must be a plain file name ending in .safetensors, got {self.export_name!r}"
            )

    # -- derived --------------------------------------------------------------------------------
    @property
    def definition(self) -> str:
        """The loss definition in effect (explicit, else the preset's)."""
        if self.loss_definition is not None:
            return self.loss_definition
        return PRESETS[self.preset][1] if self.preset in PRESETS else "thesis"

    def stage_list(self) -> tuple[Stage, ...]:
        return self.stages if self.stages is not None else PRESETS[self.preset][0]

    def resolved_stages(self) -> tuple[ResolvedStage, ...]:
        return resolve_stages(self.stage_list(), self.steps)

    # -- serialisation ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (stages included as resolved step ranges)."""
        d = dataclasses.asdict(self)
        d["stages"] = None if self.stages is None else [_stage_dict(s) for s in self.stages]
        d["resolved_stages"] = [
            {"name": s.name, "start": s.start, "end": s.end, "weights": list(s.weights.as_tuple())}
            for s in self.resolved_stages()
        ]
        d["definition"] = self.definition
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FinetuneConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in known}
        if kwargs.get("stages") is not None:
            kwargs["stages"] = tuple(
                Stage(s["name"], LossWeights(*s["weights"]), s.get("steps"), s.get("fraction"))
                for s in kwargs["stages"]
            )
        for key in ("resize", "train_modules"):
            if kwargs.get(key) is not None:
                kwargs[key] = tuple(kwargs[key])
        return cls(**kwargs)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


# Fields that may change between a run and its resumption (they do not change what is computed).
RESUME_FREE_FIELDS = frozenset(
    {
        "data",
        "out",
        "weights",
        "vgg",
        "flow_cache",
        "steps",
        "stages",
        "preset",
        "checkpoint_every",
        "keep_checkpoints",
        "log_every",
        "num_workers",
        "threads",
        "export_name",
        "val_every",
        "device",
        "activation_checkpointing",
    }
)


def resume_differences(saved: FinetuneConfig, new: FinetuneConfig, done_steps: int) -> list[str]:
    """Why ``new`` cannot continue a run saved with ``saved`` after ``done_steps`` steps (empty = it can).

    Paths, logging and ``steps`` may change; the loss stages must agree on the steps already done
    and on the step where the run continues.
    """
    problems = []
    for f in dataclasses.fields(FinetuneConfig):
        if f.name in RESUME_FREE_FIELDS:
            continue
        a, b = getattr(saved, f.name), getattr(new, f.name)
        if a != b:
            problems.append(f"{f.name}: {a!r} in the checkpoint, {b!r} now")
    if new.steps < done_steps:
        problems.append(
            f"steps: the checkpoint already has {done_steps} steps, more than the {new.steps} asked"
        )
    if saved.definition != new.definition:
        problems.append(f"loss definition: {saved.definition!r} in the checkpoint, {new.definition!r} now")
    old_stages, new_stages = saved.resolved_stages(), new.resolved_stages()
    for s in range(min(done_steps + 1, new.steps)):
        a, b = stage_at(old_stages, s), stage_at(new_stages, s)
        if a.weights != b.weights:
            problems.append(
                f"loss stages: step {s} used weights {a.weights.as_tuple()} in the checkpoint, "
                f"{b.weights.as_tuple()} now"
            )
            break
    if saved.schedule == "cosine" and saved.steps != new.steps:
        problems.append("steps: a cosine schedule depends on the total steps; keep the same --steps")
    return problems


def _stage_dict(stage: Stage) -> dict[str, Any]:
    return {
        "name": stage.name,
        "weights": list(stage.weights.as_tuple()),
        "steps": stage.steps,
        "fraction": stage.fraction,
    }


def _positive_int(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InputError(f"{name} must be an integer >= 1, got {value!r}")
