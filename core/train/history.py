"""The training log: one CSV row per logging point, and a PNG of the curves.

``metrics.csv`` columns: ``step, epoch, stage, split`` (``train`` = mean over the steps since the
previous train row; ``val`` = the validation split), ``loss, l1, vgg, gram`` (unweighted terms,
``loss`` weighted by the stage), ``psnr, ssim`` (validation only), ``lr``, ``seconds`` (since the
run started, this session). On resume, rows after the checkpoint's step are dropped so the log
matches the weights. :func:`plot_curves` draws loss and PSNR/SSIM against the step (needs
matplotlib, the ``plot`` extra; without it no plot is written).
"""

from __future__ import annotations

import csv
import logging
import math
import os
from pathlib import Path

log = logging.getLogger(__name__)

COLUMNS = ("step", "epoch", "stage", "split", "loss", "l1", "vgg", "gram", "psnr", "ssim", "lr", "seconds")


class MetricsLog:
    """Append-only CSV with the columns :data:`COLUMNS`."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def rows(self) -> list[dict[str, str]]:
        if not self.path.is_file():
            return []
        with open(self.path, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))

    def append(self, row: dict[str, object]) -> None:
        new = not self.path.is_file()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS)
            if new:
                writer.writeheader()
            writer.writerow({k: _fmt(row.get(k)) for k in COLUMNS})

    def truncate_after(self, step: int) -> None:
        """Drop rows logged after ``step`` (atomically)."""
        rows = [r for r in self.rows() if int(r["step"]) <= step]
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows({k: r.get(k, "") for k in COLUMNS} for r in rows)
        os.replace(tmp, self.path)


def plot_curves(
    rows: list[dict[str, str]], path: str | os.PathLike, title: str = "fine-tuning"
) -> Path | None:
    """Loss (train and validation) and validation PSNR/SSIM against the step, as a PNG.

    Returns the path, or None when matplotlib is not installed or there is nothing to draw.
    """
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except Exception:  # noqa: BLE001 - the 'plot' extra is optional (and may be broken)
        log.info("matplotlib is not installed in this Python environment; no curve plot (install matplotlib "
                 "there to get curves.png)")
        return None
    if not rows:
        return None
    series = {split: [r for r in rows if r["split"] == split] for split in ("train", "val")}
    fig, (ax_loss, ax_quality) = plt.subplots(1, 2, figsize=(11, 4))
    for split, style in (("train", "-"), ("val", "o-")):
        points = [(int(r["step"]), float(r["loss"])) for r in series[split] if _num(r["loss"])]
        if points:
            ax_loss.plot(*zip(*points), style, label=f"{split} loss", markersize=3)
    previous = None
    for r in series["train"]:  # stage changes (e.g. L1+VGG -> style): the loss scale changes there
        if previous is not None and r["stage"] != previous:
            ax_loss.axvline(int(r["step"]) - 1, color="grey", linestyle=":", linewidth=1)
            ax_loss.text(
                int(r["step"]) - 1,
                1.0,
                f" {r['stage']}",
                transform=ax_loss.get_xaxis_transform(),
                va="top",
                fontsize=8,
                color="grey",
            )
        previous = r["stage"]
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("loss (stage-weighted)")
    if any(float(r["loss"]) > 0 for r in rows if _num(r["loss"])):
        ax_loss.set_yscale("log")
    ax_loss.grid(alpha=0.3)
    ax_loss.legend()
    val = series["val"]
    psnr = [(int(r["step"]), float(r["psnr"])) for r in val if _num(r["psnr"])]
    ssim = [(int(r["step"]), float(r["ssim"])) for r in val if _num(r["ssim"])]
    if psnr:
        ax_quality.plot(*zip(*psnr), "o-", color="tab:green", label="val PSNR (dB)", markersize=3)
    ax_quality.set_xlabel("step")
    ax_quality.set_ylabel("PSNR (dB)")
    ax_quality.grid(alpha=0.3)
    if ssim:
        ax_ssim = ax_quality.twinx()
        ax_ssim.plot(*zip(*ssim), "s--", color="tab:purple", label="val SSIM", markersize=3)
        ax_ssim.set_ylabel("SSIM")
        ax_ssim.legend(loc="lower right")
    if psnr:
        ax_quality.legend(loc="upper left")
    fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def _fmt(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    return str(value)


def _num(text: str | None) -> bool:
    try:
        return text not in (None, "") and math.isfinite(float(text))
    except ValueError:
        return False
