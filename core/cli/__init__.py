"""``animeinterp`` command line: demo, interpolate, weights, convert, finetune, evaluate.

One module per command (``demo``, ``interpolate``, ``weights``, ``convert``, ``finetune``,
``evaluate``); this package wires them into one parser. ``python -m comfyui_animeinterp.core.cli``
runs it too.
"""
from __future__ import annotations

import argparse


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(args.out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="animeinterp", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="interpolate the bundled synthetic example (offline, no weights)")
    d.add_argument("--out", default="demo_output", help="output folder")
    d.set_defaults(func=_demo)
    from .convert import add_convert_parser
    from .evaluate import add_evaluate_parser
    from .finetune import add_finetune_parser
    from .interpolate import add_interpolate_parser
    from .weights import add_weights_parser

    add_interpolate_parser(sub)
    add_weights_parser(sub)
    add_convert_parser(sub)
    add_evaluate_parser(sub)
    add_finetune_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command; a library error or a system fault (out of memory, disk) that a command did
    not handle itself becomes one line on stderr and a non-zero status, never a traceback."""
    import sys

    from ..allocator import allocator_choice, reuse_freed_memory
    from ..errors import AnimeInterpError
    from .faults import fault_message

    args = build_parser().parse_args(argv)
    try:
        with reuse_freed_memory(allocator_choice() == "reuse"):  # opt-in: ANIMEINTERP_ALLOCATOR=reuse
            return int(args.func(args) or 0)
    except AnimeInterpError as e:
        print(f"animeinterp {args.command}: {e}", file=sys.stderr)
        return 2
    except Exception as e:
        message = fault_message(e)
        if message is None:
            raise
        print(f"animeinterp {args.command}: {message}", file=sys.stderr)
        return 1

