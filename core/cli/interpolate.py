"""``animeinterp interpolate IN [IN2] OUT``: interpolate a folder of frames, a video or two images.

Streams: frames are read, interpolated and written one at a time (``core.retime``), so memory
stays flat however long the clip. Each output image is written atomically; a video is written under
a temporary name and renamed when complete, so Ctrl-C leaves every finished file intact and no
half-written one. Wire it into the main parser with :func:`add_interpolate_parser` (``core/cli.py``).
"""
from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import AnimeInterpError, InputError

DEFAULT_WEIGHTS = "afi-atd12k-style"
DEFAULT_VGG = "vgg19"
DEFAULT_SOURCE_FPS = 24.0
FRAME_NAME = "frame_{:06d}.{ext}"
_FRAME_RE = re.compile(r"^frame_\d{6}\.(png|jpg|jpeg|webp|bmp|tif|tiff)$")

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


def open_source(paths: list[str]) -> Source:
    """A folder or video (one path), or two images."""
    from ..io.video import FrameReader, read_image

    if len(paths) == 2:
        a, b = read_image(paths[0]), read_image(paths[1])
        if a.shape != b.shape:
            raise InputError(f"the two images differ in size: {a.shape[1]}x{a.shape[0]} and "
                             f"{b.shape[1]}x{b.shape[0]}")
        return Source(iter([(0, a), (1, b)]), 2, None, "2 images")
    reader = FrameReader(paths[0])
    return Source(iter(reader), len(reader), reader.fps, f"{len(reader)} frames ({reader.kind})")


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
    matching = args.matching or ("colour" if args.weight_free else "vgg")
    model = vgg = None
    if not args.weight_free:
        from ..model import load_model
        from ..weights.resolve import resolve_weight

        model = load_model(resolve_weight(args.weights or DEFAULT_WEIGHTS), device, dtype,
                           correlation=args.correlation, attention=args.attention, memory_budget=budget)
    if matching == "vgg":
        from ..features.vgg19 import load_vgg19
        from ..weights.resolve import resolve_weight

        vgg = load_vgg19(resolve_weight(args.vgg_weights)).to(device)
    working = parse_working_size(args.working_size)
    return Interpolator(model, vgg, SGMOptions(args.preset, matching, working), device=device)


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


class FolderSink:
    """Numbered images in a folder, each written atomically."""

    def __init__(self, folder: Path, ext: str, overwrite: bool):
        self.folder = folder
        self.ext = ext
        self.written = 0
        existing = sorted(p for p in folder.iterdir() if _FRAME_RE.match(p.name)) if folder.is_dir() else []
        if existing and not overwrite:
            raise InputError(f"{folder} already holds {len(existing)} frames (frame_NNNNNN.*); "
                             "choose another OUT or pass --overwrite")
        for p in existing:
            p.unlink()
        if folder.exists() and not folder.is_dir():
            raise InputError(f"{folder} exists and is not a folder")

    def write(self, rgb: np.ndarray) -> None:
        from ..io.video import write_image

        write_image(self.folder / FRAME_NAME.format(self.written, ext=self.ext), rgb)
        self.written += 1

    def close(self, commit: bool) -> None:
        pass


class VideoSink:
    """A video written under a temporary name and renamed when complete."""

    def __init__(self, path: Path, fps: float, codec: str, overwrite: bool):
        from ..io.video import VideoWriter

        if path.exists() and not overwrite:
            raise InputError(f"{path} exists; choose another OUT or pass --overwrite")
        self._writer = VideoWriter(path, fps, codec)

    @property
    def written(self) -> int:
        return self._writer.frames_written

    def write(self, rgb: np.ndarray) -> None:
        self._writer.write(rgb)

    def close(self, commit: bool) -> None:
        self._writer.close(commit=commit)


def run_interpolate(args: argparse.Namespace) -> int:
    """The command: returns 0, 2 for a usage/input error, 130 when interrupted (Ctrl-C)."""
    from ..clip.retime import RetimeOptions, retime_clip
    from ..io.video import is_video_file

    if len(args.paths) not in (2, 3):
        print("animeinterp interpolate: give IN OUT, or IN IN2 OUT for two images", file=sys.stderr)
        return 2
    *inputs, out = args.paths
    out_path = Path(out)
    try:
        source = open_source(inputs)
        source_fps = args.source_fps or source.fps or DEFAULT_SOURCE_FPS
        timing = build_timing(args, source_fps)
        is_video = out_path.suffix.lower() in _video_suffixes() or is_video_file(out_path)
        expected = timing.output_count(max(source.count, 1))
        out_fps = timing.output_fps(source_fps, max(source.count, 1))
        sink = (VideoSink(out_path, out_fps, args.codec, args.overwrite) if is_video
                else FolderSink(out_path, args.ext, args.overwrite))
        interpolator = build_interpolator(args)
    except AnimeInterpError as e:
        print(f"animeinterp interpolate: {e}", file=sys.stderr)
        return 2
    # two images given explicitly are always interpolated: the cut test would only second-guess the user
    cuts = not args.no_cuts and len(inputs) == 1
    options = RetimeOptions(held_drawings=not args.no_held, scene_cuts=cuts)
    bar = _progress(expected, args.quiet, source.describe)
    try:
        for item in retime_clip(source.frames, interpolator, timing, options):
            sink.write(item.image)
            bar.update(1)
        sink.close(commit=True)
    except KeyboardInterrupt:
        sink.close(commit=False)
        bar.close()
        kept = f"{out_path} not written" if is_video else f"{sink.written} finished frames kept in {out_path}"
        print(f"animeinterp interpolate: interrupted; {kept}", file=sys.stderr)
        return 130
    except AnimeInterpError as e:
        sink.close(commit=False)
        bar.close()
        print(f"animeinterp interpolate: {e}", file=sys.stderr)
        return 2
    except BaseException:
        sink.close(commit=False)
        raise
    bar.close()
    fps_note = f" at {out_fps:g} fps" if is_video else ""
    print(f"wrote {sink.written} frames to {out_path}{fps_note}", file=sys.stderr)
    return 0


def _video_suffixes() -> frozenset[str]:
    from ..io.video import VIDEO_EXTENSIONS

    return VIDEO_EXTENSIONS


def _progress(total: int, quiet: bool, describe: str):
    from tqdm import tqdm

    return tqdm(total=total, unit="frame", disable=quiet, desc=f"interpolating {describe}",
                dynamic_ncols=True)
