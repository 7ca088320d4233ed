"""The EvaluateInterpolation node on tiny IMAGE tensors (B, H, W, C float in [0, 1])."""
from __future__ import annotations

import pytest
import torch
from comfyui_animeinterp.core.errors import InputError
from comfyui_animeinterp.core.metrics.lpips import load_lpips
from comfyui_animeinterp.nodes import evaluate_nodes
from comfyui_animeinterp.nodes.evaluate_nodes import NODES, EvaluateInterpolation

from .test_metrics import fake_lpips_heads, fake_torchvision_alexnet


def test_node_declaration():
    cls, display = NODES["AnimeInterpEvaluate"]
    assert cls is EvaluateInterpolation and display == "Evaluate Interpolation (AnimeInterp)"
    spec = cls.INPUT_TYPES()
    assert spec["required"]["predictions"][0] == "IMAGE" and spec["required"]["ground_truth"][0] == "IMAGE"
    assert cls.RETURN_TYPES == ("STRING", "IMAGE") and cls.CATEGORY == "AnimeInterp/evaluate"
    assert callable(getattr(cls(), cls.FUNCTION))


def test_node_metrics_and_error_maps(monkeypatch):
    monkeypatch.setattr(evaluate_nodes, "_lpips", lambda device: (None, "no weights here"))
    g = torch.Generator().manual_seed(0)
    gt = torch.rand(1, 24, 32, 3, generator=g)
    pred = torch.cat([gt, (gt + 0.1).clamp(0, 1)])  # frame 0 exact, frame 1 off
    text, maps = EvaluateInterpolation().evaluate(pred, gt)
    lines = text.splitlines()
    assert lines[0].split() == ["frame", "PSNR", "dB", "SSIM"]
    assert lines[1].split()[1:] == ["inf", "1.0000"]
    assert 18 < float(lines[2].split()[1]) < 22 and "mean" in text and "LPIPS not computed: no weights here" in text
    assert maps.shape == (2, 24, 32, 3) and maps.dtype == torch.float32
    assert maps[0].max() < 0.1 and maps[1].mean() > maps[0].mean() + 0.2


def test_node_with_lpips(tmp_path, monkeypatch):
    torch.save(fake_torchvision_alexnet(), tmp_path / "a.pth")
    torch.save(fake_lpips_heads(), tmp_path / "h.pth")
    model = load_lpips(tmp_path / "a.pth", tmp_path / "h.pth")
    monkeypatch.setattr(evaluate_nodes, "_lpips", lambda device: (model, "test weights"))
    x = torch.rand(2, 40, 48, 3)
    text, _ = EvaluateInterpolation().evaluate(x, x.flip(0))
    header, first = text.splitlines()[:2]
    assert "LPIPSx100" in header and float(first.split()[3]) > 0
    text, _ = EvaluateInterpolation().evaluate(x, x, lpips=False)
    assert "LPIPSx100" not in text.splitlines()[0]


def test_node_rejects_mismatched_inputs(monkeypatch):
    monkeypatch.setattr(evaluate_nodes, "_lpips", lambda device: (None, "-"))
    node = EvaluateInterpolation()
    with pytest.raises(InputError, match="resize"):
        node.evaluate(torch.rand(1, 16, 16, 3), torch.rand(1, 16, 24, 3))
    with pytest.raises(InputError, match="one ground truth per prediction"):
        node.evaluate(torch.rand(3, 16, 16, 3), torch.rand(2, 16, 16, 3))
