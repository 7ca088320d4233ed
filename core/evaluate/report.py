"""Summaries of a results table: the Table-5.3-style text table, Markdown, and JSON-ready dicts.

Columns follow the thesis: Whole (LPIPS, PSNR, SSIM), RoI, Easy, Medium, Hard. LPIPS is shown ×100.
Every mean is over the rows that have the value; the counts are part of the summary.
"""
from __future__ import annotations

import math
from collections.abc import Iterable

from ..data.triplets import LEVELS
from .records import Row, parse_float

GROUPS = ("whole", "roi", *LEVELS)
TABLE_METRICS = ("lpips", "psnr", "ssim")

CONVENTIONS = {
    "frames": "frame1 and frame3 are the inputs, frame2 is the ground truth at t (0.5 unless a "
              "sequence's timing puts the middle drawing elsewhere)",
    "predictions": "scored as uint8 RGB (what a user saves)",
    "psnr": "dB, data range 1, MSE over all pixels and channels",
    "ssim": "AnimeInterp/AFI table convention = scikit-image defaults as their test script ran: uniform "
            "7x7 window, sample covariance, data range 2 (float dtype range), valid windows, channel mean",
    "ssim_gauss": "Wang et al. 2004: Gaussian window sigma 1.5 (11 taps), population covariance, data range 1",
    "lpips": "LPIPS v0.1, AlexNet backbone, inputs mapped to [-1, 1]; tables show LPIPS x100, the CSV raw values",
    "ie": "mean per-pixel RGB Euclidean distance in 0..255 levels",
    "roi": "ATD-12K motion RoI, mapped to the evaluated size as the original test script did",
    "levels": "ATD-12K difficulty: 0 easy, 1 medium, 2 hard",
    "epe": "mean end-point error in px of the method's flows F13 and F31 against exact flows (synthetic sets)",
}


def _mean(values: Iterable[float | None]) -> tuple[float | None, int]:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    return (sum(vals) / len(vals) if vals else None), len(vals)


def _group(rows: list[Row], prefix: str = "") -> dict:
    out: dict[str, object] = {}
    count = 0
    for metric in TABLE_METRICS + (("ssim_gauss", "ie") if not prefix else ()):
        mean, n = _mean(parse_float(r.get(prefix + metric)) for r in rows)
        out[metric] = mean
        count = max(count, n)
    out["count"] = count
    return out


def summarise_method(rows: list[Row]) -> dict:
    """Means per column group for one method's rows (see the module docstring)."""
    summary: dict[str, object] = {"count": len(rows), "whole": _group(rows), "roi": _group(rows, "roi_")}
    for level in LEVELS:
        summary[level] = _group([r for r in rows if r.get("level") == level])
    epe, n = _mean(parse_float(r.get("epe")) for r in rows)
    summary["epe"] = {"mean": epe, "count": n}
    seconds, _ = _mean(parse_float(r.get("seconds")) for r in rows)
    summary["seconds_per_triplet"] = seconds
    return summary


def _cell(value: object, metric: str) -> str:
    if value is None:
        return "-"
    v = float(value)  # type: ignore[arg-type]
    if math.isinf(v):
        return "inf"
    return {"lpips": f"{100 * v:.2f}", "psnr": f"{v:.2f}", "ssim": f"{v:.4f}"}[metric]


def shown_groups(results: dict[str, dict]) -> list[str]:
    """Column groups with at least one value (RoI and levels need annotations)."""
    return [g for g in GROUPS if any(res[g]["count"] for res in results.values())]


def format_table(results: dict[str, dict]) -> str:
    """Fixed-width text table: one row per method, three metrics per shown group, counts last."""
    groups = shown_groups(results)
    name_w = max([len("Method")] + [len(m) for m in results]) + 2
    cell_w = 8
    group_w = cell_w * len(TABLE_METRICS) + 2
    head1 = " " * name_w + "".join(g.capitalize().ljust(group_w) for g in groups)
    head2 = "Method".ljust(name_w) + "".join(
        "".join(("LPIPS" if m == "lpips" else m.upper()).rjust(cell_w) for m in TABLE_METRICS) + "  " for _ in groups)
    lines = [head1.rstrip(), head2.rstrip(), "-" * len(head2.rstrip())]
    for method, res in results.items():
        cells = "".join("".join(_cell(res[g][m], m).rjust(cell_w) for m in TABLE_METRICS) + "  " for g in groups)
        lines.append((method.ljust(name_w) + cells).rstrip())
    counts = "".join(f"n={max(res[g]['count'] for res in results.values())}".rjust(group_w - 2) + "  "
                     for g in groups)
    lines.append(("triplets".ljust(name_w) + counts).rstrip())
    epe = {m: r["epe"]["mean"] for m, r in results.items() if r["epe"]["mean"] is not None}
    if epe:
        lines.append("Flow EPE (px): " + ", ".join(f"{m} {v:.3f}" for m, v in epe.items()))
    return "\n".join(lines)


def markdown_table(results: dict[str, dict]) -> str:
    """The same table in Markdown (one header row, ``Group LPIPS×100`` etc.)."""
    groups = shown_groups(results)
    header = ["Method"] + [f"{g.capitalize()} {'LPIPS×100' if m == 'lpips' else m.upper()}"
                           for g in groups for m in TABLE_METRICS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for method, res in results.items():
        lines.append("| " + " | ".join([method] + [_cell(res[g][m], m) for g in groups for m in TABLE_METRICS]) + " |")
    counts = ", ".join(f"{g}: {max(res[g]['count'] for res in results.values())}" for g in groups)
    lines.append("")
    lines.append(f"Triplets per group: {counts}.")
    epe = {m: r["epe"]["mean"] for m, r in results.items() if r["epe"]["mean"] is not None}
    if epe:
        lines.append("Flow end-point error (px): " + ", ".join(f"{m} {v:.3f}" for m, v in epe.items()) + ".")
    return "\n".join(lines)


def json_safe(obj: object) -> object:
    """Replace non-finite floats (not valid JSON) by strings ``"inf"``/``"-inf"``/``None``."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj
