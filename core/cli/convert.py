"""``animeinterp convert``: original checkpoint -> our safetensors file.

Wire it into the main parser with ``add_convert_parser(subparsers)``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from ..errors import AnimeInterpError, InputError


def _check_destination(args: argparse.Namespace) -> None:
    """DST is not a source file and its folder can be written (checked before reading anything)."""
    from pathlib import Path

    from ..io.output import check_writable

    dst = Path(args.dst)
    for src in (args.src, args.gma):
        if src is not None and dst.exists() and Path(src).exists() and os.path.samefile(src, dst):
            raise InputError(f"DST {dst} is the source checkpoint {src}; converting would replace the "
                             "original: choose another DST")
    if dst.is_dir():
        raise InputError(f"DST {dst} is a folder; give a file name ending in .safetensors")
    check_writable(dst)


def _run_convert(args: argparse.Namespace) -> int:
    from ..weights.convert import combine_files, convert_file
    from .faults import fault_message

    try:
        _check_destination(args)
        if args.gma:
            metadata = combine_files(args.src, args.gma, args.dst)
        else:
            metadata = convert_file(args.src, args.dst, args.variant)
    except AnimeInterpError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (OSError, MemoryError) as exc:
        print(f"error: {fault_message(exc)}; {args.dst} was not written", file=sys.stderr)
        return 1
    print(json.dumps({"written": str(args.dst), **metadata}, indent=2))
    return 0


def add_convert_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``convert`` sub-command on ``subparsers``; returns its parser."""
    p = subparsers.add_parser(
        "convert",
        help="convert an original AnimeInterp / AFI / GMA checkpoint to our safetensors format",
        description="Convert an original checkpoint (read with torch.load(weights_only=True)) into "
                    "our safetensors layout. With --gma, combine an AnimeInterp checkpoint with a GMA "
                    "one the way AFI built its initialisation (flow net from GMA).",
    )
    p.add_argument("src", help="original checkpoint (.pth / .ckpt); with --gma: anime_interp_full.ckpt")
    p.add_argument("dst", help="output .safetensors file (written atomically)")
    p.add_argument("--variant", choices=("afi", "animeinterp", "gma"), default=None,
                   help="layout of SRC (default: detected from its keys)")
    p.add_argument("--gma", metavar="GMA_PTH", default=None,
                   help="zacjiang/GMA checkpoint to combine with SRC into an 'afi' model")
    p.set_defaults(func=_run_convert)
    return p
