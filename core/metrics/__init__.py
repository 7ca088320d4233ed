"""Image and flow quality metrics used by the evaluation (no ComfyUI, no I/O).

* :mod:`.psnr_ssim` — PSNR and SSIM in the conventions of the AnimeInterp/AFI test script, plus the
  standard Gaussian SSIM (Wang et al. 2004, through kornia).
* :mod:`.lpips` — LPIPS v0.1 with the AlexNet backbone (:mod:`.alexnet`) and its linear heads.
* :mod:`.flow` — end-point error of optical flows.
"""
from __future__ import annotations

from .flow import end_point_error
from .psnr_ssim import psnr, ssim, ssim_gaussian

__all__ = ["end_point_error", "psnr", "ssim", "ssim_gaussian"]
