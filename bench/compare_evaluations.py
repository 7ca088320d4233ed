"""Compare one method between two ``animeinterp evaluate`` output folders, triplet by triplet.

For each folder: mean PSNR, SSIM, LPIPS and seconds of ``--method`` over the triplets both
folders scored; then how often the second run beats the first (higher PSNR, lower LPIPS) and
the triplets with the largest PSNR changes. Both runs must be of the same data and size.
Writes ``bench/results/compare_<label_a>_vs_<label_b>.json``.

Usage: ``python bench/compare_evaluations.py RUN_A RUN_B [--method weight-free] [--labels a b]``
"""
from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
METRICS = ("psnr", "ssim", "lpips", "seconds")


def _rows(folder: Path, method: str) -> dict[str, dict[str, float]]:
    with open(folder / "metrics.csv", newline="") as f:
        return {r["name"]: {m: float(r[m]) for m in METRICS if r.get(m)} for r in csv.DictReader(f)
                if r["method"] == method}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_a", type=Path)
    p.add_argument("run_b", type=Path)
    p.add_argument("--method", default="weight-free")
    p.add_argument("--labels", nargs=2, default=None, metavar=("A", "B"))
    args = p.parse_args(argv)
    labels = args.labels or [args.run_a.name, args.run_b.name]
    a, b = _rows(args.run_a, args.method), _rows(args.run_b, args.method)
    names = sorted(set(a) & set(b))
    if not names:
        print(f"no triplet scored with {args.method!r} in both runs", file=sys.stderr)
        return 2
    means = {label: {m: statistics.fmean(rows[n][m] for n in names) for m in METRICS if all(m in rows[n] for n in names)}
             for label, rows in zip(labels, (a, b))}
    wins = {
        "psnr": sum(b[n]["psnr"] > a[n]["psnr"] for n in names),
        "lpips": sum(b[n]["lpips"] < a[n]["lpips"] for n in names) if all("lpips" in a[n] for n in names) else None,
    }
    deltas = sorted((b[n]["psnr"] - a[n]["psnr"], n) for n in names)
    result = {"method": args.method, "runs": dict(zip(labels, map(str, (args.run_a, args.run_b)))),
              "triplets": len(names), "means": means, f"{labels[1]}_wins": wins,
              "psnr_delta_db": {n: round(d, 3) for d, n in deltas}}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"compare_{labels[0]}_vs_{labels[1]}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"{args.method} on {len(names)} triplets")
    print(f"{'run':24s} {'PSNR':>7s} {'SSIM':>7s} {'LPIPSx100':>10s} {'s/frame':>8s}")
    for label in labels:
        m = means[label]
        lp = f"{100 * m['lpips']:.2f}" if "lpips" in m else "-"
        print(f"{label:24s} {m['psnr']:7.2f} {m['ssim']:7.4f} {lp:>10s} {m['seconds']:8.2f}")
    lp_wins = "-" if wins["lpips"] is None else f"{wins['lpips']}/{len(names)}"
    print(f"{labels[1]} better: PSNR on {wins['psnr']}/{len(names)}, LPIPS on {lp_wins}")
    print(f"PSNR change, worst: {deltas[0][0]:+.2f} dB ({deltas[0][1]}), best: {deltas[-1][0]:+.2f} dB ({deltas[-1][1]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
