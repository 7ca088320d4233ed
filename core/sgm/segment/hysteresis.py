"""Hysteresis thresholding of a multi-channel image with 3-D face connectivity.

Equal to ``skimage.filters.apply_hysteresis_threshold`` on an ``(H, W, C)`` array (which labels
the ``> low`` voxels with 6-connectivity: 4 neighbours inside a channel plus the same pixel in the
adjacent channels ``c - 1`` and ``c + 1``), but several times faster: each channel plane is
labelled with OpenCV, and the planes are joined through a graph of label pairs.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


@dataclass
class HysteresisLabels:
    """The ``> low`` voxels of a stack of channel planes, labelled, and which of them pass.

    ``labels[k]`` (``int32 (H, W)``) labels the 4-connected ``> low`` components of plane ``k``
    (0 = not above ``low``); plane label ``j > 0`` is graph node ``offsets[k] + j``; ``kept`` (bool,
    one per node, ``kept[0]`` False) tells whether the node's 3-D component holds a ``> high``
    voxel.
    """

    labels: list[np.ndarray]
    offsets: list[int]
    kept: np.ndarray

    def passes(self, plane: int, flat_index: np.ndarray) -> np.ndarray:
        """``bool``: whether the voxels at ``flat_index`` of plane ``plane`` pass the hysteresis."""
        lab = self.labels[plane].ravel()[flat_index]
        return self.kept[np.where(lab > 0, lab + self.offsets[plane], 0)]

    def mask(self, plane: int) -> np.ndarray:
        """``bool (H, W)``: the voxels of plane ``plane`` that pass the hysteresis."""
        lab = self.labels[plane]
        return self.kept[np.where(lab > 0, lab + self.offsets[plane], 0)]


def hysteresis_components(planes: Sequence[np.ndarray], low: float, high: float
                          ) -> HysteresisLabels:
    """Label the ``> low`` voxels of a stack of channel planes and tell which components are kept.

    Args:
        planes: ``C`` float arrays ``(H, W)``, one per channel, in channel order.
        low, high: thresholds (strict ``>``); ``low`` is clipped to ``high`` like skimage does.

    Returns:
        the labels and the verdict per component, see :class:`HysteresisLabels`.
    """
    low = min(low, high)
    labels, offsets, low_masks = [], [], []
    n_nodes = 1  # node 0 = below low; plane k's label j > 0 is node offsets[k] + j
    for plane in planes:
        above_low = plane > low
        n, lab = cv2.connectedComponents(above_low.view(np.uint8), connectivity=4, ltype=cv2.CV_32S)
        labels.append(lab)
        offsets.append(n_nodes - 1)
        low_masks.append(above_low)
        n_nodes += n - 1

    kept = np.zeros(n_nodes, bool)
    for plane, lab, offset in zip(planes, labels, offsets):
        kept[lab[plane > high] + offset] = True
    pairs_a, pairs_b = [], []
    for k in range(len(planes) - 1):
        both = low_masks[k] & low_masks[k + 1]
        pairs_a.append(labels[k][both] + offsets[k])
        pairs_b.append(labels[k + 1][both] + offsets[k + 1])
    a = np.concatenate(pairs_a) if pairs_a else np.zeros(0, np.int32)
    b = np.concatenate(pairs_b) if pairs_b else np.zeros(0, np.int32)
    useful = ~(kept[a] & kept[b])  # links between two kept components change nothing
    a, b = a[useful], b[useful]
    if a.size:
        graph = coo_matrix((np.ones(a.size, np.int8), (a, b)), shape=(n_nodes, n_nodes))
        _, component = connected_components(graph, directed=False)
        kept_component = np.zeros(component.max() + 1, bool)
        kept_component[component[kept]] = True
        kept = kept_component[component]
    kept[0] = False
    return HysteresisLabels(labels, offsets, kept)


def hysteresis_mask(response: np.ndarray, low: float, high: float) -> np.ndarray:
    """``bool (H, W, C)``: voxels of ``response`` (``(H, W, C)`` float) above ``low`` that are
    face-connected to a voxel above ``high``; equals ``apply_hysteresis_threshold``."""
    if response.ndim != 3:
        raise ValueError(f"response must be (H, W, C), got shape {response.shape}")
    planes = [np.ascontiguousarray(response[:, :, k]) for k in range(response.shape[2])]
    result = hysteresis_components(planes, low, high)
    return np.stack([result.mask(k) for k in range(len(planes))], axis=2)
