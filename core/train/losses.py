"""The style loss of the thesis: ``w_l1 · L1 + w_vgg · L_VGG + w_gram · L_Gram``.

Two definitions, chosen with :class:`LossDefinition` (ARCHITECTURE.md §7 and §10.10):

``"thesis"`` (default) — what the thesis describes, following FILM (Reda et al. 2022), whose weights
(1.0, 0.25, 40.0) and per-layer weights it takes over:

* ``L1 = mean |Î - I|`` on the frames themselves ([0, 1], training resolution);
* ``L_VGG = Σ_i w_i · mean |φ_i(Î) - φ_i(I)|`` with φ_i the true VGG-19 activations
  relu1_2, relu2_2, relu3_2, relu4_2, relu5_2 of the ImageNet-normalised frames (one VGG pass);
* ``L_Gram = Σ_i w_i · mean (G_i(Î) - G_i(I))²`` with ``G = Φ Φᵀ / (H_i · W_i)`` for the ``C × H_i W_i``
  feature matrix Φ, i.e. the Gram matrix averaged over feature locations, as FILM does. This
  keeps the term independent of the frame size and of a magnitude comparable with L1 (see
  :data:`GRAM_NORMALISATIONS` for the alternatives).

``"afi"`` — what the AFI code really computed (``ATD12K_train_style.py``), for reproducing its runs:

* prediction and target are ImageNet-normalised and bilinearly resized to 224×224 *before all
  three terms*, the L1 term included;
* the VGG is run as chained slices ``features[0:4]``, ``[4:9]``, ``[9:14]``, ``[18:23]``, ``[27:32]``:
  conv3_3/3_4 and conv4_3/4_4 are skipped, so the 4th and 5th "relu4_2"/"relu5_2" outputs are not
  real VGG activations;
* Gram matrices are not normalised (``Φ Φᵀ``), giving totals around 1e7 per batch.

Per-layer weights ``w = (1/2.6, 1/4.8, 1/3.7, 1/5.6, 10/1.5)`` apply to both VGG and Gram terms in
both definitions. The VGG is :class:`..features.vgg19.VGG19Features` — the same network (and
weight file) as SGM matching — frozen and in eval mode. The ``"thesis"`` definition also accepts
:class:`..features.vgg16.VGG16Features` (same layer names; manifest name ``vgg16``); the ``"afi"``
one indexes VGG-19's layer list and needs VGG-19.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from ..features.vgg19 import VGG19Features, VGGFeatures, imagenet_normalise

LossDefinition = Literal["thesis", "afi"]
GramNormalisation = Literal["locations", "elements", "none"]

STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_2", "relu4_2", "relu5_2")
"""VGG-19 layers of the perceptual and Gram terms (thesis / FILM)."""
LAYER_WEIGHTS = (1.0 / 2.6, 1.0 / 4.8, 1.0 / 3.7, 1.0 / 5.6, 10.0 / 1.5)
"""Per-layer weights (0.3846, 0.2083, 0.2703, 0.1786, 6.6667) of both VGG-based terms."""

AFI_SLICES = ((0, 4), (4, 9), (9, 14), (18, 23), (27, 32))
"""``torchvision vgg19().features`` index ranges the AFI code chains (skipping 14-17 and 23-26)."""
AFI_SIZE = 224
"""Side to which the AFI code resizes prediction and target before every term."""

GRAM_NORMALISATIONS: dict[str, str] = {
    "locations": "G = ΦΦᵀ / (H·W): average over feature locations (FILM; default)",
    "elements": "G = ΦΦᵀ / (C·H·W): also divided by the channels (Johnson et al. 2016)",
    "none": "G = ΦΦᵀ: unnormalised, as the AFI code (totals ~1e7 per batch)",
}


@dataclass(frozen=True)
class LossWeights:
    """Weights of the three terms; the thesis's stage 2 is ``LossWeights(1.0, 0.25, 40.0)``."""

    l1: float = 1.0
    vgg: float = 0.25
    gram: float = 40.0

    def __post_init__(self) -> None:
        for name in ("l1", "vgg", "gram"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value < 0 or math.isnan(value):
                raise InputError(f"loss weight {name} must be a number >= 0, got {value!r}")
        if self.l1 == self.vgg == self.gram == 0:
            raise InputError("at least one loss weight must be > 0")

    @property
    def needs_vgg(self) -> bool:
        return self.vgg > 0 or self.gram > 0

    def as_tuple(self) -> tuple[float, float, float]:
        return float(self.l1), float(self.vgg), float(self.gram)


@dataclass
class LossTerms:
    """One evaluation of the loss. ``total`` carries the gradient; the terms are unweighted and
    detached (``None`` when a term was not computed because its weight is 0)."""

    total: torch.Tensor
    l1: torch.Tensor
    vgg: torch.Tensor | None
    gram: torch.Tensor | None

    def as_floats(self) -> dict[str, float | None]:
        return {
            name: None if v is None else float(v)
            for name, v in (
                ("loss", self.total.detach()),
                ("l1", self.l1),
                ("vgg", self.vgg),
                ("gram", self.gram),
            )
        }


def gram_matrix(features: torch.Tensor, normalisation: GramNormalisation = "locations") -> torch.Tensor:
    """``(N, C, H, W)`` features -> ``(N, C, C)`` Gram matrices ``ΦΦᵀ`` (normalised as asked)."""
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    gram = flat @ flat.transpose(1, 2)
    if normalisation == "locations":
        return gram / (h * w)
    if normalisation == "elements":
        return gram / (c * h * w)
    if normalisation == "none":
        return gram
    raise InputError(
        f"unknown Gram normalisation {normalisation!r}; choose one of {sorted(GRAM_NORMALISATIONS)}"
    )


class StyleLoss(nn.Module):
    """``w_l1 · L1 + w_vgg · L_VGG + w_gram · L_Gram`` (see the module docstring).

    Args:
        vgg: the VGG-19 feature network, or VGG-16 with the "thesis" definition (frozen here:
            eval mode, no parameter gradients); None allows only weights without VGG terms (an
            L1-only run).
        definition: ``"thesis"`` (default) or ``"afi"`` (the AFI code's computation).
        gram_normalisation: for ``"thesis"``: ``"locations"`` (default), ``"elements"`` or
            ``"none"``; the ``"afi"`` definition is always unnormalised.
        layer_weights: per-layer weights of the VGG-based terms (5 values).
    """

    def __init__(
        self,
        vgg: VGGFeatures | None,
        definition: LossDefinition = "thesis",
        gram_normalisation: GramNormalisation = "locations",
        layer_weights: tuple[float, ...] = LAYER_WEIGHTS,
    ) -> None:
        super().__init__()
        if definition not in ("thesis", "afi"):
            raise InputError(f"unknown loss definition {definition!r}; use 'thesis' or 'afi'")
        if gram_normalisation not in GRAM_NORMALISATIONS:
            raise InputError(
                f"unknown Gram normalisation {gram_normalisation!r}; "
                f"choose one of {sorted(GRAM_NORMALISATIONS)}"
            )
        if definition == "afi" and vgg is not None and not isinstance(vgg, VGG19Features):
            raise InputError(f"the 'afi' loss definition slices VGG-19's layers; got {vgg.name} (use 'thesis')")
        if len(layer_weights) != len(STYLE_LAYERS):
            raise InputError(f"expected {len(STYLE_LAYERS)} layer weights, got {len(layer_weights)}")
        self.vgg = vgg.eval().requires_grad_(False) if vgg is not None else None
        self.definition = definition
        self.gram_normalisation: GramNormalisation = "none" if definition == "afi" else gram_normalisation
        self.layer_weights = tuple(float(w) for w in layer_weights)

    def train(self, mode: bool = True) -> StyleLoss:
        super().train(mode)
        if self.vgg is not None:
            self.vgg.eval()  # the VGG stays in eval mode
        return self

    def forward(self, prediction: torch.Tensor, target: torch.Tensor, weights: LossWeights) -> LossTerms:
        """Args: prediction, target ``(N, 3, H, W)`` float, nominally [0, 1] (the prediction is not
        clamped). Returns :class:`LossTerms`; terms with weight 0 are skipped (no VGG pass when
        both VGG weights are 0)."""
        _check_pair(prediction, target)
        if weights.needs_vgg and self.vgg is None:
            raise InputError("the VGG and Gram terms need the VGG-19 network; none was given")
        prediction, target = prediction.float(), target.float()
        if self.definition == "afi":
            prediction = _afi_input(prediction)
            target = _afi_input(target)
        l1 = (prediction - target).abs().mean()
        total = weights.l1 * l1
        vgg_term = gram_term = None
        if weights.needs_vgg:
            pred_feats = self._features(prediction)
            with torch.no_grad():
                target_feats = self._features(target)
            vgg_term, gram_term = self._feature_terms(pred_feats, target_feats, weights)
            if vgg_term is not None:
                total = total + weights.vgg * vgg_term
            if gram_term is not None:
                total = total + weights.gram * gram_term
        return LossTerms(total, l1.detach(), _detached(vgg_term), _detached(gram_term))

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self.definition == "afi":  # x is already normalised and resized; chained slices
            feats = []
            for start, stop in AFI_SLICES:
                x = self.vgg.features[start:stop](x)
                feats.append(x)
            return feats
        return self.vgg(imagenet_normalise(x), STYLE_LAYERS)

    def _feature_terms(
        self, pred_feats: list[torch.Tensor], target_feats: list[torch.Tensor], weights: LossWeights
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        vgg_term = gram_term = None
        for w, p, t in zip(self.layer_weights, pred_feats, target_feats):
            if weights.vgg > 0:
                part = w * (p - t).abs().mean()
                vgg_term = part if vgg_term is None else vgg_term + part
            if weights.gram > 0:
                diff = gram_matrix(p, self.gram_normalisation) - gram_matrix(t, self.gram_normalisation)
                part = w * diff.pow(2).mean()
                gram_term = part if gram_term is None else gram_term + part
        return vgg_term, gram_term


def _afi_input(x: torch.Tensor) -> torch.Tensor:
    """ImageNet normalisation, then bilinear resize to 224×224 (align_corners=False), as AFI."""
    return F.interpolate(
        imagenet_normalise(x), size=(AFI_SIZE, AFI_SIZE), mode="bilinear", align_corners=False
    )


def _detached(x: torch.Tensor | None) -> torch.Tensor | None:
    return None if x is None else x.detach()


def _check_pair(prediction: torch.Tensor, target: torch.Tensor) -> None:
    for name, x in (("prediction", prediction), ("target", target)):
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != 3:
            raise InputError(
                f"{name}: expected an (N, 3, H, W) tensor, got "
                f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}"
            )
        if not x.is_floating_point():
            raise InputError(f"{name}: expected float values in [0, 1], got {x.dtype}")
    if prediction.shape != target.shape:
        raise InputError(
            f"prediction {tuple(prediction.shape)} and target {tuple(target.shape)} differ in shape"
        )
