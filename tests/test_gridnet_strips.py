"""GridNet's row strips (core/model/gridnet_block.py): the same bits as the whole picture."""
from __future__ import annotations

import pytest
import torch
from comfyui_animeinterp.core.model.gridnet import GridNet
from comfyui_animeinterp.core.model.gridnet_block import HALO, MIN_STRIP_ROWS, ConvBlock

SMALLEST = 1
"""A strip budget no row fits: every block then runs in strips of MIN_STRIP_ROWS rows."""


def _live(module: torch.nn.Module) -> torch.nn.Module:
    """Random weights with PReLU slopes of either sign (so every activation matters)."""
    torch.manual_seed(0)
    for sub in module.modules():
        if isinstance(sub, torch.nn.PReLU):
            sub.weight.data.uniform_(-0.3, 0.3)
    return module.eval()


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last)


BLOCKS = {
    "lateral": {"in_channels": 8, "out_channels": 8},
    "head": {"in_channels": 12, "out_channels": 8},
    "down": {"in_channels": 8, "out_channels": 12, "stride": 2},
    "up": {"in_channels": 12, "out_channels": 8, "upsample": True},
}


@pytest.mark.parametrize("kind", BLOCKS)
@pytest.mark.parametrize("height", [16, 37, 70])  # one strip, ragged last strips, odd heights
def test_a_block_in_strips_gives_the_whole_pictures_bits(kind, height):
    block = _live(ConvBlock(**BLOCKS[kind]))
    g = torch.Generator().manual_seed(1)
    rows = height // 2 if kind == "up" else height
    x = _channels_last(torch.randn(2, block.conv1.in_channels, rows, 11, generator=g))
    kept = x.clone()
    with torch.enable_grad():
        recorded = block(x)  # autograd records: the plain, out-of-place path
    assert recorded.requires_grad
    block.strip_bytes = SMALLEST
    with torch.inference_mode():
        assert torch.equal(block.fresh(x), recorded.detach())
        assert torch.equal(x, kept)  # not owned: left alone
        assert torch.equal(block.fresh(x.clone(), owned=True), recorded.detach())
        target = torch.randn(recorded.shape, generator=g)
        summed = block.add_to(_channels_last(target.clone()), x)
        assert torch.equal(summed, recorded.detach() + target)
        if kind == "lateral":
            residual = block.residual(x.clone())
            assert torch.equal(residual, recorded.detach() + x)


def test_strips_are_multiples_of_four_rows_within_the_budget():
    block = ConvBlock(32, 32)
    x = torch.zeros(1, 32, 544, 960)
    row_bytes = 32 * 960 * 4

    def rows(block: ConvBlock, x: torch.Tensor, strip_bytes: int) -> int:
        block.strip_bytes = strip_bytes
        return block._strip_rows(x)

    assert rows(block, x, 40 * row_bytes) == 40
    assert rows(block, x, 41 * row_bytes + 5) == 40
    assert rows(block, x, SMALLEST) == MIN_STRIP_ROWS
    up = ConvBlock(64, 32, upsample=True)  # its widest tensor is the upsampled input
    assert rows(up, torch.zeros(1, 64, 272, 480), 64 * 960 * 4 * 20) == 20
    assert MIN_STRIP_ROWS % 4 == 0 and MIN_STRIP_ROWS > 2 * HALO


def test_residual_needs_a_block_that_keeps_the_size():
    with pytest.raises(ValueError, match="keeps the size"):
        ConvBlock(8, 8, stride=2).residual(torch.zeros(1, 8, 16, 16))


@pytest.mark.parametrize("strip_bytes", [SMALLEST, 3 * 2**10 * 40, None])
def test_gridnet_in_strips_gives_the_recorded_bits(strip_bytes):
    """Strips, the in-place sums that let each grid row keep one tensor, and the order the nodes are
    computed in: the same bits as the recorded (whole picture, out of place) network, from
    ``forward`` (inputs left alone) and from ``consume`` (inputs handed over)."""
    net = _live(GridNet())
    net.strip_bytes = strip_bytes
    g = torch.Generator().manual_seed(2)
    h, w = 76, 40  # 76 rows: several strips with a ragged last one on every level
    inputs = [torch.rand(2, 6, h, w, generator=g), torch.randn(2, 64, h, w, generator=g),
              torch.randn(2, 128, h // 2, w // 2, generator=g), torch.randn(2, 192, h // 4, w // 4, generator=g)]
    kept = [x.clone() for x in inputs]
    with torch.enable_grad():
        recorded = net(*inputs)
    with torch.inference_mode():
        plain = net(*inputs)
        consumed = net.consume(iter([x.clone() for x in inputs]))
    assert all(torch.equal(x, y) for x, y in zip(inputs, kept))
    assert torch.equal(plain, recorded.detach()) and torch.equal(consumed, plain)
    assert plain.is_contiguous()


def test_gridnet_trains_through_the_whole_picture_path():
    """With autograd recording nothing runs in strips or in place: gradients reach every block."""
    net = _live(GridNet())
    net.strip_bytes = SMALLEST
    g = torch.Generator().manual_seed(3)
    h, w = 40, 24
    inputs = [torch.randn(1, 6, h, w, generator=g), torch.randn(1, 64, h, w, generator=g),
              torch.randn(1, 128, h // 2, w // 2, generator=g), torch.randn(1, 192, h // 4, w // 4, generator=g)]
    net(*inputs).square().mean().backward()
    assert all(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in net.parameters())


def test_gridnet_in_strips_under_bf16_autocast_gives_the_whole_pictures_bits():
    """Under autocast the activations are bf16 and PReLU takes its plain (out-of-place) path, the one
    a GPU takes: strips still give the whole picture's bits."""
    net = _live(GridNet())
    g = torch.Generator().manual_seed(5)
    h, w = 76, 40
    inputs = [torch.rand(1, 6, h, w, generator=g), torch.randn(1, 64, h, w, generator=g),
              torch.randn(1, 128, h // 2, w // 2, generator=g), torch.randn(1, 192, h // 4, w // 4, generator=g)]
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        net.strip_bytes = None  # one strip: the whole picture
        whole = net(*inputs)
        net.strip_bytes = SMALLEST
        strips = net(*inputs)
    assert whole.dtype == torch.bfloat16 and torch.equal(strips, whole)


def test_gridnets_strip_budget_reaches_every_block():
    net = GridNet()
    net.strip_bytes = SMALLEST
    assert all(block.strip_bytes == SMALLEST for block in net.children())
    assert net.strip_bytes == SMALLEST
