"""Splatting a channels_last tensor (pixel-row path) gives exactly the NCHW results."""
from __future__ import annotations

import math

import torch
from comfyui_animeinterp.core.splat.forward import forward_splat, splat_average


def _inputs(n=2, c=5, h=13, w=17, seed=0):
    g = torch.Generator().manual_seed(seed)
    values = torch.randn(n, c, h, w, generator=g)
    flow = 6 * torch.randn(n, 2, h, w, generator=g)  # many targets leave the image
    return values, flow


def test_channels_last_values_splat_to_the_same_numbers():
    values, flow = _inputs()
    summed, weight = forward_splat(values, flow)
    summed_cl, weight_cl = forward_splat(values.contiguous(memory_format=torch.channels_last), flow)
    assert summed_cl.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(summed, summed_cl) and torch.equal(weight, weight_cl)
    warped, _ = splat_average(values, flow)
    warped_cl, _ = splat_average(values.contiguous(memory_format=torch.channels_last), flow)
    assert torch.equal(warped, warped_cl)
    assert (weight == 0).any() and (weight > 0).any()  # holes and covered pixels both present


def test_channels_last_matches_a_direct_loop():
    values, flow = _inputs(n=1, c=3, h=6, w=7, seed=1)
    flow = flow / 3
    summed, weight = forward_splat(values.contiguous(memory_format=torch.channels_last), flow)
    expected = torch.zeros(3, 6, 7, dtype=torch.float64)
    expected_w = torch.zeros(6, 7, dtype=torch.float64)
    for y in range(6):
        for x in range(7):
            u, v = float(flow[0, 0, y, x]), float(flow[0, 1, y, x])
            fx, fy = u - math.floor(u), v - math.floor(v)
            tx, ty = x + math.floor(u), y + math.floor(v)
            for dx, dy, wgt in ((0, 0, (1 - fx) * (1 - fy)), (0, 1, (1 - fx) * fy),
                                (1, 0, fx * (1 - fy)), (1, 1, fx * fy)):
                if 0 <= tx + dx < 7 and 0 <= ty + dy < 6:
                    expected[:, ty + dy, tx + dx] += wgt * values[0, :, y, x].double()
                    expected_w[ty + dy, tx + dx] += wgt
    assert torch.allclose(summed[0].double(), expected, atol=1e-5)
    assert torch.allclose(weight[0, 0].double(), expected_w, atol=1e-5)


def test_channels_last_gradients_match():
    values, flow = _inputs(n=1, c=4, h=9, w=11, seed=2)
    grads = []
    for layout in (torch.contiguous_format, torch.channels_last):
        v = values.clone().contiguous(memory_format=layout).requires_grad_()
        f = flow.clone().requires_grad_()
        warped, _ = splat_average(v, f)
        (warped * torch.arange(warped.numel()).view_as(warped)).sum().backward()
        grads.append((v.grad, f.grad))
    assert torch.allclose(grads[0][0], grads[1][0], atol=1e-5)
    assert torch.allclose(grads[0][1], grads[1][1], atol=1e-3)
    assert grads[0][1].abs().sum() > 0
