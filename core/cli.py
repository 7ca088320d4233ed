"""``animeinterp`` command line: demo, interpolate, convert, finetune, evaluate."""
from __future__ import annotations

import argparse
import sys


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
    from .evaluate_cli import add_evaluate_parser
    from .interpolate_cli import add_interpolate_parser
    from .train_cli import add_finetune_parser
    from .weights.cli import add_weights_parser
    from .weights.convert_cli import add_convert_parser

    add_interpolate_parser(sub)
    add_weights_parser(sub)
    add_convert_parser(sub)
    add_evaluate_parser(sub)
    add_finetune_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
