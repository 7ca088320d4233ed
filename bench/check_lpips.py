"""Check our LPIPS against the official example of the PerceptualSimilarity repository.

``imgs/ex_ref.png`` against ``imgs/ex_p0.png`` and ``imgs/ex_p1.png`` (64x64 RGB, BSD-2-Clause,
not shipped here: pass the folder holding them) give 0.7219 and 0.1376 with LPIPS v0.1 AlexNet
(the repository's README / test_network.py); identical images give 0. The weights come through
the manifest (``alexnet`` and ``lpips-alex``: cached, in ``--search-dir``, or downloaded unless
offline) or from ``--alexnet-weights``/``--lpips-weights``.

Writes ``bench/results/check_lpips.json`` (values, expected, differences, weight files' SHA-256)
and exits 1 when a value is off by more than ``--tolerance`` (default 1e-3).

Usage: ``python bench/check_lpips.py --images DIR [--search-dir DIR] [--offline]``
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import torch

EXPECTED = {"ex_p0.png": 0.7219, "ex_p1.png": 0.1376, "ex_ref.png": 0.0}
RESULTS = Path(__file__).resolve().parent / "results"


def _load(path: Path) -> torch.Tensor:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"cannot read {path} (put PerceptualSimilarity's imgs/ex_*.png in --images)")
    return torch.from_numpy(bgr[:, :, ::-1].copy()).permute(2, 0, 1)[None].float() / 255.0


def main(argv: list[str] | None = None) -> int:
    from comfyui_animeinterp.core.metrics.lpips import resolve_lpips
    from comfyui_animeinterp.core.weights.hashing import sha256_file

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=Path, required=True, help="folder with ex_ref.png, ex_p0.png, ex_p1.png")
    p.add_argument("--search-dir", action="append", default=[], help="folder to look for weights in first")
    p.add_argument("--alexnet-weights", help="AlexNet trunk file (default: manifest 'alexnet')")
    p.add_argument("--lpips-weights", help="linear heads file (default: manifest 'lpips-alex')")
    p.add_argument("--offline", action="store_true", help="never download")
    p.add_argument("--tolerance", type=float, default=1e-3)
    args = p.parse_args(argv)

    model, note = resolve_lpips(args.alexnet_weights, args.lpips_weights, search_dirs=args.search_dir,
                                offline=True if args.offline else None)
    if model is None:
        print(f"LPIPS unavailable: {note}", file=sys.stderr)
        return 2
    ref = _load(args.images / "ex_ref.png")
    values = {}
    with torch.no_grad():
        for name in EXPECTED:
            values[name] = float(model(ref, _load(args.images / name))[0])
    diffs = {k: abs(values[k] - EXPECTED[k]) for k in EXPECTED}
    ok = all(d <= args.tolerance for d in diffs.values())
    files = {}
    for explicit, name in ((args.alexnet_weights, "alexnet"), (args.lpips_weights, "lpips-alex")):
        from comfyui_animeinterp.core.weights import resolve_weight

        path = Path(explicit) if explicit else resolve_weight(name, search_dirs=args.search_dir, offline=True)
        files[name] = {"file": str(path), "sha256": sha256_file(path)}
    result = {"model": note, "values": values, "expected": EXPECTED, "abs_diff": diffs,
              "tolerance": args.tolerance, "agree": ok, "weights": files}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "check_lpips.json").write_text(json.dumps(result, indent=2) + "\n")
    for name, expected in EXPECTED.items():
        print(f"ex_ref vs {name:11s} LPIPS {values[name]:.6f}  expected {expected:.4f}  |diff| {diffs[name]:.2e}")
    print("agree" if ok else f"DISAGREE (tolerance {args.tolerance})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
