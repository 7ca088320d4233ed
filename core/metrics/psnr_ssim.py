"""PSNR and SSIM of predicted frames against ground truth, per sample.

Conventions (they are the ones behind the AnimeInterp (CVPR'21) and AFI thesis tables, whose
test script calls ``compare_psnr(pred, gt)`` and ``compare_ssim(pred, gt, multichannel=True,
gaussian=True)`` from scikit-image on float images in [0, 1]):

* **PSNR**: data range 1, MSE over all pixels and channels: ``10·log10(1 / MSE)``; ``+inf`` for
  identical images.
* **SSIM** (:func:`ssim`): the ``gaussian=True`` keyword of that call is not a scikit-image
  parameter and is silently ignored, so the published SSIM uses scikit-image's *defaults*: a
  uniform 7×7 window, sample covariance (``N/(N-1)``), and — for float images — a data range of
  2 (the float dtype range [-1, 1]), i.e. ``C1 = (0.01·2)²``, ``C2 = (0.03·2)²``. Windows that would
  cross the border are left out (only "valid" positions), and the channel means are averaged.
  Our defaults reproduce exactly that number, so tables are comparable with the papers.
* **Gaussian SSIM** (:func:`ssim_gaussian`): the textbook SSIM of Wang et al. (2004) — Gaussian
  window σ = 1.5 with 11 taps, population covariance, data range 1 — computed with kornia.

All functions take ``(N, C, H, W)`` tensors (float in [0, 1], or ``uint8`` in [0, 255], which is
divided by 255) and return a float64 tensor ``(N,)``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import InputError


def _prepare(pred: torch.Tensor, target: torch.Tensor, min_side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate a prediction/target pair and return both as float64 in [0, 1]."""
    for name, x in (("prediction", pred), ("ground truth", target)):
        if not isinstance(x, torch.Tensor):
            raise InputError(f"{name}: expected a torch tensor (N, C, H, W), got {type(x).__name__}")
        if x.ndim != 4:
            raise InputError(f"{name}: expected shape (N, C, H, W), got {tuple(x.shape)}")
    if pred.shape != target.shape:
        raise InputError(
            f"prediction {tuple(pred.shape)} and ground truth {tuple(target.shape)} differ in shape; "
            "resize them to one size first"
        )
    if min(pred.shape[-2:]) < min_side:
        raise InputError(f"frames of {pred.shape[-1]}x{pred.shape[-2]} are too small for this metric; "
                         f"each side must be at least {min_side} px")

    def as_unit(x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.uint8:
            return x.double().contiguous() / 255.0
        if not x.is_floating_point():
            raise InputError(f"unsupported dtype {x.dtype}; use uint8 or float in [0, 1]")
        return x.double().contiguous()

    return as_unit(pred), as_unit(target)


def psnr(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB, one value per sample.

    Args:
        pred, target: ``(N, C, H, W)``, float in [0, 1] or ``uint8``.
        data_range: peak value of the signal (1 for [0, 1] images, as in the papers).

    Returns:
        float64 ``(N,)``; ``+inf`` where the images are identical.
    """
    p, t = _prepare(pred, target, min_side=1)
    mse = (p - t).pow(2).flatten(1).mean(dim=1)
    return 10.0 * torch.log10(data_range**2 / mse)


def ssim(
    pred: torch.Tensor,
    target: torch.Tensor,
    window: int = 7,
    data_range: float = 2.0,
    sample_covariance: bool = True,
) -> torch.Tensor:
    """Mean SSIM with a uniform window, one value per sample (AnimeInterp/AFI table convention).

    The defaults reproduce scikit-image's ``structural_similarity(pred, gt, channel_axis=2)`` on
    float images as the original test scripts ran it (see the module docstring): uniform
    ``window``×``window`` mean, sample covariance, data range 2, valid positions only.

    Args:
        pred, target: ``(N, C, H, W)``, float in [0, 1] or ``uint8``; each side >= ``window``.
        window: odd side of the uniform window.
        data_range: ``L`` in ``C1 = (0.01 L)²``, ``C2 = (0.03 L)²``.
        sample_covariance: normalise (co)variances by ``n - 1`` instead of ``n``.

    Returns:
        float64 ``(N,)`` in [-1, 1] (1 for identical images).
    """
    if window < 1 or window % 2 == 0:
        raise InputError(f"the SSIM window must be a positive odd number, got {window}")
    p, t = _prepare(pred, target, min_side=window)

    def mean(x: torch.Tensor) -> torch.Tensor:  # valid uniform filter, per channel
        return F.avg_pool2d(x, window, stride=1)

    n_px = window * window
    cov_norm = n_px / (n_px - 1) if sample_covariance else 1.0
    ux, uy = mean(p), mean(t)
    vx = cov_norm * (mean(p * p) - ux * ux)
    vy = cov_norm * (mean(t * t) - uy * uy)
    vxy = cov_norm * (mean(p * t) - ux * uy)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s.flatten(1).mean(dim=1)


def ssim_gaussian(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Standard SSIM (Wang et al. 2004): Gaussian window σ = 1.5, 11 taps, valid positions.

    Equals scikit-image's ``structural_similarity(..., gaussian_weights=True,
    use_sample_covariance=False, data_range=1)``.

    Args:
        pred, target: ``(N, C, H, W)``, float in [0, 1] or ``uint8``; each side >= 11.
        data_range: ``L`` of the stabilising constants.

    Returns:
        float64 ``(N,)``.
    """
    import kornia.metrics

    p, t = _prepare(pred, target, min_side=11)
    ssim_map = kornia.metrics.ssim(p, t, 11, max_val=float(data_range), eps=0.0, padding="valid")
    return ssim_map.flatten(1).mean(dim=1)
