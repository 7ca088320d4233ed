"""VGG-19 feature extractor in plain PyTorch, with torchvision's parameter names.

One network serves two purposes:

* SGM matching pools ``relu1_1, relu2_1, relu3_1, relu4_1`` per segment (what the original code
  really uses; the thesis text says relu1_2/2_2/3_4/4_4, ARCHITECTURE.md §10.4);
* the style loss taps ``relu1_2, relu2_2, relu3_2, ...``.

Parameters are named ``features.<index>.weight/bias`` exactly as in ``torchvision.models.vgg19``
and in ``timm/vgg19.tv_in1k`` (the classifier is not needed and not loaded).

:class:`VGGFeatures` (any torchvision VGG configuration) is shared with :mod:`.vgg16`; which
network a weight file holds is told by :mod:`.networks`.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence

import torch
from torch import nn

from ..errors import InputError, WeightsError
from ..weights.finite import require_finite

# torchvision's "E" configuration: channels, "M" = max-pool.
_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def layer_names(cfg: Sequence[int | str] = tuple(_CFG)) -> list[str]:
    """``relu1_1``-style names of the outputs of ``features[i]`` for a torchvision VGG configuration."""
    names, block, conv = [], 1, 1
    for v in cfg:
        if v == "M":
            names.append(f"pool{block}")
            block, conv = block + 1, 1
        else:
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
            conv += 1
    return names


LAYER_NAMES: list[str] = layer_names()
"""``LAYER_NAMES[i]`` names the output of ``features[i]`` (e.g. index 1 -> ``relu1_1``)."""
LAYER_INDEX: dict[str, int] = {n: i for i, n in enumerate(LAYER_NAMES)}

SGM_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")


class VGGFeatures(nn.Module):
    """``torchvision.models.vgg*().features`` for a configuration ``cfg`` (channels, ``"M"`` = pool),
    with tap points named ``relu1_1`` ... (see :data:`LAYER_NAMES`).

    ``forward(x, layers)`` runs the stack only as far as the deepest requested layer.
    """

    name = "VGG"

    def __init__(self, cfg: Sequence[int | str]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(in_ch, int(v), kernel_size=3, padding=1), nn.ReLU(inplace=False)]
                in_ch = int(v)
        self.features = nn.Sequential(*layers)
        self.layer_index = {n: i for i, n in enumerate(layer_names(cfg))}

    def forward(self, x: torch.Tensor, layers: Sequence[str] = SGM_LAYERS) -> list[torch.Tensor]:
        """Args: x ``(N, 3, H, W)`` ImageNet-normalised. Returns the requested activations in order."""
        unknown = [n for n in layers if n not in self.layer_index]
        if unknown:
            raise InputError(f"unknown {self.name} layers {unknown}; known: {', '.join(self.layer_index)}")
        wanted = sorted({self.layer_index[n] for n in layers})
        out: dict[int, torch.Tensor] = {}
        for i, layer in enumerate(self.features):
            if i > wanted[-1]:
                break
            # A ReLU overwrites its convolution's output unless that output is a requested tap (as
            # torchvision's inplace ReLU; autograd allows it): one full-size activation fewer per
            # layer (960x540: 133 MB at relu1_*), the same values.
            in_place = isinstance(layer, nn.ReLU) and i > 0 and (i - 1) not in out
            x = torch.relu_(x) if in_place else layer(x)
            if i in wanted:
                out[i] = x
        return [out[self.layer_index[n]] for n in layers]


class VGG19Features(VGGFeatures):
    """``torchvision.models.vgg19().features`` with tap points."""

    name = "VGG-19"

    def __init__(self) -> None:
        super().__init__(_CFG)


def imagenet_normalise(rgb01: torch.Tensor) -> torch.Tensor:
    """``(N, 3, H, W)`` RGB in [0, 1] -> ImageNet-normalised, float32 (as torchvision's Normalize)."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32, device=rgb01.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32, device=rgb01.device).view(1, 3, 1, 1)
    return (rgb01.float() - mean) / std


def features_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Keep the ``features.*`` entries of a torchvision/timm VGG-19 state dict (any prefix such as
    ``module.`` is stripped)."""
    out = {}
    for k, v in state.items():
        i = k.find("features.")
        if i >= 0 and (i == 0 or k[i - 1] == "."):
            out[k[i:]] = v
    return out


def build_vgg19(state: Mapping[str, torch.Tensor] | None = None) -> VGG19Features:
    """A VGG-19 feature stack in eval mode, loaded from ``state`` if given (strict on features)."""
    return load_features_into(VGG19Features(), state)


def load_features_into(net: VGGFeatures, state: Mapping[str, torch.Tensor] | None) -> VGGFeatures:
    """Load the ``features.*`` of ``state`` into ``net`` (strict), freeze it, eval mode, channels-last.

    Raises:
        WeightsError: missing, unexpected or mis-shaped tensors (listed).
    """
    if state is not None:
        feats = features_state_dict(state)
        expected = net.state_dict()
        missing = sorted(set(expected) - set(feats))
        unexpected = sorted(set(feats) - set(expected))
        bad = sorted(k for k in set(expected) & set(feats) if tuple(feats[k].shape) != tuple(expected[k].shape))
        if missing or unexpected or bad:
            raise WeightsError(
                f"not a torchvision-compatible {net.name}: "
                + "; ".join(
                    f"{what}: {', '.join(keys[:8])}{' ...' if len(keys) > 8 else ''}"
                    for what, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", bad))
                    if keys
                )
            )
        net.load_state_dict({k: v.float() for k, v in feats.items()})
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net.to(memory_format=torch.channels_last)


def load_vgg19(path: str | os.PathLike) -> VGG19Features:
    """Load VGG-19 features from a safetensors file (e.g. timm's ``vgg19.tv_in1k/model.safetensors``)."""
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except Exception as e:  # corrupt / truncated file
        raise WeightsError(f"could not read VGG-19 weights from {path}: {e}") from e
    require_finite(features_state_dict(state), str(path))
    return build_vgg19(state)


def random_vgg19(seed: int = 0) -> VGG19Features:
    """A deterministic randomly initialised VGG-19 (for tests and offline timing only)."""
    return build_vgg19(random_state(VGG19Features(), seed))


def random_state(net: VGGFeatures, seed: int = 0) -> dict[str, torch.Tensor]:
    """Deterministic uniform(±1/sqrt(fan_in)) weights for ``net`` (tests and offline timing only)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                bound = (1.0 / (m.in_channels * 9)) ** 0.5
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) * 2 * bound - bound)
                m.bias.copy_(torch.rand(m.bias.shape, generator=g) * 2 * bound - bound)
    return net.state_dict()


def check_layers(layers: Iterable[str]) -> None:
    unknown = [n for n in layers if n not in LAYER_INDEX]
    if unknown:
        raise InputError(f"unknown VGG-19 layers {unknown}; known: {', '.join(LAYER_NAMES)}")
