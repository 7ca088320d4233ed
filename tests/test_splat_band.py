"""Splatting one band of target rows gives exactly those rows of the whole splat."""
import pytest
import torch
from comfyui_animeinterp.core.errors import InputError
from comfyui_animeinterp.core.splat.forward import forward_splat, splat_average


@pytest.mark.parametrize("channels", [1, 3, 32])
@pytest.mark.parametrize("channels_last", [False, True])
def test_band_equals_rows_of_whole_splat(channels, channels_last):
    g = torch.Generator().manual_seed(channels)
    values = torch.randn(2, channels, 50, 37, generator=g)
    if channels_last:
        values = values.contiguous(memory_format=torch.channels_last)
    flow = 6 * torch.randn(2, 2, 50, 37, generator=g)  # many pixels leave their band or the frame
    summed, weight = forward_splat(values, flow)
    for top, bottom in [(0, 10), (7, 31), (40, 50), (49, 50), (0, 50)]:
        band_summed, band_weight = forward_splat(values, flow, rows=(top, bottom))
        assert band_summed.shape == (2, channels, bottom - top, 37)
        assert torch.equal(band_summed, summed[:, :, top:bottom])
        assert torch.equal(band_weight, weight[:, :, top:bottom])
        if channels_last and channels > 1:
            assert band_summed.is_contiguous(memory_format=torch.channels_last)


def test_band_average_matches_and_bands_tile_the_whole():
    g = torch.Generator().manual_seed(1)
    values, flow = torch.rand(1, 3, 40, 30, generator=g), 10 * torch.randn(1, 2, 40, 30, generator=g)
    whole, _ = splat_average(values, flow)
    tiled = torch.cat([splat_average(values, flow, rows=(top, top + 8))[0] for top in range(0, 40, 8)], dim=2)
    assert torch.equal(tiled, whole)


def test_band_keeps_gradients():
    values = torch.rand(1, 2, 12, 9, requires_grad=True)
    flow = torch.full((1, 2, 12, 9), 0.5, requires_grad=True)
    summed, _ = forward_splat(values, flow, rows=(3, 8))
    summed.sum().backward()
    assert values.grad is not None and flow.grad is not None


@pytest.mark.parametrize("rows", [(-1, 4), (5, 5), (6, 2), (0, 13)])
def test_bad_rows_are_refused(rows):
    with pytest.raises(InputError, match="rows"):
        forward_splat(torch.zeros(1, 1, 12, 9), torch.zeros(1, 2, 12, 9), rows=rows)
