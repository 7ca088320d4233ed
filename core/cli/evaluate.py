"""``animeinterp evaluate``: score interpolation methods on a data set and write a report.

Wire it into the main parser with :func:`add_evaluate_parser` (``core/cli.py``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import AnimeInterpError

_EPILOG = """\
data (--data): an ATD-12K folder (the one holding test_2k_540p and test_2k_annotations), any folder
of triplet folders (frame1/frame2/frame3 images), an image sequence, a video, a folder of videos,
or synthetic[:COUNT][:WxH] (cartoons with exact flows; adds flow end-point errors).

Outputs in --out: metrics.csv (per triplet and method), summary.json, summary.md, worst_<method>.png.
Rerunning with the same --out skips what is already scored. The baselines blend and dis are always
included unless --no-baselines. LPIPS needs the 'alexnet' and 'lpips-alex' weights (found through the
weights manifest, or given with --alexnet-weights/--lpips-weights); without them the other metrics
are reported and the summary says why.
"""


def _methods(values: list[str] | None) -> list[str]:
    out: list[str] = []
    for v in values or ["full"]:
        out += [m.strip() for m in v.split(",") if m.strip()]
    return out


def _size(text: str):
    from ..data.triplets import parse_size

    if text.lower() == "native":
        return None
    try:
        return parse_size(text)
    except AnimeInterpError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _method_options(args: argparse.Namespace) -> dict:
    """Options of the pipeline methods ("full", "weight-free"); the baselines ignore them."""
    options = {"preset": args.preset}
    if args.weights:
        options["weights"] = args.weights
    if args.vgg_weights:
        options["vgg_weights"] = None if args.vgg_weights == "none" else args.vgg_weights
    return options


def run_evaluate(args: argparse.Namespace) -> int:
    """Handler of the ``evaluate`` sub-command; returns the exit status."""
    from ..evaluate import EvaluationConfig, run_evaluation
    from ..evaluate.report import format_table

    config = EvaluationConfig(
        data=args.data, out=Path(args.out), methods=_methods(args.method), baselines=not args.no_baselines,
        size=args.size, annotations=args.annotations, lpips=not args.no_lpips,
        alexnet_weights=args.alexnet_weights, lpips_weights=args.lpips_weights, worst=args.worst,
        worst_by=args.worst_by, limit=args.limit, gaussian_ssim=args.gaussian_ssim, device=args.device,
        progress=not args.quiet, method_options=_method_options(args),
    )
    try:
        summary = run_evaluation(config, echo=lambda msg: print(msg, file=sys.stderr))
    except AnimeInterpError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    size = summary["size"] if summary["size"] == "native" else "x".join(map(str, summary["size"]))
    print(f"\n{summary['dataset']} — {summary['triplets']} triplets at {size}")
    print("LPIPS x100 (v0.1, AlexNet) | PSNR dB (range 1) | SSIM (AnimeInterp/AFI convention, see summary.json)")
    if not summary["lpips"]["available"]:
        print(f"LPIPS not computed: {summary['lpips']['note'].splitlines()[0]}")
    print(format_table(summary["results"]))
    if summary["skipped"]:
        print(f"\nskipped {len(summary['skipped'])} item(s):")
        for s in summary["skipped"]:
            print(f"  {s['name']}: {s['reason']}")
    print(f"\nwrote {Path(args.out) / 'metrics.csv'}, summary.json, summary.md"
          + "".join(f", {p}" for p in summary["contact_sheets"].values()))
    return 0


def add_evaluate_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``evaluate`` sub-command to an ``add_subparsers()`` object; returns its parser."""
    p = subparsers.add_parser(
        "evaluate", help="score methods on a data set (CSV, JSON, table, worst-case contact sheets)",
        description=__doc__.splitlines()[0], epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", required=True, help="data set: folder, video or synthetic[:COUNT][:WxH]")
    p.add_argument("--method", action="append", metavar="NAME",
                   help="full, weight-free, blend, dis (repeat or comma-separate; default: full)")
    p.add_argument("--out", required=True, help="output folder (reused to resume)")
    p.add_argument("--size", type=_size, default=(960, 540), metavar="WxH|native",
                   help="evaluation size (default 960x540, as in the papers; native keeps each triplet's size)")
    p.add_argument("--annotations", help="ATD-12K annotation folder, if not next to the frames")
    p.add_argument("--no-baselines", action="store_true", help="do not add the blend and dis baselines")
    p.add_argument("--no-lpips", action="store_true", help="skip LPIPS")
    p.add_argument("--alexnet-weights", metavar="FILE", help="AlexNet trunk for LPIPS (torchvision .pth or ours)")
    p.add_argument("--lpips-weights", metavar="FILE", help="LPIPS linear heads (lpips alex.pth or ours)")
    p.add_argument("--worst", type=int, default=6, metavar="K", help="triplets per contact sheet (default 6)")
    p.add_argument("--worst-by", choices=["auto", "lpips", "psnr", "ssim"], default="auto",
                   help="ranking of the contact sheet (auto: LPIPS if available, else PSNR)")
    p.add_argument("--limit", type=int, metavar="N", help="evaluate at most N triplets")
    p.add_argument("--gaussian-ssim", action="store_true",
                   help="also report the textbook Gaussian-window SSIM (column ssim_gauss; slower)")
    p.add_argument("--device", default="cpu", help="torch device for LPIPS and the learned methods")
    p.add_argument("--weights", metavar="NAME_OR_PATH",
                   help="interpolation weights of the 'full' method (default: afi-atd12k-style)")
    p.add_argument("--vgg-weights", metavar="NAME_OR_PATH|none",
                   help="feature network for SGM matching: vgg19, vgg16 or a file of either (default: vgg19 "
                        "for 'full', none for 'weight-free'; none = weight-free colour/shape features)")
    p.add_argument("--preset", choices=["japan", "disney"], default="japan",
                   help="SGM line-extraction preset of the pipeline methods (default: japan)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_evaluate)
    return p


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point (``python -m comfyui_animeinterp.core.cli.evaluate``)."""
    parser = argparse.ArgumentParser(prog="animeinterp")
    add_evaluate_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["evaluate", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
