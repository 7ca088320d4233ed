"""``animeinterp interpolate IN [IN2] OUT``: interpolate a folder of frames, a video or two images.

Streams: frames are read, interpolated and written one at a time (``core.clip.retime``), so memory
stays flat however long the clip. Input, weights and OUT are all checked before OUT is touched;
OUT is locked against a second run, new frames are staged beside it and replace an existing OUT
only when complete (``core.io.output``). Ctrl-C keeps the finished frames of a new folder OUT
and never leaves a half-written file. Wire it into the main parser with
:func:`add_interpolate_parser` (``core/cli/__init__.py``).
"""
from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import AnimeInterpError, InputError, WeightsError

DEFAULT_WEIGHTS = "afi-atd12k-style"
DEFAULT_VGG = "vgg19"
WEIGHT_FREE_HINT = "  - or interpolate without a learned model, with nothing to download: add --weight-free."
COLOUR_MATCHING_HINT = ("  - or match the segments by colour, with nothing to download: add --matching colour "
                        "(or --weight-free for no learned model either).")
DEFAULT_SOURCE_FPS = 24.0

_EPILOG = """\
IN is a folder of frames (natural order), a video file, or two images (IN IN2). OUT is a folder
(frames frame_000000.png ...) or a video file (.mp4, .mkv, .avi ...: written with OpenCV).

Output count: --multiplier M gives (frames - 1) x M + 1 frames; --fps F gives
floor((frames - 1) x F / source fps) + 1; --schedule 'c0,c1,...' gives frames + sum of the counts
(repeated over the clip). Held drawings (anime on twos/threes) get their in-betweens between the
distinct drawings; nothing is interpolated across a scene cut (frames are repeated there).
Without --weights, the default model 'afi-atd12k-style' is used (downloaded and verified once);
--weight-free needs no weights at all (colour matching, DIS, splat blending).
"""


def add_interpolate_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``interpolate`` command to ``subparsers``; it sets ``func(args) -> int``."""
    p = subparsers.add_parser("interpolate", help="interpolate a video, a folder of frames or two images",
                              epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", metavar="PATH", help="IN OUT, or IN IN2 OUT for two images")
    rate = p.add_mutually_exclusive_group()
    rate.add_argument("--multiplier", "-m", type=int, default=None, help="frame-rate multiplier (default 2)")
    rate.add_argument("--fps", type=float, default=None, help="target frame rate")
    rate.add_argument("--schedule", default=None, help="in-betweens per source pair, e.g. '1,3' (repeats)")
    p.add_argument("--source-fps", type=float, default=None,
                   help=f"frame rate of IN (default: the video's, else {DEFAULT_SOURCE_FPS:g})")
    model = p.add_mutually_exclusive_group()
    model.add_argument("--weights", default=None, help=f"model name or file (default {DEFAULT_WEIGHTS})")
    model.add_argument("--weight-free", action="store_true", help="no learned model, no downloads")
    p.add_argument("--matching", choices=["vgg", "colour"], default=None,
                   help="segment matching (default: vgg with a model, colour with --weight-free)")
    p.add_argument("--vgg-weights", default=DEFAULT_VGG, help="VGG-19 for vgg matching (name or file)")
    p.add_argument("--preset", choices=["japan", "disney"], default="japan", help="line-extraction preset")
    p.add_argument("--working-size", default="auto",
                   help="SGM size: auto (<= 960x540 px), native, original (960x540) or WxH")
    p.add_argument("--no-held", action="store_true", help="treat every frame as a new drawing")
    p.add_argument("--no-cuts", action="store_true", help="do not detect scene cuts")
    p.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda, cuda:1 ...")
    p.add_argument("--dtype", choices=["fp32", "fp16", "bf16"], default="fp32",
                   help="autocast dtype (fp16: CUDA only; bf16: CUDA or CPU)")
    p.add_argument("--memory-budget", type=float, default=None, metavar="GB",
                   help="memory the model's correlation volume and attention map may take before it "
                        "switches to their linear-memory forms (default: 1 on CPU, half the "
                        "free GPU memory on CUDA)")
    p.add_argument("--correlation", choices=["auto", "all-pairs", "on-demand"], default="auto",
                   help="force the correlation mode (same results; on-demand: memory linear in pixels)")
    p.add_argument("--attention", choices=["auto", "full", "efficient"], default="auto",
                   help="force the GMA attention mode (same results; efficient: memory linear in pixels)")
    p.add_argument("--flow-scale", default="auto", metavar="auto|S",
                   help="how much smaller the flow network's frames are than the picture: auto (only "
                        "frames above 1920x1088 pixels are shrunk to that many: 4K finds its flows at 1927x1083), 1 (the "
                        "original's numbers at every size) or a number in (0, 1]")
    p.add_argument("--ext", choices=["png", "jpg", "webp"], default="png",
                   help="image format of a folder OUT")
    p.add_argument("--codec", default="mp4v", help="FourCC of a video OUT (mp4v; FFV1 in .mkv is lossless)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUT (video, or our frames)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_interpolate)
    return p


@dataclass
class Source:
    """Where frames come from: ``frames`` yields ``(index, uint8 RGB)``; ``count`` may be an estimate."""

    frames: Iterator[tuple[int, np.ndarray]]
    count: int
    fps: float | None
    describe: str
    reader: object | None = None
    """The :class:`..io.video.FrameReader` of a folder or video (its ``skipped`` and ``decoded``)."""


def open_source(paths: list[str]) -> Source:
    """A folder or video (one path), or two images."""
    from ..io.video import FrameReader, read_image

    if len(paths) == 2:
        a, b = read_image(paths[0]), read_image(paths[1])
        if a.shape != b.shape:
            raise InputError(f"the two images differ in size: {a.shape[1]}x{a.shape[0]} and "
                             f"{b.shape[1]}x{b.shape[0]}")
        return Source(iter([(0, a), (1, b)]), 2, None, "2 images")
    reader = FrameReader(paths[0], warn=False)  # skipped frames are summed up in one warning
    return Source(iter(reader), len(reader), reader.fps, f"{len(reader)} frames ({reader.kind})", reader)


def first_two(source: Source, name: str) -> Iterator[tuple[int, np.ndarray]]:
    """Read ahead to the first two usable frames (before OUT is touched) and return the whole
    stream again.

    Raises:
        DataError: fewer than two frames can be read: none (all unreadable, an empty video) or one
            (nothing to interpolate).
    """
    from itertools import chain

    from ..errors import DataError

    head = []
    for item in source.frames:
        head.append(item)
        if len(head) == 2:
            return chain(head, source.frames)
    reader = source.reader
    skipped = list(getattr(reader, "skipped", []))
    total = len(reader) if reader is not None and reader.kind == "images" else None
    example = f" (e.g. {skipped[0]})" if skipped else ""
    if not head:
        if total:
            raise DataError(f"{name}: none of its {total} image files could be read{example}; nothing written")
        raise DataError(f"{name}: no frame could be read from this video{example}; nothing written")
    if skipped:
        raise DataError(f"{name}: nothing to interpolate: only one frame could be read, {len(skipped)} "
                        f"skipped{example}")
    raise DataError(f"{name}: nothing to interpolate: one frame (give at least two)")


def source_warnings(source: Source) -> list[str]:
    """After a full pass: frames skipped, and a video that ended before its header's count."""
    reader = source.reader
    if reader is None:
        return []
    lines = []
    skipped = reader.skipped
    if skipped:
        shown = "; ".join(str(s) for s in skipped[:3]) + ("; ..." if len(skipped) > 3 else "")
        lines.append(f"warning: skipped {len(skipped)} of {reader.decoded} frames ({shown})")
    if reader.kind == "video" and reader.decoded < len(reader):
        lines.append(f"warning: the video ended after {reader.decoded} frames; its header says {len(reader)} "
                     "(truncated?)")
    return lines


def build_timing(args: argparse.Namespace, source_fps: float):
    from ..clip.schedule import frame_rate, multiplier, per_pair

    if args.schedule is not None:
        return per_pair(args.schedule)
    if args.fps is not None:
        return frame_rate(source_fps, args.fps)
    return multiplier(2 if args.multiplier is None else args.multiplier)


def build_interpolator(args: argparse.Namespace):
    """The :class:`..pipeline.Interpolator` the options ask for (weights resolved via the manifest)."""
    import torch

    from ..pipeline import Interpolator
    from ..sgm.run import SGMOptions

    auto = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(auto if args.device == "auto" else args.device)
    except RuntimeError as e:
        raise InputError(f"--device {args.device!r}: {e}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"--device {args.device}: no CUDA GPU is available; use --device cpu")
    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[args.dtype]
    if dtype == torch.float16 and device.type != "cuda":
        raise InputError(f"--dtype {args.dtype} needs a CUDA device (autocast); use fp32 or bf16 on {device}")
    if args.memory_budget is not None and not args.memory_budget > 0:
        raise InputError(f"--memory-budget must be a positive number of GB, got {args.memory_budget:g}")
    budget = None if args.memory_budget is None else args.memory_budget * 2**30
    from ..model.flow_scale import check_flow_scale

    check_flow_scale(args.flow_scale)  # a bad value fails before any weights are fetched
    matching = args.matching or ("colour" if args.weight_free else "vgg")
    model = vgg = None
    if not args.weight_free:
        from ..model import load_model
        from ..weights.resolve import resolve_weight

        with _alternative_on_missing(WEIGHT_FREE_HINT):
            path = resolve_weight(args.weights or DEFAULT_WEIGHTS)
        model = load_model(path, device, dtype, correlation=args.correlation, attention=args.attention,
                           memory_budget=budget, flow_scale=args.flow_scale)
    if matching == "vgg":
        from ..features.vgg19 import load_vgg19
        from ..weights.resolve import resolve_weight

        with _alternative_on_missing(COLOUR_MATCHING_HINT):
            vgg = load_vgg19(resolve_weight(args.vgg_weights)).to(device)
    working = parse_working_size(args.working_size)
    return Interpolator(model, vgg, SGMOptions(args.preset, matching, working), device=device)


@contextmanager
def _alternative_on_missing(hint: str) -> Iterator[None]:
    """A :class:`WeightsError` raised inside gets ``hint`` (how to do without that weight) as its
    last line: the first run of a new user is often offline."""
    try:
        yield
    except WeightsError as e:
        raise WeightsError(f"{e}\n{hint}") from e


def parse_working_size(text: str):
    """``auto`` / ``native`` / ``original`` (960x540) / ``WxH`` -> an ``SGMOptions.working_size``."""
    from ..sgm.run import COMPAT_SIZE

    size = text.strip().lower()
    fixed = {"auto": "auto", "native": None, "original": COMPAT_SIZE}
    if size in fixed:
        return fixed[size]
    m = re.fullmatch(r"(\d+)x(\d+)", size)
    if not m or min(int(m.group(1)), int(m.group(2))) < 8:
        raise InputError(f"--working-size must be auto, native, original or WxH (sides >= 8); got {text!r}")
    return int(m.group(1)), int(m.group(2))


def run_interpolate(args: argparse.Namespace) -> int:
    """The command: returns 0, 2 for a usage/input error, 1 for a system fault (out of memory, disk),
    130 when interrupted (Ctrl-C or SIGTERM). Everything is checked (input, weights, OUT) before OUT
    is touched, and an existing OUT is replaced only by a complete new output (``core.io.output``)."""
    with sigterm_as_interrupt():
        return _run_interpolate(args)


@contextmanager
def sigterm_as_interrupt():
    """While the block runs, SIGTERM (``kill``, a container stop) raises KeyboardInterrupt in the main
    thread, so it is handled like Ctrl-C. Installed only by the CLI, only from the main thread; the
    previous handler is put back afterwards."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGTERM"):
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_interpolate(args: argparse.Namespace) -> int:
    from ..clip.retime import RetimeOptions, retime_clip
    from ..io.output import check_output
    from ..io.stale import sweep_output

    if len(args.paths) not in (2, 3):
        print("animeinterp interpolate: give IN OUT, or IN IN2 OUT for two images", file=sys.stderr)
        return 2
    from .interpolate_shards import launched_by_torchrun, run_sharded

    if launched_by_torchrun():  # several processes share the clip (torchrun)
        return run_sharded(args)
    *inputs, out = args.paths
    out_path = Path(out)
    target = sink = None
    try:
        if args.source_fps is not None and not args.source_fps > 0:
            raise InputError(f"--source-fps must be a positive frame rate, got {args.source_fps:g}")
        target = check_output(out, inputs, args.overwrite)
        source = open_source(inputs)
        source.frames = first_two(source, inputs[0] if len(inputs) == 1 else "IN")
        source_fps = args.source_fps or source.fps or DEFAULT_SOURCE_FPS
        timing = build_timing(args, source_fps)
        is_video = target.kind == "video"
        expected = timing.output_count(max(source.count, 1))
        out_fps = timing.output_fps(source_fps, max(source.count, 1))
        interpolator = build_interpolator(args)
        target.lock()
        sweep_output(target.path, target.kind, target.work_dir)  # an interrupted run's leftovers
        sink = target.open_sink(args.ext, out_fps, args.codec)
    except BaseException as e:
        if target is not None:
            target.unlock()
        if isinstance(e, KeyboardInterrupt):
            print(f"animeinterp interpolate: interrupted; {out_path} left as it was", file=sys.stderr)
            return 130
        status = _fail(e, None, args.device) if isinstance(e, Exception) else None
        if status is None:
            raise
        return status
    # two images given explicitly are always interpolated: the cut test would only second-guess the user
    cuts = not args.no_cuts and len(inputs) == 1
    options = RetimeOptions(held_drawings=not args.no_held, scene_cuts=cuts)
    bar = _progress(expected, args.quiet, source.describe)
    seen = _FrameSize(source.frames)
    try:
        for item in retime_clip(seen, interpolator, timing, options):
            sink.write(item.image)
            bar.update(1)
        sink.close(commit=True)
    except KeyboardInterrupt:
        kept = sink.close(commit=False, keep_partial=True)
        bar.close()
        kept = f"{sink.written} finished frames kept in {out_path}" if kept else f"{out_path} left as it was"
        print(f"animeinterp interpolate: interrupted; {kept}", file=sys.stderr)
        return 130
    except BaseException as e:
        sink.close(commit=False)
        bar.close()
        status = _fail(e, seen.size, str(interpolator.device))
        if status is None:
            raise
        return status
    finally:
        target.unlock()
    bar.close()
    for line in source_warnings(source):
        print(f"animeinterp interpolate: {line}", file=sys.stderr)
    fps_note = f" at {out_fps:g} fps" if is_video else ""
    print(f"wrote {sink.written} frames to {out_path}{fps_note}", file=sys.stderr)
    return 0


def _fail(exc: BaseException, frame_size: tuple[int, int] | None, device: str | None) -> int | None:
    """Print one line for a user error (status 2) or a system fault (status 1); None: not ours."""
    from .faults import fault_message

    if isinstance(exc, AnimeInterpError):
        print(f"animeinterp interpolate: {exc}", file=sys.stderr)
        return 2
    message = fault_message(exc, frame_size=frame_size, device=device)
    if message is None:
        return None
    print(f"animeinterp interpolate: {message}; OUT was left as it was", file=sys.stderr)
    return 1


class _FrameSize:
    """Pass frames through, remembering their ``(H, W)`` (named in an out-of-memory message)."""

    def __init__(self, frames: Iterator[tuple[int, np.ndarray]]):
        self._frames = frames
        self.size: tuple[int, int] | None = None

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        for index, frame in self._frames:
            self.size = frame.shape[:2]
            yield index, frame


def _progress(total: int, quiet: bool, describe: str):
    from tqdm import tqdm

    return tqdm(total=total, unit="frame", disable=quiet, desc=f"interpolating {describe}",
                dynamic_ncols=True)
