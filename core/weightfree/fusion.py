"""A small learned fusion of the weight-free path's candidate in-betweens.

The weight-free synthesis gives one in-between per flow hypothesis (:func:`.blend.synthesize`) plus
the cross-fade. :func:`.blend.mix_hypotheses` mixes them by a softmax of box-averaged warped-frame
disagreement; here a tiny U-Net (:class:`FusionNet`, about 30k parameters, at half resolution) adds a
per-pixel correction to those softmax logits, from the candidates, their disagreements, the two
frames and t. Its last layer starts at zero, so an untrained net is the heuristic mix (with the
cross-fade as one more candidate).

The net was trained only on the project's synthetic cartoons (exact in-betweens) by
``python -m comfyui_animeinterp.core.weightfree.fusion_train``, which reproduces the shipped file
``fusion_weights.safetensors`` (checked against :data:`WEIGHTS_SHA256` at load; nothing is
downloaded). Inference is deterministic (same input, same bytes).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import WeightsError
from ..weights.hashing import sha256_file

WEIGHTS_PATH = Path(__file__).with_name("fusion_weights.safetensors")
WEIGHTS_SHA256 = ""
"""SHA-256 of :data:`WEIGHTS_PATH` as written by ``fusion_train``."""

HYPOTHESIS_WINDOW = 31
"""Side (px) of the box window of the prior (as in :func:`.blend.mix_hypotheses`)."""
HYPOTHESIS_TEMPERATURE = 0.02
"""Temperature of the prior (as in :func:`.blend.mix_hypotheses`)."""
WITH_CROSSFADE = True
CANDIDATES = 4
"""Three flow hypotheses (fused, plain DIS, seeded DIS) and the cross-fade."""
IN_CHANNELS = 10
"""Per candidate: its distance to the candidates' mean, its disagreement raw and box-averaged, both
less the least over the candidates, whether it is the cross-fade; shared: the frames' difference,
their grey levels and t. Colour-free, and one scorer for every hypothesis (it cannot learn to prefer
one hypothesis by its place, only by how it explains the frames)."""
CORRECTION_SCALE = 10.0
"""The net's output is multiplied by this before it is added to the prior's logits (which span up
to ``PRIOR_CAP``): small weights still move a saturated softmax."""
PRIOR_CAP = 50.0
"""Largest logit gap of the prior (as the heuristic's cap)."""


def _conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.LeakyReLU(0.1))


class FusionNet(nn.Module):
    """Tiny three-level U-Net scoring each candidate alike: ``(N, K, IN_CHANNELS, h, w)`` -> logit
    corrections ``(N, K, h, w)``.

    ``h`` and ``w`` are any sizes (the pooled levels are resized back with bilinear upsampling).
    """

    def __init__(self, width: int = 12) -> None:
        super().__init__()
        c1, c2, c3 = width, 2 * width, 2 * width
        self.enc1 = nn.Sequential(_conv(IN_CHANNELS, c1), _conv(c1, c1))
        self.enc2 = nn.Sequential(_conv(c1, c2), _conv(c2, c2))
        self.enc3 = nn.Sequential(_conv(c2, c3), _conv(c3, c3))
        self.dec2 = _conv(c3 + c2, c2)
        self.dec1 = _conv(c2 + c1, c1)
        self.out = nn.Conv2d(c1, 1, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, k = x.shape[:2]
        e1 = self.enc1(x.flatten(0, 1))
        e2 = self.enc2(F.avg_pool2d(e1, 2, ceil_mode=True))
        e3 = self.enc3(F.avg_pool2d(e2, 2, ceil_mode=True))
        d2 = self.dec2(torch.cat([F.interpolate(e3, size=e2.shape[-2:], mode="bilinear", align_corners=False), e2], 1))
        d1 = self.dec1(torch.cat([F.interpolate(d2, size=e1.shape[-2:], mode="bilinear", align_corners=False), e1], 1))
        return self.out(d1).view(n, k, *d1.shape[-2:])


def with_crossfade(results: list[np.ndarray], disagreements: list[np.ndarray], frame1: np.ndarray,
                   frame3: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
    """The candidate stack: the hypotheses' in-betweens and the cross-fade, ``float32 (K, H, W, 3)``,
    and their disagreements ``float32 (K, H, W)`` (the cross-fade's is ``|frame1 - frame3|``)."""
    if not WITH_CROSSFADE:
        return np.stack(results).astype(np.float32), np.stack(disagreements).astype(np.float32)
    crossfade = (1.0 - t) * frame1 + t * frame3
    candidates = np.stack([*results, crossfade]).astype(np.float32)
    return candidates, np.stack([*disagreements, cv2.absdiff(frame1, frame3).sum(axis=2)]).astype(np.float32)


def prior_logits(disagreements: np.ndarray) -> np.ndarray:
    """The heuristic mix's logits ``float32 (K, H, W)``: minus the box-averaged disagreement over the
    temperature, shifted so the best is 0 and capped at ``-PRIOR_CAP``."""
    box = (HYPOTHESIS_WINDOW, HYPOTHESIS_WINDOW)
    score = np.stack([cv2.blur(d, box) for d in disagreements]) / HYPOTHESIS_TEMPERATURE
    return -np.minimum(score - score.min(axis=0, keepdims=True), PRIOR_CAP).astype(np.float32)


def _half(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    return cv2.resize(image, ((w + 1) // 2, (h + 1) // 2), interpolation=cv2.INTER_AREA)


def net_inputs(candidates: np.ndarray, disagreements: np.ndarray, frame1: np.ndarray, frame3: np.ndarray,
               t: float) -> torch.Tensor:
    """The net's input at half resolution, ``float32 (1, K, IN_CHANNELS, ceil(H/2), ceil(W/2))``.

    Args:
        candidates: ``(K, H, W, 3)`` in [0, 1]; disagreements: ``(K, H, W)`` in [0, 3];
        frame1, frame3: ``(H, W, 3)`` in [0, 1]; t: in (0, 1).
    """
    box = (HYPOTHESIS_WINDOW, HYPOTHESIS_WINDOW)
    k = len(candidates)
    spread = np.abs(candidates - candidates.mean(axis=0, keepdims=True)).sum(axis=3)
    blurred = np.stack([cv2.blur(d, box) for d in disagreements])
    shared = np.stack([_half(cv2.absdiff(frame1, frame3).sum(axis=2)),
                       *(_half(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)) for f in (frame1, frame3))])
    shared = np.concatenate([shared, np.full((1, *shared.shape[1:]), t, np.float32)])
    own = [spread, disagreements, blurred, disagreements - disagreements.min(axis=0), blurred - blurred.min(axis=0)]
    x = np.empty((k, IN_CHANNELS, *shared.shape[1:]), np.float32)
    for i in range(k):
        x[i, :len(own)] = np.stack([_half(np.ascontiguousarray(m[i], dtype=np.float32)) for m in own])
        x[i, len(own)] = float(WITH_CROSSFADE and i == k - 1)
        x[i, len(own) + 1:] = shared
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None]


def mix_weights(correction: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """Softmax over candidates of ``prior (N, K, H, W)`` plus the net's half-resolution
    ``correction (N, K, h, w)`` upsampled to ``(H, W)`` (bilinear)."""
    up = CORRECTION_SCALE * F.interpolate(correction, size=prior.shape[-2:], mode="bilinear", align_corners=False)
    return torch.softmax(prior + up, dim=1)


@torch.inference_mode()
def fuse(net: FusionNet, results: list[np.ndarray], disagreements: list[np.ndarray], frame1: np.ndarray,
         frame3: np.ndarray, t: float) -> np.ndarray:
    """The fused in-between ``float32 (H, W, 3)`` of the hypotheses' in-betweens ``(H, W, 3)`` and
    their disagreements ``(H, W)`` (from :func:`.blend.synthesize`), frames ``(H, W, 3)`` in [0, 1]."""
    candidates, dis = with_crossfade(results, disagreements, frame1, frame3, t)
    correction = net(net_inputs(candidates, dis, frame1, frame3, t))
    weight = mix_weights(correction, torch.from_numpy(prior_logits(dis))[None])[0].numpy()
    return (weight[..., None] * candidates).sum(axis=0)


def load_fusion_net(path: str | Path = WEIGHTS_PATH, sha256: str | None = None) -> FusionNet:
    """The shipped fusion net (or one at ``path``), its file checked against ``sha256`` (default
    :data:`WEIGHTS_SHA256` for the shipped file); a missing, altered or unfitting file raises
    :class:`WeightsError`."""
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"fusion weights not found: {path}")
    expected = WEIGHTS_SHA256 if sha256 is None else sha256
    actual = sha256_file(path)
    if actual != expected:
        raise WeightsError(f"fusion weights {path} do not match their SHA-256 (expected {expected}, got {actual}):"
                           " the file is damaged or was altered; reinstall the package")
    net = FusionNet()
    try:
        net.load_state_dict(load_file(str(path)))
    except Exception as e:
        raise WeightsError(f"fusion weights {path} do not fit the fusion net: {e}") from e
    return net.eval()


@lru_cache(maxsize=1)
def shipped_fusion_net() -> FusionNet:
    """The package's fusion net, loaded and verified once per process."""
    return load_fusion_net()
