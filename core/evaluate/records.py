"""The per-triplet results file (CSV) and the run description that makes a run resumable.

``metrics.csv`` has one row per (triplet, method) with :data:`COLUMNS`; a row is appended and
flushed as soon as it is scored, so an interrupted run loses at most the triplet in progress. A
rerun with the same ``--out`` reads the file, and the runner skips every (triplet, method) whose row
already has all the metrics it computes (a row lacking e.g. LPIPS is scored again). ``run.json`` records
what the numbers mean (data, size, conventions); a rerun that would mix incompatible numbers is
refused.
"""
from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

from ..errors import InputError
from .scoring import METRIC_COLUMNS

KEY_COLUMNS = ("name", "method")
INFO_COLUMNS = ("t", "level", "width", "height", "seconds")
COLUMNS = KEY_COLUMNS + INFO_COLUMNS + METRIC_COLUMNS

Row = dict[str, object]


def _format(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    return str(value)


def parse_float(text: object) -> float | None:
    """A CSV cell as float (``None`` for an empty cell)."""
    if text is None or text == "":
        return None
    return float(text)  # accepts "inf"


class ResultsTable:
    """Rows of ``metrics.csv`` keyed by ``(name, method)``, in the order they were first scored."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.rows: dict[tuple[str, str], Row] = {}
        if self.path.is_file():
            self._load()

    def _load(self) -> None:
        with open(self.path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None or not set(KEY_COLUMNS) <= set(reader.fieldnames):
                raise InputError(f"{self.path} is not a results file of this tool; choose another --out")
            for row in reader:
                if None in row.values() or not row.get("name"):  # a line cut short by an interruption
                    continue
                self.rows[(row["name"], row["method"])] = {k: row.get(k, "") for k in COLUMNS}

    def add(self, row: Row) -> None:
        """Record a row and append it to the file (header written for a new file)."""
        cells = {k: _format(row.get(k)) for k in COLUMNS}
        self.rows[(str(row["name"]), str(row["method"]))] = cells
        new = not self.path.is_file() or self.path.stat().st_size == 0
        with open(self.path, "a", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS)
            if new:
                writer.writeheader()
            writer.writerow(cells)
            f.flush()

    def rewrite(self) -> None:
        """Rewrite the file without superseded duplicates (atomically)."""
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(self.rows.values())
        os.replace(tmp, self.path)

    def for_method(self, method: str) -> list[Row]:
        return [r for (_, m), r in self.rows.items() if m == method]


def check_run_description(path: str | os.PathLike, description: dict) -> None:
    """Write ``run.json``, or check that an existing one describes a compatible run.

    Raises:
        InputError: the folder holds results for other data or another frame size.
    """
    p = Path(path)
    if p.is_file():
        try:
            old = json.loads(p.read_text(encoding="utf-8"))
        except ValueError:
            old = {}
        for key in ("data", "size"):
            if key in old and old[key] != description[key]:
                raise InputError(
                    f"{p.parent} holds results for {key} {old[key]!r}, not {description[key]!r}; "
                    "use another --out folder (or delete that one) so results are not mixed"
                )
    tmp = p.with_name(f".{p.name}.tmp")
    tmp.write_text(json.dumps(description, indent=2), encoding="utf-8")
    os.replace(tmp, p)
