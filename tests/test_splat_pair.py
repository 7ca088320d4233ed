"""Both frames of a level splatted into one tensor give the concatenated splats, bit for bit."""
from __future__ import annotations

import pytest
import torch
from comfyui_animeinterp.core.splat import splat_average, splat_average_pair


def _pair(n, c, h, w, channels_last=True, seed=0):
    g = torch.Generator().manual_seed(seed)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    values = [torch.randn(n, c, h, w, generator=g).contiguous(memory_format=fmt) for _ in range(2)]
    flows = [6 * torch.randn(n, 2, h, w, generator=g) for _ in range(2)]  # many targets fall outside
    return values, flows


def _concatenated(values, flows, rows):
    return torch.cat([splat_average(v, f, rows)[0] for v, f in zip(values, flows)], dim=1)


@pytest.mark.parametrize("n,c,h,w", [(1, 64, 24, 40), (2, 7, 17, 23)])
@pytest.mark.parametrize("rows", [None, (0, 24), (5, 12), (0, 1)])
def test_halves_equal_the_concatenated_splats(n, c, h, w, rows):
    if rows is not None and rows[1] > h:
        rows = (rows[0], h)
    values, flows = _pair(n, c, h, w)
    got = splat_average_pair(*values, *flows, rows)
    expected = _concatenated(values, flows, rows)
    assert got.shape == expected.shape
    assert got.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(got, expected)


@pytest.mark.parametrize("case", ["channels_first", "one_channel", "autograd"])
def test_other_inputs_are_concatenated_with_the_same_values(case):
    values, flows = _pair(1, 1 if case == "one_channel" else 5, 16, 20, channels_last=case != "channels_first")
    if case == "autograd":
        values = [v.requires_grad_() for v in values]
    got = splat_average_pair(*values, *flows, (3, 11))
    assert torch.equal(got, _concatenated(values, flows, (3, 11)))
    if case == "autograd":
        got.sum().backward()
        assert values[0].grad is not None and values[1].grad is not None


def test_bad_rows_and_shapes_are_refused():
    values, flows = _pair(1, 4, 8, 8)
    with pytest.raises(ValueError, match="rows"):
        splat_average_pair(*values, *flows, (6, 3))
    with pytest.raises(ValueError):
        splat_average_pair(values[0], values[1][..., :4], *flows)


@pytest.mark.parametrize("rows", [None, (4, 13)])
def test_weighted_rows_added_block_by_block_give_the_same_bits(monkeypatch, rows):
    """Pixel rows are weighted and added a block at a time (a small reused buffer): the same bits
    as one block of every row, whole picture and band, single splat and pair."""
    from comfyui_animeinterp.core.splat import forward

    values, flows = _pair(2, 6, 18, 22)
    monkeypatch.setattr(forward, "BLOCK_BYTES", 2**40)
    one_block = splat_average(values[0], flows[0], rows)[0], splat_average_pair(*values, *flows, rows)
    monkeypatch.setattr(forward, "BLOCK_BYTES", 6 * 4 * 37)  # 37 rows a block: a ragged last block
    blocks = splat_average(values[0], flows[0], rows)[0], splat_average_pair(*values, *flows, rows)
    assert all(torch.equal(a, b) for a, b in zip(one_block, blocks))
