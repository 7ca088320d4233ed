"""Run an evaluation: score methods on a data set, write CSV/JSON/Markdown and contact sheets.

Output folder (``EvaluationConfig.out``):

* ``metrics.csv`` — one row per (triplet, method), appended as scored (see :mod:`.records`);
* ``summary.json`` — conventions, data set, LPIPS status, per-method means and counts, skipped items;
* ``summary.md`` — the Table-5.3-style table in Markdown (the CLI prints the text version);
* ``worst_<method>.png`` — contact sheet of the ``worst`` worst triplets of each method;
* ``run.json`` and ``.worst_cache/`` — what makes a rerun resume instead of starting over.
"""
from __future__ import annotations

import datetime
import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from ..data.triplets import Size, Triplet, TripletDataset, open_dataset
from ..errors import DataError, InputError
from ..io.video import Skipped, write_image
from ..metrics.lpips import resolve_lpips
from .contact_sheet import WorstTracker, assemble_sheet, render_strip
from .methods import BASELINES, get_flow_estimator, get_method
from .records import ResultsTable, Row, check_run_description, parse_float
from .report import CONVENTIONS, json_safe, markdown_table, summarise_method
from .scoring import MIN_GAUSSIAN_SSIM, MIN_LPIPS, flow_score, score

log = logging.getLogger(__name__)

DEFAULT_SIZE: Size = (960, 540)
WORST_BY = ("auto", "lpips", "psnr", "ssim")


@dataclass
class EvaluationConfig:
    """What to evaluate and where to write it.

    Attributes:
        data: data set path or ``"synthetic[:N][:WxH]"`` (see :func:`..datasets.open_dataset`).
        methods: method names; the baselines are added unless ``baselines`` is False.
        size: evaluation size ``(W, H)``, ``None`` for each triplet's own size.
        lpips: compute LPIPS (if its weights can be found); ``alexnet_weights``/``lpips_weights``
            override the manifest.
        worst: rows per contact sheet; ``worst_by``: ``"auto"`` (LPIPS if available, else PSNR).
        limit: evaluate at most this many triplets.
        gaussian_ssim: also compute the textbook Gaussian-window SSIM (column ``ssim_gauss``).
        method_options: passed to every method factory (e.g. ``{"device": "cuda"}``).
    """

    data: str
    out: Path
    methods: list[str] = field(default_factory=lambda: ["full"])
    baselines: bool = True
    size: Size | None = DEFAULT_SIZE
    annotations: str | None = None
    lpips: bool = True
    alexnet_weights: str | None = None
    lpips_weights: str | None = None
    worst: int = 6
    worst_by: str = "auto"
    limit: int | None = None
    gaussian_ssim: bool = False
    device: str = "cpu"
    progress: bool = True
    method_options: dict = field(default_factory=dict)

    def method_list(self) -> list[str]:
        names = [m for m in self.methods]
        if self.baselines:
            names += [b for b in BASELINES if b not in names]
        seen: list[str] = []
        for n in names:
            if n not in seen:
                seen.append(n)
        return seen


def _badness(row: Row, metric: str) -> float | None:
    v = parse_float(row.get(metric))
    if v is None or math.isnan(v):
        return None
    return v if metric == "lpips" else -v


def _label(row: Row, method: str) -> str:
    parts = [f"{row['name']}  {method}:"]
    for key, fmt, scale, title in (("psnr", "{:.2f}", 1, "PSNR"), ("ssim", "{:.4f}", 1, "SSIM"),
                                   ("lpips", "{:.2f}", 100, "LPIPSx100")):
        v = parse_float(row.get(key))
        if v is not None:
            parts.append(f"{title} {fmt.format(v * scale)}")
    return "  ".join(parts)


def _versions() -> dict:
    return {"torch": torch.__version__, "opencv": cv2.__version__, "numpy": np.__version__}


class _Run:
    """State of one evaluation run (kept small: one triplet in memory at a time)."""

    def __init__(self, config: EvaluationConfig, echo: Callable[[str], None]):
        self.config, self.echo = config, echo
        self.out = Path(config.out)
        if config.worst_by not in WORST_BY:
            raise InputError(f"worst_by must be one of {', '.join(WORST_BY)}, got {config.worst_by!r}")
        self.dataset: TripletDataset = open_dataset(config.data, config.annotations)
        self.method_names = config.method_list()
        options = {"device": config.device, **config.method_options}
        self.methods = {m: get_method(m, **options) for m in self.method_names}
        self.flows = {m: get_flow_estimator(m, **options) for m in self.method_names} if self.dataset.has_flows else {}
        self.lpips_model, self.lpips_note = (None, "LPIPS disabled (--no-lpips)")
        if config.lpips:
            self.lpips_model, self.lpips_note = resolve_lpips(config.alexnet_weights, config.lpips_weights,
                                                              config.device)
        self.worst_by = config.worst_by if config.worst_by != "auto" else ("lpips" if self.lpips_model else "psnr")
        if self.worst_by == "lpips" and self.lpips_model is None:
            raise InputError(f"cannot rank the worst triplets by LPIPS: {self.lpips_note}")
        self.out.mkdir(parents=True, exist_ok=True)
        check_run_description(self.out / "run.json", {
            "data": str(config.data), "size": list(config.size) if config.size else "native",
            "dataset": self.dataset.description, "conventions": CONVENTIONS})
        self.table = ResultsTable(self.out / "metrics.csv")
        self.tracker = WorstTracker(self.out / ".worst_cache", config.worst)
        self.skipped: list[Skipped] = []
        self.seen: list[str] = []

    def is_complete(self, name: str, method: str) -> bool:
        """True if an earlier row has every metric this run computes (so it is not scored again)."""
        row = self.table.rows.get((name, method))
        if row is None:
            return False
        side = min(int(row.get("width") or 0), int(row.get("height") or 0))
        needed = ["psnr", "ie"]
        if self.lpips_model is not None and side >= MIN_LPIPS:
            needed.append("lpips")
        if self.config.gaussian_ssim and side >= MIN_GAUSSIAN_SSIM:
            needed.append("ssim_gauss")
        if self.flows.get(method) is not None:
            needed.append("epe")
        return all(row.get(c, "") != "" for c in needed)

    def _skip(self, name: str, reason: str) -> None:
        self.skipped.append(Skipped(name, reason))
        log.warning("skipped %s: %s", name, reason)

    def evaluate_all(self) -> None:
        from tqdm import tqdm

        limit = self.config.limit
        total = self.dataset.size_hint()
        if limit is not None:
            total = min(total, limit) if total is not None else limit
        seeded: set[tuple[str, str]] = set()
        bar = tqdm(total=total, unit="triplet", disable=not self.config.progress, dynamic_ncols=True)
        try:
            for entry in self.dataset.entries():
                if limit is not None and len(self.seen) >= limit:
                    break
                self.seen.append(entry.name)
                pending = [m for m in self.method_names if not self.is_complete(entry.name, m)]
                for m in self.method_names:
                    if m not in pending and (m, entry.name) not in seeded:
                        seeded.add((m, entry.name))
                        b = _badness(self.table.rows[(entry.name, m)], self.worst_by)
                        if b is not None:
                            self.tracker.seed(m, entry.name, b)
                if pending:
                    self._evaluate_entry(entry, pending)
                bar.update(1)
                bar.set_postfix_str(entry.name[-24:], refresh=False)
        finally:
            bar.close()

    def _evaluate_entry(self, entry, pending: list[str]) -> None:
        try:
            triplet = entry.load().resized(self.config.size)
        except DataError as e:
            self._skip(entry.name, str(e))
            return
        for m in pending:
            start = time.perf_counter()
            try:
                pred = self.methods[m](triplet.frame1, triplet.frame3, triplet.t)
            except InputError as e:
                self._skip(f"{entry.name} [{m}]", str(e))
                continue
            seconds = time.perf_counter() - start
            if pred.shape != triplet.frame2.shape or pred.dtype != np.uint8:
                raise InputError(f"method {m!r} returned {pred.dtype} {pred.shape}, expected uint8 {triplet.frame2.shape}")
            row: Row = {"name": triplet.name, "method": m, "t": triplet.t, "level": triplet.level or "",
                        "width": triplet.size[0], "height": triplet.size[1], "seconds": seconds}
            row.update(score(pred, triplet, self.lpips_model, self.config.device, self.config.gaussian_ssim))
            estimator = self.flows.get(m)
            if estimator is not None:
                row["epe"] = flow_score(estimator(triplet.frame1, triplet.frame3), triplet)
            self.table.add(row)
            b = _badness(self.table.rows[(triplet.name, m)], self.worst_by)
            if b is not None:
                stored = self.table.rows[(triplet.name, m)]
                label = _label(stored, m)
                self.tracker.offer(m, triplet.name, b, lambda p=pred, s=label: render_strip(triplet, p, s))

    def contact_sheets(self) -> dict[str, str]:
        """Write ``worst_<method>.png``; strips missing from the cache are recomputed in one pass."""
        missing: dict[str, list[str]] = {}
        for m in self.method_names:
            self.tracker.prune(m)
            for _, name in self.tracker.worst(m):
                if self.tracker.cached_strip(m, name) is None:
                    missing.setdefault(name, []).append(m)
        if missing:
            for entry in self.dataset.entries():
                if entry.name not in missing:
                    continue
                try:
                    tri: Triplet = entry.load().resized(self.config.size)
                except DataError:
                    continue
                for m in missing[entry.name]:
                    pred = self.methods[m](tri.frame1, tri.frame3, tri.t)
                    strip = render_strip(tri, pred, _label(self.table.rows[(tri.name, m)], m))
                    write_image(self.tracker.strip_path(m, tri.name), strip)
        sheets = {}
        for m in self.method_names:
            strips = [s for _, n in self.tracker.worst(m) if (s := self.tracker.cached_strip(m, n)) is not None]
            if not strips:
                continue
            title = f"{m}: {len(strips)} worst triplets by {self.worst_by.upper()}  (error map: black = exact, " \
                    f"yellow >= 64 levels)"
            path = self.out / f"worst_{m}.png"
            write_image(path, assemble_sheet(strips, title))
            sheets[m] = path.name
        return sheets

    def summary(self, sheets: dict[str, str]) -> dict:
        names = set(self.seen)
        results = {m: summarise_method([r for r in self.table.for_method(m) if r["name"] in names])
                   for m in self.method_names}
        cfg = self.config
        return {
            "generated": datetime.datetime.now().isoformat(timespec="seconds"),
            "data": str(cfg.data),
            "dataset": self.dataset.description,
            "size": list(cfg.size) if cfg.size else "native",
            "triplets": len(self.seen),
            "methods": self.method_names,
            "conventions": CONVENTIONS,
            "lpips": {"available": self.lpips_model is not None, "note": self.lpips_note},
            "worst_by": self.worst_by,
            "results": results,
            "contact_sheets": sheets,
            "skipped": [{"name": s.name, "reason": s.reason} for s in self.dataset.skipped + self.skipped],
            "notes": self.dataset.notes,
            "versions": _versions(),
        }


def run_evaluation(config: EvaluationConfig, echo: Callable[[str], None] = print) -> dict:
    """Evaluate and write every output (see the module docstring); return the summary dict.

    Raises:
        DataError: the data set is unusable (nothing to score).
        InputError: bad options, unknown method, or an ``out`` folder holding other results.
    """
    run = _Run(config, echo)
    if run.lpips_model is None:
        echo(f"note: {run.lpips_note}; the other metrics are reported")
    run.evaluate_all()
    run.table.rewrite()
    scored = {r["name"] for m in run.method_names for r in run.table.for_method(m)} & set(run.seen)
    if not scored:
        reasons = "; ".join(map(str, run.dataset.skipped + run.skipped)) or "no triplets found"
        raise DataError(f"{run.dataset.description}: no usable triplets ({reasons})")
    summary = run.summary(run.contact_sheets())
    tmp = run.out / ".summary.json.tmp"
    tmp.write_text(json.dumps(json_safe(summary), indent=2), encoding="utf-8")
    os.replace(tmp, run.out / "summary.json")
    size = summary["size"] if summary["size"] == "native" else "x".join(map(str, summary["size"]))
    md = [f"# Evaluation: {summary['dataset']}", "", f"Size: {size}; LPIPS: {run.lpips_note}.", "",
          markdown_table(summary["results"]), "",
          "Conventions:", *[f"- {k}: {v}" for k, v in CONVENTIONS.items()]]
    if summary["skipped"]:
        md += ["", "Skipped:", *[f"- {s['name']}: {s['reason']}" for s in summary["skipped"]]]
    (run.out / "summary.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    return summary
