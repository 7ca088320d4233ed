"""Train the fusion net (:mod:`.fusion`) on synthetic cartoons; reproduces the shipped weights.

    python -m comfyui_animeinterp.core.weightfree.fusion_train [--cache /tmp/...] [--out FILE]

1. **Examples** (:func:`make_example`): for each seed, a :func:`..data.synthetic.random_scene` (flat
   colour or line art, 288x512 or 540x960, moderate to large motion, 3 to 8 shapes; drawn
   deterministically from the seed) rendered at t = 0 and 1 and at an in-between time, the
   weight-free pipeline's flows (SGM + ``refine_dis``) and each flow hypothesis' in-between
   (:func:`.blend.synthesize`). They are cached as ``.npz`` files (computed once, minutes).
2. **Training**: random crops, L1 between the fused in-between and the exact one, Adam, a fixed
   number of steps; fixed seeds, deterministic algorithms, one thread: the same file every run.

Real frames are never used here (the development set is for evaluation only).
"""
from __future__ import annotations

import argparse
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from .fusion import WEIGHTS_PATH, FusionNet, mix_weights, net_inputs, prior_logits, with_crossfade

SIZES = ((288, 512), (540, 960))
TIMES = (0.5, 0.5, 0.25, 0.75)
TIMING_JITTER = 0.12
"""Eased spacing of the moving shapes in 60 % of the examples (``random_scene(timing_jitter=)``): real
in-betweens are often off the linear path, where hedging between candidates pays."""


@dataclass(frozen=True)
class ExampleSpec:
    """How the scene of one training seed is drawn (all from the seed)."""

    seed: int
    height: int
    width: int
    style: str
    shift: float
    n_shapes: int
    t: float
    timing_jitter: float
    shading: bool
    backdrop: bool
    jpeg_quality: int


def example_spec(seed: int) -> ExampleSpec:
    """The deterministic scene settings of ``seed``: a third at 540x960, a third line art, motion up
    to 2-15 % of the width; eased spacing, JPEG artefacts and (colour only) shading and a painted
    panning background each in half of them."""
    rng = np.random.default_rng(10_000 + seed)
    height, width = SIZES[int(rng.integers(3) == 0)]
    style = "lineart" if rng.integers(3) == 0 else "flat"
    shift = float(rng.uniform(0.02, 0.15)) * width
    n_shapes, t = int(rng.integers(3, 9)), TIMES[int(rng.integers(len(TIMES)))]
    jitter = TIMING_JITTER if rng.random() < 0.5 else 0.0
    shading, backdrop = bool(rng.random() < 0.5), bool(rng.random() < 0.5)
    if style == "lineart":  # outlines on white stay so
        shading = backdrop = False
    jpeg = int(rng.integers(70, 95)) if rng.random() < 0.5 else 0
    return ExampleSpec(seed, height, width, style, shift, n_shapes, t, jitter, shading, backdrop, jpeg)


def painted_backdrop(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth random painted background ``float32 (H, W, 3)`` in [0, 255] (a few octaves of blurred
    noise around a light base colour)."""
    field = np.zeros((height, width, 3), np.float32)
    for sigma, amplitude, chroma in ((48, 30.0, 0.4), (12, 12.0, 0.2), (3, 5.0, 0.1)):
        noise = rng.standard_normal((height, width, 3)).astype(np.float32)
        noise = (1.0 - chroma) * noise.mean(axis=2, keepdims=True) + chroma * noise  # mostly light, some hue
        noise = cv2.GaussianBlur(noise, (0, 0), sigma)
        field += amplitude * noise / max(float(noise.std()), 1e-6)
    base = rng.uniform(120, 230, 3).astype(np.float32)
    return np.clip(field + base, 0, 255)


def dressed_frames(scene, times: list[float], spec: ExampleSpec) -> list[np.ndarray]:
    """The scene (drawn at twice the size) at ``times`` with what real drawings have and the flat
    cartoons lack, all exact at every t: linear shading attached to each shape, a painted background
    panned by a camera drift, anti-aliasing (area downscale by 2), JPEG artefacts; ``uint8 (H, W, 3)``."""
    rng = np.random.default_rng([spec.seed, 2])
    layers = scene._layers()
    slopes = rng.uniform(-0.4, 0.4, (len(layers), 2))
    reach = 0.2 * min(scene.height, scene.width)
    pan = rng.uniform(-0.03, 0.03, 2) * scene.width
    pad = int(np.ceil(np.abs(pan).max())) + 2
    backdrop = painted_backdrop(scene.height + 2 * pad, scene.width + 2 * pad, rng) if spec.backdrop else None
    ys, xs = np.mgrid[0:scene.height, 0:scene.width].astype(np.float64)
    out = []
    for t in times:
        frame, owner = scene.render(t)
        f = frame.astype(np.float32)
        if spec.shading:
            for k, shape in enumerate(layers):
                sel = owner == k + 1
                m = np.linalg.inv(shape.pose(t).matrix())
                lx = (m[0, 0] * xs[sel] + m[0, 1] * ys[sel] + m[0, 2]) / reach
                ly = (m[1, 0] * xs[sel] + m[1, 1] * ys[sel] + m[1, 2]) / reach
                f[sel] *= np.clip(1.0 + slopes[k, 0] * lx + slopes[k, 1] * ly, 0.5, 1.5)[:, None].astype(np.float32)
        if backdrop is not None:
            shift = np.float32([[1, 0, -pad + pan[0] * t], [0, 1, -pad + pan[1] * t]])
            back = cv2.warpAffine(backdrop, shift, (scene.width, scene.height), flags=cv2.INTER_LINEAR)
            f[owner == 0] = back[owner == 0]
        small = cv2.resize(np.clip(f, 0, 255), (scene.width // 2, scene.height // 2), interpolation=cv2.INTER_AREA)
        small = np.round(small).astype(np.uint8)
        if spec.jpeg_quality:
            ok, code = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, spec.jpeg_quality])
            small = cv2.imdecode(code, cv2.IMREAD_UNCHANGED)
        out.append(small)
    return out


def make_example(spec: ExampleSpec) -> dict[str, np.ndarray]:
    """Frames, exact in-between, the hypotheses' in-betweens ``(3, H, W, 3)`` and disagreements
    ``(3, H, W)`` of one synthetic scene (float16 for the candidates, uint8 frames)."""
    from ..data.synthetic import random_scene
    from ..pipeline import Interpolator
    from .blend import synthesize

    scene = random_scene(2 * spec.height, 2 * spec.width, seed=spec.seed, n_shapes=spec.n_shapes,
                         max_shift=2 * spec.shift, style=spec.style, timing_jitter=spec.timing_jitter)
    f1, f2, f3 = dressed_frames(scene, [0.0, spec.t, 1.0], spec)
    flows = Interpolator().prepare(f1, f3).flows
    a, b = f1.astype(np.float32) / 255, f3.astype(np.float32) / 255
    results, dis = zip(*(synthesize(a, b, torch.from_numpy(p)[None], torch.from_numpy(q)[None], spec.t)
                         for p, q in ((flows.flow_13, flows.flow_31), *flows.alternatives)))
    return {"frame1": f1, "frame2": f2, "frame3": f3, "t": np.float32(spec.t),
            "results": np.stack(results).astype(np.float16), "dis": np.stack(dis).astype(np.float16)}


def cached_examples(cache: Path, seeds: range) -> list[Path]:
    """The examples of ``seeds`` as files in ``cache`` (made where missing)."""
    cache.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed in seeds:
        path = cache / f"fusion_{seed:05d}.npz"
        if not path.exists():
            np.savez(path, **make_example(example_spec(seed)))
        paths.append(path)
    return paths


def training_tensors(path: Path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Net input ``(1, C, h, w)``, prior ``(1, K, H, W)``, candidates ``(1, K, 3, H, W)`` and truth
    ``(1, 3, H, W)`` of one cached example."""
    z = np.load(path)
    t = float(z["t"])
    a, b = z["frame1"].astype(np.float32) / 255, z["frame3"].astype(np.float32) / 255
    candidates, dis = with_crossfade(list(z["results"].astype(np.float32)), list(z["dis"].astype(np.float32)), a, b, t)
    x = net_inputs(candidates, dis, a, b, t)
    prior = torch.from_numpy(prior_logits(dis))[None]
    cand = torch.from_numpy(candidates).permute(0, 3, 1, 2)[None]
    truth = torch.from_numpy(z["frame2"].astype(np.float32) / 255).permute(2, 0, 1)[None]
    return x, prior, cand, truth


def fused(net: FusionNet, x: torch.Tensor, prior: torch.Tensor, cand: torch.Tensor) -> torch.Tensor:
    """The fused in-between ``(N, 3, H, W)`` (differentiable; :func:`.fusion.fuse` for inference)."""
    w = mix_weights(net(x), prior)
    return (w[:, :, None] * cand).sum(dim=1)


GRADIENT_WEIGHT = 1.0
"""Weight of the image-gradient L1 term: a ghosted (cross-faded) line costs more than its plain L1."""


def gradient_l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean L1 between the horizontal and vertical differences of ``a`` and ``b`` ``(N, C, H, W)``."""
    dx = lambda x: x[..., :, 1:] - x[..., :, :-1]
    dy = lambda x: x[..., 1:, :] - x[..., :-1, :]
    return (dx(a) - dx(b)).abs().mean() + (dy(a) - dy(b)).abs().mean()


def _crop(tensors, rng: np.random.Generator, size: int, focus: float = 0.8):
    """A crop (``size`` at half resolution); with probability ``focus`` centred on a pixel where the
    candidates differ (elsewhere every mix is the same and there is nothing to learn)."""
    x, prior, cand, truth = tensors
    h, w = x.shape[-2:]
    cy, cx = int(rng.integers(0, max(h - size, 0) + 1)), int(rng.integers(0, max(w - size, 0) + 1))
    if rng.random() < focus:
        ys, xs = np.nonzero(x[0, :, 0].amax(dim=0).numpy() > 0.1)
        if len(ys):
            k = int(rng.integers(len(ys)))
            cy = min(max(int(ys[k]) - size // 2, 0), max(h - size, 0))
            cx = min(max(int(xs[k]) - size // 2, 0), max(w - size, 0))
    fy, fx = 2 * cy, 2 * cx
    return (x[..., cy:cy + size, cx:cx + size], prior[..., fy:fy + 2 * size, fx:fx + 2 * size],
            cand[..., fy:fy + 2 * size, fx:fx + 2 * size], truth[..., fy:fy + 2 * size, fx:fx + 2 * size])


def train(paths: list[Path], steps: int, crop: int = 64, batch: int = 4, lr: float = 1e-3, seed: int = 0,
          log_every: int = 100) -> FusionNet:
    """Train a :class:`FusionNet` on the cached examples (deterministic for fixed arguments)."""
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    rng = np.random.default_rng(seed)
    data = [training_tensors(p) for p in paths]
    net = FusionNet()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1))
    start, running = time.perf_counter(), 0.0
    for step in range(steps):
        parts = [_crop(data[int(rng.integers(len(data)))], rng, crop) for _ in range(batch)]
        x, prior, cand, truth = (torch.cat(p) for p in zip(*parts))
        out = fused(net, x, prior, cand)
        loss = (out - truth).abs().mean() + GRADIENT_WEIGHT * gradient_l1(out, truth)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        running += float(loss.detach())
        if log_every and (step + 1) % log_every == 0:
            print(f"step {step + 1}/{steps} L1 {running / log_every:.5f} {time.perf_counter() - start:.0f}s", flush=True)
            running = 0.0
    return net.eval()


def save(net: FusionNet, path: Path) -> str:
    """Write the net's weights as safetensors; returns the file's SHA-256."""
    from safetensors.torch import save_file

    save_file({k: v.detach().contiguous() for k, v in net.state_dict().items()}, str(path))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cache", type=Path, default=Path("/tmp/animeinterp_fusion_examples"))
    p.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    p.add_argument("--examples", type=int, default=240)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--crop", type=int, default=64, help="crop side at the net's (half) resolution")
    p.add_argument("--batch", type=int, default=4)
    return p


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    paths = cached_examples(args.cache, range(args.examples))
    net = train(paths, args.steps, args.crop, args.batch)
    print(f"{args.out}: sha256 {save(net, args.out)}")


if __name__ == "__main__":
    main()
