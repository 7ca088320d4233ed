"""``animeinterp finetune``: teach the interpolator a show's style from its own frames.

Wire it into the main parser with :func:`add_finetune_parser` (``core/cli.py``). It also runs on
its own: ``python -m comfyui_animeinterp.core.cli.finetune finetune ...``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, ClassVar

from ..errors import AnimeInterpError

EXIT_INTERRUPTED = 130

_EPILOG = """\
data (--data): a folder of triplet folders (ATD-12K training layout: <name>/frame1, frame2, frame3),
an image sequence, a video, or a folder of them (cut into triplets of distinct drawings; held frames
and scene cuts are skipped), or synthetic[:COUNT][:WxH].

loss: --preset thesis = first half L1+VGG (1, 1, 0), second half style (1, 0.25, 40); or give stages
explicitly, e.g. --stage l1:500:1,1,0 --stage style:rest:1,0.25,40. --loss-definition afi
reproduces the AFI code's loss (224x224 inputs, skipped VGG convs, unnormalised Gram).

outputs in --out: finetuned.safetensors (load it like any weight file), metrics.csv, curves.png,
checkpoints/step_*.pt, config.json, flow_cache/. Ctrl-C stops after the current step and saves a
checkpoint; continue with the same command plus --resume.

several processes / GPUs (PyTorch DDP; --batch-size is the global batch):
  torchrun --nproc-per-node 2 -m comfyui_animeinterp.core.cli finetune --data ... --out ...
"""


def add_finetune_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``finetune`` sub-command on ``subparsers``; returns its parser."""
    from ..train.config import MODULE_NAMES, PRESETS
    from ..train.losses import GRAM_NORMALISATIONS

    p = subparsers.add_parser(
        "finetune",
        help="fine-tune the interpolator on a show's frames with the style loss",
        description="Style-loss fine-tuning (AnimeInterp + GMA, AFI thesis).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    req = p.add_argument_group("required")
    req.add_argument("--data", required=True, help="style folder, sequence, video or synthetic[:N][:WxH]")
    req.add_argument("--out", required=True, help="output folder of the run")
    p.add_argument("--weights", default="afi-atd12k-style", help="base weights: manifest name or path")
    p.add_argument("--vgg", default="vgg19", help="VGG weights (loss and SGM): vgg19 (default), vgg16 (thesis loss only) or a path")
    p.add_argument("--steps", type=int, default=1000, help="optimizer steps in total (default 1000)")
    p.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its newest checkpoint"
    )

    loss = p.add_argument_group("loss")
    loss.add_argument(
        "--preset", choices=sorted(PRESETS), default="thesis", help="loss stages (default thesis)"
    )
    loss.add_argument(
        "--stage",
        action="append",
        metavar="[NAME:]STEPS:L1,VGG,GRAM",
        help="explicit stage (repeatable; STEPS may be 'rest'); overrides --preset's stages",
    )
    loss.add_argument(
        "--loss-definition",
        choices=("thesis", "afi"),
        default=None,
        help="thesis (default) or afi (the AFI code's computation)",
    )
    loss.add_argument(
        "--gram-norm",
        choices=sorted(GRAM_NORMALISATIONS),
        default="locations",
        help="Gram normalisation of the thesis definition (default locations = /(H*W))",
    )

    opt = p.add_argument_group("optimisation")
    opt.add_argument("--lr", type=float, default=3e-6, help="Adam learning rate (default 3e-6)")
    opt.add_argument("--schedule", choices=("constant", "cosine"), default="constant")
    opt.add_argument("--warmup", type=int, default=0, metavar="STEPS", help="linear LR warm-up steps")
    opt.add_argument("--batch-size", type=int, default=4, help="global batch size (over all processes)")
    opt.add_argument("--accumulation", type=int, default=1, help="micro-batches per optimizer step")
    opt.add_argument(
        "--freeze",
        default="",
        metavar="MODULES",
        help=f"comma-separated modules not to train: {', '.join(MODULE_NAMES)}",
    )

    data = p.add_argument_group("data and augmentation")
    data.add_argument(
        "--resize",
        default="960x540",
        help="WxH frames are resized to (default 960x540, as the "
        "thesis), fit:WxH (only scale larger frames down to fit, keeping the aspect), or 'native'",
    )
    data.add_argument(
        "--crop", type=int, default=380, help="random square crop side; 0 = whole frames (default 380)"
    )
    data.add_argument("--no-hflip", action="store_true", help="no random horizontal flips")
    data.add_argument(
        "--no-vflip", action="store_true", help="no random vertical flips (the AFI code had none)"
    )
    data.add_argument("--no-reverse", action="store_true", help="no random temporal reversal")
    data.add_argument(
        "--flows",
        choices=("cache", "live", "none"),
        default="cache",
        help="SGM init flows: cached on disk (default), computed per sample, or none",
    )
    data.add_argument(
        "--flow-cache", default=None, metavar="DIR", help="flow cache folder (default OUT/flow_cache)"
    )
    data.add_argument("--sgm-features", choices=("vgg", "colour"), default="vgg")
    data.add_argument("--sgm-preset", choices=("japan", "disney"), default="japan")
    data.add_argument("--val-fraction", type=float, default=0.1, help="share of triplets for validation")
    data.add_argument("--val-max", type=int, default=32, help="at most this many validation triplets")
    data.add_argument(
        "--val-every",
        type=int,
        default=None,
        metavar="STEPS",
        help="validate every N steps (default: once per epoch)",
    )
    data.add_argument(
        "--max-timing-skew",
        type=float,
        default=0.1,
        help="sequences: keep triplets whose middle drawing is within this of t=0.5",
    )

    run = p.add_argument_group("run")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--deterministic", action="store_true", help="deterministic algorithms (slower on GPU)")
    run.add_argument(
        "--precision",
        choices=("auto", "fp32", "bf16"),
        default="auto",
        help="auto = bf16 autocast on CUDA, fp32 on CPU",
    )
    run.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    run.add_argument("--low-memory", action="store_true",
                     help="activation checkpointing: recompute activations in the backward pass (lower peak)")
    run.add_argument("--checkpoint-every", type=int, default=100, metavar="STEPS")
    run.add_argument("--keep-checkpoints", type=int, default=2)
    run.add_argument("--log-every", type=int, default=25, metavar="STEPS")
    run.add_argument("--workers", type=int, default=2, help="data-loading processes")
    run.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    run.add_argument("--export-name", default="finetuned.safetensors")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run_finetune_cli)
    return p


def config_from_args(args: argparse.Namespace):
    """The :class:`.train.FinetuneConfig` described by parsed ``finetune`` arguments."""
    from ..train.config import MODULE_NAMES, FinetuneConfig, parse_stage

    frozen = {m.strip() for m in args.freeze.split(",") if m.strip()}
    unknown = frozen - set(MODULE_NAMES)
    if unknown:
        raise AnimeInterpError(
            f"--freeze: unknown modules {sorted(unknown)}; choose from {', '.join(MODULE_NAMES)}"
        )
    return FinetuneConfig(
        data=args.data,
        out=args.out,
        weights=args.weights,
        vgg=args.vgg,
        steps=args.steps,
        preset=args.preset,
        stages=tuple(parse_stage(s) for s in args.stage) if args.stage else None,
        loss_definition=args.loss_definition,
        gram_normalisation=args.gram_norm,
        lr=args.lr,
        schedule=args.schedule,
        warmup_steps=args.warmup,
        batch_size=args.batch_size,
        accumulation=args.accumulation,
        crop=args.crop or None,
        resize=_resize(args.resize),
        resize_fit=args.resize.lower().startswith("fit:"),
        hflip=not args.no_hflip,
        vflip=not args.no_vflip,
        reverse=not args.no_reverse,
        flows=args.flows,
        flow_cache=args.flow_cache,
        sgm_features=args.sgm_features,
        sgm_preset=args.sgm_preset,
        train_modules=tuple(m for m in MODULE_NAMES if m not in frozen),
        val_fraction=args.val_fraction,
        val_max=args.val_max,
        val_every=args.val_every,
        max_timing_skew=args.max_timing_skew,
        seed=args.seed,
        deterministic=args.deterministic,
        precision=args.precision,
        activation_checkpointing=args.low_memory,
        device=args.device,
        checkpoint_every=args.checkpoint_every,
        keep_checkpoints=args.keep_checkpoints,
        log_every=args.log_every,
        num_workers=args.workers,
        threads=args.threads,
        export_name=args.export_name,
    )


def _resize(text: str) -> tuple[int, int] | None:
    from ..data.triplets import parse_size

    text = text.strip().lower()
    if text == "native":
        return None
    return parse_size(text.removeprefix("fit:"))


class _Bars:
    """tqdm bars (with ETA) per phase, for the main process."""

    LABELS: ClassVar[dict[str, str | None]] = {
        "scan": "reading style set", "flows": "SGM flows", "train": "fine-tuning", "validate": None}

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None
        self.phase: str | None = None

    def __call__(self, event) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        if event.phase == "validate":
            m = event.metrics
            text = (
                f"validation @ step {event.done}: loss {m.get('loss', float('nan')):.4g}, "
                f"PSNR {m.get('psnr', float('nan')):.2f} dB, SSIM {m.get('ssim', float('nan')):.4f}"
            )
            (self.bar.write if self.bar is not None else lambda s: print(s, file=sys.stderr))(text)
            return
        if event.phase != self.phase:
            self.close()
            self.phase = event.phase
            unit = "step" if event.phase == "train" else "triplet"
            self.bar = tqdm(
                total=event.total,
                initial=event.done,
                desc=self.LABELS.get(event.phase, event.phase),
                unit=unit,
                dynamic_ncols=True,
            )
        self.bar.n = event.done
        if event.phase == "train" and "loss" in event.metrics:
            m = event.metrics
            self.bar.set_postfix(stage=m.get("stage"), loss=f"{m['loss']:.4g}", refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def run_finetune_cli(args: argparse.Namespace) -> int:
    """Handler of the ``finetune`` sub-command; returns the exit status."""
    from ..train.trainer import run_finetune

    bars = _Bars(enabled=not args.quiet)
    try:
        config = config_from_args(args)
        result = run_finetune(config, resume=args.resume, progress=bars)
    except AnimeInterpError as e:
        bars.close()
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        bars.close()
    if result.export_path is None:  # a secondary distributed process
        return EXIT_INTERRUPTED if result.interrupted else 0
    if result.data.get("skipped"):
        print(
            f"style set: {result.data['triplets']} triplets used, {result.data['skipped']} skipped: "
            + "; ".join(result.data["skipped_items"]),
            file=sys.stderr,
        )
    state = "stopped" if result.interrupted else "finished"
    print(
        f"{state} at step {result.steps_done}/{result.total_steps}"
        + (f" ({result.seconds_per_step:.2f} s/step)" if result.seconds_per_step else ""),
        file=sys.stderr,
    )
    print(f"weights:    {result.export_path}", file=sys.stderr)
    print(
        f"metrics:    {result.metrics_path}" + (f", curves: {result.plot_path}" if result.plot_path else ""),
        file=sys.stderr,
    )
    if result.interrupted:
        print(f"checkpoint: {result.checkpoint_path} (continue with --resume)", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="animeinterp")
    add_finetune_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
