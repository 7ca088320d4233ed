"""The GRU's context share, computed once per flow-net call, gives the original's gates."""
from __future__ import annotations

import pytest
import torch
from comfyui_animeinterp.core.model.update import SepConvGRU


def _concatenated_pass(gates, h, x):
    """The original formula: every gate convolves ``[h, x]`` with its whole kernel."""
    hx = torch.cat([h, x], dim=1)
    z = torch.sigmoid(gates.update(hx))
    r = torch.sigmoid(gates.reset(hx))
    q = torch.tanh(gates.candidate(torch.cat([r * h, x], dim=1)))
    return (1 - z) * h + z * q


@pytest.mark.parametrize("motion_channels", [128, 256])  # plain RFR, RFR+GMA
def test_precomputed_context_share_equals_the_concatenated_inputs(motion_channels):
    torch.manual_seed(0)
    gru = SepConvGRU(128, 128 + motion_channels)
    for conv in gru.modules():
        if isinstance(conv, torch.nn.Conv2d):
            torch.nn.init.normal_(conv.bias, std=0.5)  # a bias counted twice or lost would show
    h = torch.tanh(torch.randn(2, 128, 12, 17))
    context, motion = torch.relu(torch.randn(2, 128, 12, 17)), torch.randn(2, motion_channels, 12, 17)
    x = torch.cat([context, motion], dim=1)
    expected = _concatenated_pass(gru.vertical, _concatenated_pass(gru.horizontal, h, x), x)
    with torch.no_grad():
        got = gru(h, motion, gru.prepare(context))
    assert (got - expected.detach()).abs().max() < 1e-5

    # Fine-tuning: the gradients reach every kernel and bias as through the concatenated form.
    loss = gru(h, motion, gru.prepare(context)).square().sum()
    grads = torch.autograd.grad(loss, list(gru.parameters()))
    expected_grads = torch.autograd.grad(expected.square().sum(), list(gru.parameters()))
    for got_grad, want in zip(grads, expected_grads, strict=True):
        assert torch.allclose(got_grad, want, rtol=1e-4, atol=1e-5)
    assert grads[0].abs().max() > 0
