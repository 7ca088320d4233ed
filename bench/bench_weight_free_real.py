"""Weight-free in-betweens on the real development set against the cross-fade and the DIS warp.

For each set (colour at 960x540, line art at its native size) and each method (``blend`` =
cross-fade, ``dis`` = OpenCV DIS warp, ``weight-free`` = the pipeline without weights): mean PSNR,
SSIM, LPIPS (when its weights resolve offline, else "unavailable"), the share of triplets on which
the method beats the DIS warp in PSNR, its worst triplet against the cross-fade (PSNR difference),
how many triplets fall more than 0.5 dB below the cross-fade and how many have a higher LPIPS than
it (issue 14 item 1 asks for none), and the median seconds per in-between (all in this one run, ``torch.set_num_threads(--threads)``).
It also writes a contact sheet (frame 1 | cross-fade | weight-free | frame 3) of the named pairs
to ``bench/results/weight_free_pairs.png``.

Usage: ``python bench/bench_weight_free_real.py [--data .../real_anime_dev] [--limit N]``

What each step of the weight-free synthesis gave (issue 14; dev set, mean PSNR dB colour / line
art, same flows from ``refine_dis``, exploration runs on cached flows that led here):

* before (forward splatting of the pixels, consistency softmax, inpainted holes): 27.30 / 21.74
  (DIS warp 27.19 / 22.26, cross-fade 23.55 / 20.22; ``animeinterp evaluate`` on the dev set);
* motion splatted to t (consistency softmax) + push-pull hole filling + backward warping of both
  frames: 27.64 / 22.26 without visibility weights, 27.60 / 22.19 with them;
* per-pixel choice among {motion at t, F13(x), -F31(x)} by the warped frames' agreement: +0.04 /
  +0.1 dB, SSIM +0.002 / +0.012, but it prefers a still background to a figure passing over it
  (exact flows, 130 px synthetic motion: 23.4 -> 17.8 dB): left out;
* cross-fade fall-back by the warped frames' disagreement relative to the frames' own: raised the
  share of triplets won against DIS (colour 0.64 -> 0.86 with the choice above) and the worst
  triplet against the cross-fade (line art -0.42 -> +0.32 dB); with the floor that keeps a figure
  over a same-looking background (``MIN_DIFFERENCE``) it gives less (see the table);
* faster-in-front priority where motions collide at t: needed for exact large motion (synthetic
  130 px: 16.3 -> 23.4 dB with visibility), costs about 0.2 dB on real colour;
* weighting visibility by the arrivals' forward-backward consistency, and a "both frames reach
  the pixel, neither consistently" fall-back: no visible change on the named pairs; left out.

Flows (``refine_dis``; same synthesis; exploration runs on cached SGM results, mean PSNR dB
colour / line art from 27.38 / 22.25 with the per-pixel choice among the candidate flows):

* one candidate per drawn piece (the SGM segment of the source frame, lowest warping error summed
  over it) for segments of at most 5 % of the frame: 27.56 / 22.25; 1 %: 27.40 / 22.27; 20 %
  (kept): 27.60 / 22.26 (SSIM +0.0004 / +0.0011); every segment, backgrounds too: 27.60 / 22.26.
  The eyes of bocchi and the boy's torso of 72105_388 come out far less shredded;
* on top of it, pixels far (> 1.5 px, or 4 px) from their piece's robust affine fit of the flow
  replaced by the fit: 27.21 / 22.17 (26.74 / 22.22 at 4 px) -- the fit is worse than the
  flows it overrides: left out;
* the piece's median translation, or its robust affine fit, as one more whole-piece candidate:
  27.57 / 22.26 and 27.60 / 22.25, no visible change: left out.

* a second choice with each candidate's forward-backward inconsistency against the other
  direction's first choice added to its warping error (15 per px, capped at 20 px): 27.60 / 22.34
  (SSIM 0.9387 / 0.8410; weights 5 and 40 give 27.60 / 22.34 and 27.61 / 22.35): kept. The walker
  of 74302_1349 and bocchi's left eye come out a little more whole. The consistency pass with
  the per-pixel choice (no label maps, as in the clip renderer) gives 27.57 / 22.36 (SSIM 0.9388 /
  0.8408): most of the PSNR is the consistency pass; the per-piece choice is what keeps pieces whole
  on the named pairs. Synthetic cartoons
  (``bench_weight_free.py --count 4``): 28.32 -> 28.35 moderate, 26.93 -> 26.93 large.

Several flow hypotheses (exploration runs on cached SGM results; mean PSNR dB colour / line art,
SSIM, LPIPS v0.1 AlexNet; from 27.60 / 22.34, SSIM 0.9387 / 0.8410, LPIPS 0.0854 / 0.1250):

* a fresh DIS object per call: one that was given an initial flow started its next call from its
  last result, so the "plain" 3->1 candidate (computed after the seeded 1->3) was not plain (mean
  8-11 px away from plain DIS on four colour triplets). Alone: 27.56 / 22.35; it is what makes the
  next step work (with the stale plain flow it gave 27.60 / 22.44);
* the plain DIS flows as a second hypothesis: the in-between synthesised from each, mixed per pixel
  by a softmax of their warped frames' disagreement (box 31 px, temperature 0.02): 27.73 / 22.42,
  SSIM 0.9398 / 0.8442, LPIPS 0.0830 / 0.1247 (full bench run). Most of it is hedging: where no
  hypothesis explains a region clearly better, the mean of two plausible in-betweens scores better
  than either (the plain mean of our output and the DIS warp's gives 27.79 / 22.60);
* the seeded DIS flows as a third hypothesis (kept): 27.79 / 22.46, SSIM 0.9406 / 0.8462, LPIPS
  0.0817 / 0.1252; +0.35 s per colour in-between. Synthetic cartoons (``bench_weight_free.py
  --count 4``): 28.35 -> 28.33 moderate, 26.93 -> 27.01 large;
* tried and left out: the fused flow Gaussian-smoothed (sigma 8 px) or median-filtered as a fourth
  hypothesis (27.80 / 22.46, LPIPS 0.0816 / 0.1258; no gain); averaging in-betweens at t - 0.1, t,
  t + 0.1 (timing hedge: 27.66 / 22.43, LPIPS 0.110 / 0.149, double images); bicubic instead of
  bilinear warps (27.47 / 22.17: the sharper warps score worse); other fall-back ratios
  (``TRUST_RATIO`` (0.3, 0.8): -0.02 / -0.15 dB; (0.7, 1.3): -0.01 / -0.02 dB); a temperature of
  0.05 or a 15 px window for the mix (within 0.02 dB); the DIS baseline's own in-between (plain
  flows at x, no motion to t) as a fourth hypothesis (27.81 / 22.52, wins 64 % / 97 %, but line-art
  LPIPS 0.1272, above the DIS warp's 0.1259).
* more candidate flows for the per-piece choice (before the hypotheses): DIS at the finest scale
  (27.64, +0.5 s), DIS on half-size frames with 16 px patches seeding a full-size DIS (27.57), the
  other direction's candidates inverted by splatting (27.61), a variational refinement of the
  chosen flow (27.61) -- all within 0.04 dB: left out. The choice among candidate flows is not
  where the figures are lost: on the colour triplets the warp error is at the outlines of the whole
  figure, for every flow tried, and the true in-between is often not on the linear path (anidoc
  sample4 f0008-10, the worst triplet against the cross-fade: the head turns with different timing).

Mixing the hypotheses (issue 14 item 3; cached flows and in-betweens of the dev set, mean PSNR dB
/ SSIM / LPIPS colour ; line art, from the heuristic mix 27.79 / 0.9406 / 0.0817 ; 22.46 / 0.8462 /
0.1252). Code and scripts of this section: commit "experiment (reverted next)" on the ``fusion``
branch (``core/weightfree/fusion.py``, ``fusion_train.py``, ``bench/fusion_experiment/``):

* the cross-fade as a fourth hypothesis (its disagreement ``|frame1 - frame3|``): 27.79 / 0.9410 /
  0.0817 ; 22.47 / 0.8466 / 0.1263 (LPIPS above the cross-fade on 11 line-art triplets instead of
  13, but mean line-art LPIPS up); with its disagreement raised by 0.05: 27.79 / 0.9408 / 0.0813 ;
  22.46 / 0.8463 / 0.1255. Left out (t = 0.5 on every dev triplet: no "nearer frame" to try);
* each hypothesis alone: fused 27.56 / 0.9385 / 0.0856 ; 22.35 / 0.8410 / 0.1236, plain DIS 27.58 /
  0.9387 / 0.0846 ; 22.31 / 0.8367 / 0.1281, seeded DIS 27.50 / 0.9390 / 0.0852 ; 22.34 / 0.8408 / 0.1250;
* the ceiling of any mixing of these four candidates (the best one per box window chosen *with the
  ground truth*): per pixel 30.83 ; 24.05, 15 px windows 29.00 ; 22.67, 31 px 28.50 ; 22.55. Line art
  cannot reach DIS + 1.0 dB (23.26) by mixing these candidates at any window a flow-free mix could
  judge; colour could gain up to ~0.7 dB;
* a tiny learned fusion net (half-resolution 3-level U-Net, 35-65k parameters, zero-initialised
  logit correction added to the heuristic's softmax logits), trained only on synthetic cartoons
  (300 examples, 250 for training, 1 CPU thread, 1000-3000 Adam steps, L1; 2-5 min): it gains
  +0.02 to +0.38 dB on held-out synthetic examples and never on the dev set:
  RGB candidates and frames as input, flat cartoons: it learns to take the seeded DIS hypothesis
  everywhere (27.50 / 0.9390 / 0.0852 ; 22.34 / 0.8408 / 0.1250, exactly "seeded DIS alone");
  colour-free inputs and crops centred where the candidates differ: 27.65 / 0.9406 / 0.0818 ; 22.44 /
  0.8477 / 0.1262; with eased spacing in the examples (``random_scene(timing_jitter=)``): 27.63 /
  0.9406 / 0.0834 ; 22.40 / 0.8439 / 0.1286; examples dressed like real drawings (shading attached to
  the shapes, a painted background panned by a camera drift, anti-aliasing, JPEG): back to seeded DIS
  everywhere; one shared scorer per candidate (so no hypothesis can be preferred by its place):
  27.75 / 0.9411 / 0.0823 ; 22.45 / 0.8520 / 0.1352 (line-art LPIPS above the cross-fade on 14);
  without the cross-fade candidate: 27.72 / 0.9406 / 0.0815 ; 22.47 / 0.8505 / 0.1269 (wins 64 % /
  77 %); with an image-gradient L1 term: 27.75 / 0.9416 / 0.0826 ; 22.42 / 0.8522 / 0.1368. On the
  named pairs its in-betweens cannot be told from the heuristic mix's. +0.59 s per 960x540
  in-between. Left out: on synthetic cartoons the refiner's flows fail differently from real
  drawings (seeded DIS is nearly always right there), and what the net learns there does not carry
  over. The synthetic generator keeps the line-art style and eased spacing it gained for this;
* the box-averaged disagreements replaced by kornia's edge-aware ``guided_blur`` (guide: the mean
  candidate; kernel 15 or 31, eps 1e-2 or 1e-3): at best 27.80 / 0.9407 / 0.0815 ; 22.47 / 0.8475 /
  0.1260, line-art wins 84 -> 77 %: noise level, left out;
* whole drawn pieces that are mostly forward-backward inconsistent (share of pixels > 3 px above
  0.4-0.7, SGM segments of >= 200 px, both frames, and where they land at t) faded to the
  cross-fade: 26.52 / 0.9199 / 0.1142 ; 22.08 / 0.8190 / 0.1335 (other thresholds 25.97-26.97 ;
  22.00-22.18): inconsistency is common where the in-between is right; left out. On 72105_388 the
  boy's flows themselves are wrong (flows of 100+ px in background patches beside him, most of the
  figure inconsistent), and both warped frames show the same background in the holes of his shirt,
  so the disagreement-driven fall-back cannot see them.

The motion at t corrected by the residual between the two warped frames (``core.weightfree.align``;
session of 2026-12-03 15:00-15:40 UTC, cached flows, then a full run; from 27.79 / 0.9406 / 0.0817 ;
22.46 / 0.8462 / 0.1252):

* DIS from warp 1 to warp 3, added to the motion where the re-warped frames agree better over 15 px
  (kept as "one way"): 27.80 / 0.9407 / 0.0807 ; 22.51 / 0.8494 / 0.1252, line-art LPIPS above the
  cross-fade on 11; **symmetrised** (half of DIS one way minus the other, kept): 27.79 / 0.9407 /
  0.0806 ; 22.50 / 0.8493 / 0.1247, LPIPS above the cross-fade on 10 line-art triplets (was 13);
  the lines come out darker and less doubled. Colour wins 64 -> 57 %: anidoc sample4 f0008-10 goes
  from 0.02 dB above the DIS warp to 0.02 dB below it. +0.4 s per colour in-between (two DIS per
  hypothesis). Synthetic cartoons (``bench_weight_free.py --count 4``): 28.33 -> 28.36 moderate,
  27.01 -> 27.39 large; with exact flows and 130 px motion 20.6 -> 22.5 dB;
* unconditionally (the corrected motion everywhere): 27.79 / 0.9405 / 0.0824 ; 22.50 / 0.8487 /
  0.1250: the agreement test is what keeps it from harm;
* a fall-back to the cross-fade where the motion at t scatters (its spread in a 31 px box above
  20 px, fully at 60 px): colour LPIPS 0.0804 (0.0794 with the correction), wins 71 %, but exact
  130 px synthetic motion 22.5 -> 18.5 dB: a figure's own outline is such a spread, and it turns to
  ghosts there; the boy of 72105_388 gets ghosts, not wholeness. Left out.

The hypotheses' mix (session of 2026-12-03 17:00-17:40 UTC; in-betweens and maps of the three
hypotheses cached per dev triplet, then mixed; mean PSNR dB / SSIM / LPIPS colour ; line art, from
27.79 / 0.9407 / 0.0806 ; 22.50 / 0.8493 / 0.1247, LPIPS above the cross-fade on 1 ; 10):

* the boy of 72105_388 had a hole through his torso because the fused and seeded hypotheses' warps
  *agree* there: both show the background. The plain DIS hypothesis alone keeps him whole, but its
  warps agree no better, so the mix never chose it. Each hypothesis' forward-backward inconsistency
  (capped at 20 px) brought to t along its motion and added to its disagreement
  (``INCONSISTENCY_COST`` per px) tells them apart: cost 0.002: 27.80 / 0.9407 / 0.0803 ; 22.50 /
  0.8492 / 0.1243; 0.01: 27.80 / 0.9406 / 0.0798 ; 22.48 / 0.8482 / 0.1230 (the hole mostly
  stays); **0.02 (kept)**: 27.79 / 0.9404 / 0.0796 ; 22.46 / 0.8475 / 0.1222, LPIPS above
  the cross-fade on 1 ; 9 (hole closed; the walker of 74302_1349 comes out darker and more
  present); 0.03: 27.78 / 0.9403 / 0.0796 ; 22.46 / 0.8470 / 0.1221 (1 ; 11); 0.05: 27.75 / 0.9402 /
  0.0797 ; 22.44 / 0.8463 / 0.1220 (1 ; 11). The full run (below) gives 0.02 slightly different
  figures: the inconsistency is capped before it is warped to t, not after;
* larger mixing windows without it (box 61, 91, 151, 251 px, one weight per picture): 27.83-27.84 ;
  22.53-22.57 at 61-151 px, wins 64 % ; 90 %, LPIPS within 0.0006 of 31 px at 61-91 and worse
  above (line-art LPIPS above the cross-fade on 10-12); the boy's hole stays; with the
  inconsistency at 91 px: 27.78-27.81 ; 22.47-22.50, LPIPS 0.0799-0.0800 ; 0.1226-0.1231 (11 ; 11),
  the hole only partly closed. A window chosen by how badly the best hypothesis explains the
  frames (31 px below 0.05, 91 px above 0.15): 27.84 / 0.9409 / 0.0805 ; 22.54 / 0.8497 / 0.1245.
  Left out: the PSNR moves by noise-level amounts and the hole stays;
* temperature 0.01 / 0.04 at 91 px: 27.81 / 27.85 ; 22.52 / 22.56, LPIPS above the cross-fade on 9 /
  12 line-art triplets: left out;
* the motion's roughness at t (Sobel magnitude, capped at 20) as the cost instead, 0.002 / 0.01
  per unit: 27.79 / 27.78 ; 22.50 / 22.48, LPIPS 0.0804 / 0.0801 ; 0.1243 / 0.1229; at 91 px (0.01,
  0.03) it leaves the hole: left out;
* where neither frame's splatted coverage reaches a pixel at t (its motion is pure hole filling),
  fading to the cross-fade: 27.80 / 0.9408 / 0.0805 ; 22.50 / 0.8493 / 0.1247: such pixels are
  rare (the boy's are seen by both frames, with the wrong content), no visible change: left out;
* a global mix of the in-between and the cross-fade (a quarter to three quarters of the
  cross-fade) raises the LPIPS of every line-art triplet whose LPIPS is above the cross-fade's
  (ghosts); darkening the lines (gamma 1.5 / 2 on the in-between) gives 0.1312 / 0.1458 and 17 / 22
  such triplets: left out.

Full run with the inconsistency in the mix (2026-12-03 17:37 UTC, nothing else of ours running, 2
threads; ``bench/results/weight_free_real.json``): colour 27.78 dB / SSIM 0.9403 / LPIPS 0.0800,
wins 57 %, worst -2.36 dB against the cross-fade; line art 22.46 / 0.8474 / 0.1224, wins 87 %,
worst +0.06 dB, LPIPS above the cross-fade on 1 colour and 10 line-art triplets (DIS: 1 and 10).
2.18 s per colour and 0.57 s per line-art in-between (DIS warp 0.093 / 0.027 s; the machine ran
slower than in the 15:33 run, when the DIS warp took 0.083 s). So against the 15:33 run: PSNR
-0.01 ; -0.04 dB, SSIM -0.0004 ; -0.0019, LPIPS -0.0006 ; -0.0023 (the mean LPIPS is what eyes
agree with on the named pairs). Synthetic cartoons (``bench_weight_free.py --count 4``, kept in
``bench/results/weight_free_synthetic.json``): moderate 28.36 -> 28.42, large 27.39 -> 27.35.

How far better motion could go on this set is measured by ``bench/bench_dev_ceiling.py`` (oracles
that see the true in-between): the artist's timing is worth 1.0 dB on colour, and on line art even
constant-speed motion taken from the truth stays below DIS + 1.0 dB.

Full run with the alignment at t (2026-12-03 15:33 UTC, quiet, 2 threads;
``bench/results/weight_free_real.json``): colour 27.79 dB / SSIM 0.9407 / LPIPS 0.0806, wins 57 %,
worst -2.32 dB against the cross-fade; line art 22.50 / 0.8493 / 0.1247, wins 87 %, worst +0.07 dB,
LPIPS above the cross-fade on 1 colour and 10 line-art triplets (DIS: 1 and 10). 1.88 s per colour
and 0.47 s per line-art in-between (DIS warp 0.08 / 0.02 s).

Earlier full run with the three hypotheses (2026-12-03, machine loaded by other jobs, load average 4-6):
colour 27.79 dB / SSIM 0.9406 / LPIPS 0.0817, wins 64 %, worst -2.26 dB against the cross-fade
(DIS 27.19 / 0.9363 / 0.0865); line art 22.46 / 0.8462 / 0.1252, wins 84 %, worst +0.11 dB (DIS
22.26 / 0.8334 / 0.1259). Seconds per in-between 1.94 / 3.55 in that run (two threads under a
load that varied during the run; each hypothesis adds one synthesis).
The same quality figures again from a one-thread run pinned to one core (``--threads 1``, other core
busy): 1.97 s per colour and 0.43 s per line-art in-between (DIS warp 0.12 / 0.03 s).
Against issue 14 item 2 (DIS + 1.0 dB, 80 % wins, every triplet within 0.5 dB of the cross-fade and
no LPIPS above it) this is still short: +0.60 / +0.20 dB, one colour triplet 2.26 dB below the
cross-fade, LPIPS above the cross-fade's on 1 colour and 13 line-art triplets (DIS: 1 and 10).

The named pairs still tear in places (the boy's legs and arm of 72105_388, the walker of
74302_1349): there, no candidate flow of a piece is right. The hypotheses make the boy's legs more
whole (the dark blocks and the black chequered shards at his hand are gone, the left arm's edge
still tears) and bocchi's eyes less shattered, but do not make the walker whole.

Real frames are evaluation material: they stay in the shared folder and are never committed.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    RESULTS_DIR,
    against_baselines,
    dev_set_parser,
    dev_triplets,
    environment,
    image_quality,
    lpips_model,
    main,
)

METHODS = ("blend", "dis", "weight-free")
SETS = (("colour", (960, 540)), ("lineart", None))
PAIRS = ("tooncrafter/72105_388", "tooncrafter/74302_1349", "comfyui_vfi/bocchi")


def build_parser() -> argparse.ArgumentParser:
    return dev_set_parser(__doc__.splitlines()[0])


def score_sets(args: argparse.Namespace) -> tuple[list[dict], str]:
    from comfyui_animeinterp.core.evaluate.methods import get_method
    from comfyui_animeinterp.core.io.images import to_tensor

    methods = {m: get_method(m) for m in METHODS}
    lpips, note = lpips_model()
    rows = []
    for name, size in SETS:
        scores = {m: {"psnr": [], "ssim": [], "lpips": [], "s": []} for m in METHODS}
        for tri in dev_triplets(args.data / name, size, args.limit):
            gt = to_tensor(tri.frame2, "cpu")
            for m, fn in methods.items():
                start = time.perf_counter()
                out = fn(tri.frame1, tri.frame3, tri.t)
                scores[m]["s"].append(time.perf_counter() - start)
                for key, value in zip(("psnr", "ssim", "lpips"), image_quality(to_tensor(out, "cpu"), gt, lpips)):
                    if value is not None:
                        scores[m][key].append(value)
        for m in METHODS:
            rows.append({"set": name, "size": "960x540" if size else "native", "triplets": len(scores[m]["psnr"]),
                         "method": m, **against_baselines(scores[m], scores["dis"], scores["blend"]),
                         "s_per_inbetween": round(statistics.median(scores[m]["s"]), 3)})
    return rows, note


def _tile(rgb: np.ndarray, width: int = 320) -> np.ndarray:
    h, w = rgb.shape[:2]
    return cv2.resize(rgb, (width, round(h * width / w)), interpolation=cv2.INTER_AREA)


def contact_sheet(args: argparse.Namespace) -> Path | None:
    """frame 1 | cross-fade | weight-free | frame 3 for each named pair (at most 960 px wide)."""
    from comfyui_animeinterp.core.evaluate.methods import blend, get_method
    from comfyui_animeinterp.core.io.video import write_image

    weight_free = get_method("weight-free")
    rows = []
    for pair in PAIRS:
        folder = args.data / "pairs" / pair
        if not (folder / "frame1.png").is_file():
            continue
        a, b = (np.ascontiguousarray(cv2.imread(str(folder / f))[:, :, ::-1]) for f in ("frame1.png", "frame3.png"))
        if a.shape[1] > 960:
            a, b = (cv2.resize(x, (960, round(x.shape[0] * 960 / x.shape[1])), interpolation=cv2.INTER_AREA)
                    for x in (a, b))
        tiles = [_tile(x) for x in (a, blend(a, b, 0.5), weight_free(a, b, 0.5), b)]
        rows.append(np.hstack(tiles))
    if not rows:
        return None
    width = max(r.shape[1] for r in rows)
    sheet = np.vstack([np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0))) for r in rows])
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / "weight_free_pairs.png"
    write_image(path, sheet)
    return path


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    rows, note = score_sets(args)
    sheet = contact_sheet(args)
    return {"bench": "weight_free_real", "environment": environment(), "lpips_note": note,
            "table": rows, "contact_sheet": str(sheet) if sheet else None}


if __name__ == "__main__":
    main(run, build_parser(), "weight_free_real.json")
