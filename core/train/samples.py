"""Map-style datasets that turn style triplets into training / validation samples.

:class:`TrainingSamples` is indexed by a :data:`.sampling.SampleKey` ``(triplet, stream position)``:
it reads the triplet, resizes it to the training size, attaches its init flows and applies the
augmentation drawn from ``(seed, position)``. :class:`ValidationSamples` is indexed by triplet and
does no augmentation (whole frames at the training size). Items are dicts of tensors
(``frame1/2/3 (3, H, W)``, ``flow13/flow31 (2, H, W)``, ``t ()``) that the default collate stacks.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.utils.data

from ..data.triplets import Triplet
from ..sgm.run import SGMOptions
from .augment import AugmentOptions, Sample, augment, draw_params, training_size
from .flow_cache import FlowCache, compute_flows, flows_at
from .sampling import SampleKey
from .style_set import StyleTriplet

FlowMode = Literal["cache", "live", "none"]


class FlowSource:
    """Init flows for a pair of (resized) frames: from the cache, computed live, or zeros."""

    def __init__(
        self, mode: FlowMode, cache: FlowCache | None = None, options: SGMOptions | None = None, vgg=None
    ) -> None:
        self.mode, self.cache, self.options, self.vgg = mode, cache, options, vgg

    def flows(self, frame1: np.ndarray, frame3: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(flow_13, flow_31)`` float32 ``(2, H, W)`` at the frames' size."""
        h, w = frame1.shape[:2]
        if self.mode == "none":
            zero = np.zeros((2, h, w), np.float32)
            return zero, zero.copy()
        if self.mode == "cache":
            stored = self.cache.get(frame1, frame3)
        else:
            stored = compute_flows(frame1, frame3, self.options, self.vgg)
        return flows_at(stored, h, w)


def load_resized(item: StyleTriplet, options: AugmentOptions) -> list[np.ndarray]:
    """The triplet's frames at the training size (Lanczos, like the original data loader)."""
    frames = item.load()
    h, w = frames[0].shape[:2]
    size = training_size((w, h), options)
    tri = Triplet(item.name, *frames).resized(size)
    return [tri.frame1, tri.frame2, tri.frame3]


def _to_tensor(frame: np.ndarray) -> torch.Tensor:
    return torch.tensor(frame).permute(2, 0, 1).float().div_(255.0)  # copies (resized frames are read-only)


def build_sample(item: StyleTriplet, frames: list[np.ndarray], flow_source: FlowSource) -> Sample:
    flow13, flow31 = flow_source.flows(frames[0], frames[2])
    return Sample(
        *(_to_tensor(f) for f in frames), torch.from_numpy(flow13), torch.from_numpy(flow31), float(item.t)
    )


class TrainingSamples(torch.utils.data.Dataset):
    """Augmented samples keyed by ``(triplet index, stream position)``."""

    def __init__(
        self, items: list[StyleTriplet], options: AugmentOptions, flow_source: FlowSource, seed: int = 0
    ):
        self.items, self.options, self.flow_source, self.seed = items, options, flow_source, seed

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, key: SampleKey) -> dict[str, torch.Tensor]:
        index, position = key
        item = self.items[index]
        frames = load_resized(item, self.options)
        h, w = frames[0].shape[:2]
        rng = np.random.default_rng([self.seed, 1, position])
        params = draw_params(self.options, (w, h), rng)
        return augment(build_sample(item, frames, self.flow_source), params, self.options.crop).as_dict()


class ValidationSamples(torch.utils.data.Dataset):
    """Whole frames at the training size, no augmentation."""

    def __init__(self, items: list[StyleTriplet], options: AugmentOptions, flow_source: FlowSource):
        self.items, self.flow_source = items, flow_source
        self.options = AugmentOptions(
            options.resize, crop=None, hflip=False, vflip=False, reverse=False, fit=options.fit
        )

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = self.items[index]
        return build_sample(item, load_resized(item, self.options), self.flow_source).as_dict()
