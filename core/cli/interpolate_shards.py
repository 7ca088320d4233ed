"""``torchrun --nproc_per_node N -m comfyui_animeinterp.core.cli interpolate IN OUT``: one clip, N processes.

torchrun sets ``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK``; each process joins the group (gloo on CPU,
NCCL on CUDA, through ``core.train.distributed``), takes GPU ``LOCAL_RANK`` when there is one, and:

1. **plans the whole clip itself**: held drawings and cuts from the frames' signatures
   (``core.clip.drawings``) -> drawing spans numbered globally (``core.clip.shard``). This is the
   cheapest way: planning decodes the clip once and compares small thumbnails (the signature of
   a 1920x1080 frame took 25 ms on the busy 2-core development machine; an in-between takes
   seconds), and receiving the plan from process 0 instead would start nobody sooner (all would
   wait for process 0's same pass) and need a collective carrying the plan. One broadcast of the plan's digest checks that all processes
   planned alike (different decoders on different machines would otherwise mix two plans);
2. **renders its contiguous range of spans** (about equal cost; a span is never split, so neither
   is a held drawing or a pair's in-betweens) from a second pass over the source that reads only
   the drawings it needs (a folder: those files; a video: decoded up to its last one), and writes
   each frame under its global number: into process 0's staging folder for a folder OUT (moved
   into OUT once all are done, as in one process: ``core.io.output``), into a hidden
   ``.OUT.parts/`` folder of lossless PNGs beside a video OUT;
3. waits for the others (one collective); for a video, process 0 then encodes the parts in order
   into OUT (so the video is the one a single process writes) and removes them.

Every frame is the one a single process renders: the same source frames, the same pairs.
Across machines IN and OUT must be on a file system they all share.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from datetime import timedelta
from pathlib import Path

from ..errors import AnimeInterpError, DataError, InputError
from .interpolate import (
    DEFAULT_SOURCE_FPS,
    _progress,
    build_interpolator,
    build_timing,
    first_two,
    open_source,
    source_warnings,
)

RENDER_TIMEOUT = timedelta(days=7)
"""How long a process that has finished waits for the slowest one."""
PARTS_EXT = "png"


def launched_by_torchrun() -> bool:
    """True in a process of a multi-process torchrun job (``WORLD_SIZE`` > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def parts_folder(out: Path) -> Path:
    """Where the processes put the frames of a video OUT before it is encoded."""
    return out.with_name(f".{out.name}.parts")


def run_sharded(args: argparse.Namespace) -> int:
    """The ``interpolate`` command in one process of a torchrun job: 0, 2 (error) or 130 (Ctrl-C)."""
    from ..train.distributed import init_distributed, shutdown

    try:
        ctx = init_distributed(args.device, RENDER_TIMEOUT)
    except AnimeInterpError as e:
        print(f"animeinterp interpolate: {e}", file=sys.stderr)
        return 2
    try:
        return _run(ctx, args)
    finally:
        shutdown(ctx)


def _run(ctx, args: argparse.Namespace) -> int:
    from ..clip.shard import needed_frames, render_spans, span_cost, split_spans
    from ..io.output import FRAME_NAME, check_output
    from ..io.stale import sweep_output
    from ..io.video import FrameReader, write_image
    from ..train.distributed import broadcast_object

    *inputs, out = args.paths
    target = sink = error = None
    try:
        if args.source_fps is not None and not args.source_fps > 0:
            raise InputError(f"--source-fps must be a positive frame rate, got {args.source_fps:g}")
        if ctx.is_main:  # checks OUT without touching it; the lock and the sink come after the checks
            target = check_output(out, inputs, args.overwrite)
        source = open_source(inputs)
        source.frames = first_two(source, inputs[0] if len(inputs) == 1 else "IN")
        source_fps = args.source_fps or source.fps or DEFAULT_SOURCE_FPS
        timing = build_timing(args, source_fps)
    except AnimeInterpError as e:
        error = e
    if _failed(ctx, error):
        return 2
    interpolator = _build_interpolator(ctx, args)
    if interpolator is None:
        return 2
    spans = _plan(ctx, args, source, timing, scene_cuts=len(inputs) == 1)
    if spans is None:
        return 2
    folder = None
    try:
        if ctx.is_main:
            target.lock()
            sweep_output(target.path, target.kind, target.work_dir)  # an interrupted run's leftovers
            sink = target.open_sink(args.ext, timing.output_fps(source_fps, max(source.count, 1)), args.codec)
            folder = _frames_folder(target, sink)
    except AnimeInterpError as e:
        error = e
    if _failed(ctx, error):
        _discard(target, sink, folder)
        return 2
    folder = Path(broadcast_object(ctx, str(folder) if ctx.is_main else None))
    is_video = broadcast_object(ctx, target.kind == "video" if ctx.is_main else None)
    ext = PARTS_EXT if is_video else args.ext
    share = split_spans([span_cost(s) for s in spans], ctx.world_size)[ctx.rank]
    mine = spans[share.start:share.stop]
    bar = _progress(sum(s.count for s in mine) if ctx.is_main else 0, args.quiet or not ctx.is_main,
                    f"{source.describe}, process 0 of {ctx.world_size}")
    try:
        frames = (FrameReader(inputs[0]).select(needed_frames(mine)) if len(inputs) == 1
                  else open_source(inputs).frames)
        for number, item in render_spans(frames, mine, interpolator, timing):
            write_image(folder / FRAME_NAME.format(number, ext=ext), item.image)
            bar.update(1)
    except KeyboardInterrupt:
        bar.close()
        print(f"animeinterp interpolate: process {ctx.rank} interrupted", file=sys.stderr)
        _discard(target, sink, folder)
        return 130
    except AnimeInterpError as e:
        error = e
    bar.close()
    if _failed(ctx, error):  # also waits for every process to finish its share
        _discard(target, sink, folder)
        return 2
    if not ctx.is_main:
        return 0
    total = sum(s.count for s in spans)
    try:
        if is_video:
            code = _join_video(sink, folder, total)
        else:
            sink.close(commit=True)
            code = 0
    finally:
        target.unlock()
    if code:
        return code
    for line in source_warnings(source):
        print(f"animeinterp interpolate: {line}", file=sys.stderr)
    print(f"wrote {total} frames to {out} ({ctx.world_size} processes)", file=sys.stderr)
    return 0


def _frames_folder(target, sink) -> Path:
    """Process 0: where every process writes its frames: the folder sink's staging folder (moved into
    OUT when all are done), or a fresh parts folder beside a video OUT."""
    if target.kind == "folder":
        return sink.staging
    parts = parts_folder(target.path)
    shutil.rmtree(parts, ignore_errors=True)  # parts of an interrupted run
    parts.mkdir()
    return parts


def _discard(target, sink, folder: Path | None) -> None:
    """Process 0 after a failure: drop what this run wrote and release OUT (the others: nothing)."""
    if sink is not None:
        sink.close(commit=False)
    if folder is not None and target is not None and target.kind == "video":
        shutil.rmtree(folder, ignore_errors=True)
    if target is not None:
        target.unlock()


def _build_interpolator(ctx, args: argparse.Namespace):
    """The interpolator on this process's device (process 0 first, so that a download happens once)."""
    local = argparse.Namespace(**{**vars(args), "device": str(ctx.device)})
    interpolator = error = None
    for main_turn in (True, False):
        try:
            if ctx.is_main == main_turn:
                interpolator = build_interpolator(local)
        except AnimeInterpError as e:
            error = e
        if _failed(ctx, error):
            return None
    return interpolator


def _plan(ctx, args: argparse.Namespace, source, timing, scene_cuts: bool):
    """The clip's spans, planned by this process and checked against process 0's (None: failed)."""
    from ..clip.retime import RetimeOptions, iter_clip_drawings
    from ..clip.shard import plan_digest, plan_spans
    from ..train.distributed import broadcast_object

    # two images given explicitly are always interpolated, as in one process
    options = RetimeOptions(held_drawings=not args.no_held, scene_cuts=scene_cuts and not args.no_cuts)
    spans = error = None
    try:
        spans = plan_spans(iter_clip_drawings(source.frames, options), timing)
        if broadcast_object(ctx, plan_digest(spans)) != plan_digest(spans):
            raise DataError(f"process {ctx.rank} planned the clip differently from process 0: "
                            "do all machines read the same IN with the same OpenCV?")
    except AnimeInterpError as e:
        error = e
    return None if _failed(ctx, error) else spans


def _join_video(sink, parts: Path, total: int) -> int:
    """Process 0: encode the parts in order into the video OUT; 0, 2 or 130."""
    from ..io.video import list_images, read_image

    try:
        files = list_images(parts)
        if len(files) != total:
            raise DataError(f"{parts} holds {len(files)} frames, {total} were planned")
        for f in files:
            sink.write(read_image(f))
        sink.close(commit=True)
        shutil.rmtree(parts)
        return 0
    except (AnimeInterpError, KeyboardInterrupt) as e:
        sink.close(commit=False)
        interrupted = isinstance(e, KeyboardInterrupt)
        print(f"animeinterp interpolate: {'interrupted' if interrupted else e}", file=sys.stderr)
        return 130 if interrupted else 2


def _failed(ctx, error: Exception | None) -> bool:
    """True in every process if ``error`` is set in any; prints it once (process 0's if it has one)."""
    from ..train.distributed import any_process, broadcast_object

    failed = any_process(ctx, error is not None)
    main_failed = broadcast_object(ctx, error is not None) if failed else False
    if error is not None and (ctx.is_main or not main_failed):
        where = "" if ctx.is_main else f"process {ctx.rank}: "
        print(f"animeinterp interpolate: {where}{error}", file=sys.stderr)
    return failed
