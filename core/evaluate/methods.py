"""Interpolation methods the evaluation can score, by name.

A :data:`Method` takes ``frame1`` and ``frame3`` (``uint8`` RGB ``(H, W, 3)``, same size) and a time
``t`` in (0, 1) and returns the ``uint8`` RGB in-between at ``t``. A method may come with a
:data:`FlowEstimator` (``frame1, frame3 -> flow_13, flow_31``, float32 ``(2, H, W)`` in pixels),
which the evaluation scores by end-point error on sets with exact flows (synthetic).

Registered here, always available (the baselines every report compares against):

* ``"blend"`` — cross-fade ``(1 - t)·frame1 + t·frame3``, rounded to the nearest integer.
* ``"dis"`` — OpenCV DIS optical flow (preset MEDIUM, on grey frames) in both directions, then
  *backward* warping to ``t`` under a linear-motion, locally-constant-flow assumption::

      I_t(x) = (1 - t) · frame1(x + t · F31(x)) + t · frame3(x + (1 - t) · F13(x))

  (bilinear sampling, border pixels replicated). The flow at ``x`` of the end frames stands in for
  the flow at ``x`` at time ``t``; there is no occlusion reasoning. It is a plain, honest flow
  baseline, not the pipeline's weight-free mode.

``"full"`` and ``"weight-free"`` belong to the one-call pipeline: :func:`get_method` imports
``core.pipeline`` on first use, which registers them with :func:`register_method`; until that module
exists, asking for them raises a clear :class:`InputError`.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from ..dis import dis_flow
from ..errors import InputError

Method = Callable[[np.ndarray, np.ndarray, float], np.ndarray]
FlowEstimator = Callable[[np.ndarray, np.ndarray], "tuple[np.ndarray, np.ndarray]"]

PIPELINE_METHODS = ("full", "weight-free")
"""Names provided by ``core.pipeline`` (registered when it is imported)."""

BASELINES = ("blend", "dis")


@dataclass(frozen=True)
class MethodInfo:
    """A registered method: ``factory(**options)`` builds the callable (e.g. loads weights once)."""

    name: str
    description: str
    factory: Callable[..., Method]
    flow_factory: Callable[..., FlowEstimator] | None = None
    baseline: bool = False


_REGISTRY: dict[str, MethodInfo] = {}


def register_method(name: str, factory: Callable[..., Method], description: str,
                    flow_factory: Callable[..., FlowEstimator] | None = None, baseline: bool = False,
                    replace: bool = False) -> None:
    """Make ``name`` available to :func:`get_method` (``replace=True`` to override an entry)."""
    if name in _REGISTRY and not replace:
        raise InputError(f"method {name!r} is already registered")
    _REGISTRY[name] = MethodInfo(name, description, factory, flow_factory, baseline)


def _load_pipeline() -> None:
    package = __name__.rsplit(".", 2)[0]  # comfyui_animeinterp.core
    try:
        importlib.import_module(f"{package}.pipeline")
    except ModuleNotFoundError as e:
        if e.name != f"{package}.pipeline":
            raise
        raise InputError(
            f"methods {', '.join(PIPELINE_METHODS)} need the interpolation pipeline "
            f"({package}.pipeline), which this installation does not have yet; "
            f"the baselines {', '.join(BASELINES)} are available"
        ) from None


def method_info(name: str) -> MethodInfo:
    """The registration of ``name`` (importing the pipeline for its methods)."""
    if name not in _REGISTRY and name in PIPELINE_METHODS:
        _load_pipeline()
        if name not in _REGISTRY:
            raise InputError(
                f"method {name!r} is not available: the pipeline module does not register it (it should call "
                f"core.evaluate.methods.register_method({name!r}, factory, description) when imported); "
                f"the baselines {', '.join(BASELINES)} are available"
            )
    if name not in _REGISTRY:
        known = sorted(set(_REGISTRY) | set(PIPELINE_METHODS))
        raise InputError(f"unknown method {name!r}; known methods: {', '.join(known)}")
    return _REGISTRY[name]


def get_method(name: str, **options: Any) -> Method:
    """Build the method ``name``; ``options`` (e.g. ``device``) go to its factory."""
    return method_info(name).factory(**options)


def get_flow_estimator(name: str, **options: Any) -> FlowEstimator | None:
    """The flow estimator that comes with ``name``, or ``None``."""
    info = method_info(name)
    return info.flow_factory(**options) if info.flow_factory is not None else None


def available_methods() -> list[str]:
    """Names registered so far (pipeline methods appear once the pipeline is imported)."""
    return sorted(_REGISTRY)


# ---------------------------------------------------------------------------------------------- baselines
def _check_pair(frame1: np.ndarray, frame3: np.ndarray, t: float) -> None:
    for name, f in (("frame1", frame1), ("frame3", frame3)):
        if not isinstance(f, np.ndarray) or f.dtype != np.uint8 or f.ndim != 3 or f.shape[2] != 3:
            raise InputError(f"{name}: expected uint8 RGB (H, W, 3)")
    if frame1.shape != frame3.shape:
        raise InputError(f"frame1 {frame1.shape[:2]} and frame3 {frame3.shape[:2]} differ in size")
    if not 0.0 <= t <= 1.0:
        raise InputError(f"t must be in [0, 1], got {t}")


def blend(frame1: np.ndarray, frame3: np.ndarray, t: float = 0.5) -> np.ndarray:
    """Cross-fade ``(1 - t)·frame1 + t·frame3`` (``uint8`` RGB in and out)."""
    _check_pair(frame1, frame3, t)
    mix = (1.0 - t) * frame1.astype(np.float32) + t * frame3.astype(np.float32)
    return np.floor(mix + 0.5).astype(np.uint8)


def _dis() -> cv2.DISOpticalFlow:
    return cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)


def dis_flows(frame1: np.ndarray, frame3: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DIS flows ``F13``, ``F31`` as float32 ``(2, H, W)`` in pixels (x first)."""
    _check_pair(frame1, frame3, 0.5)
    g1, g3 = (np.ascontiguousarray(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)) for f in (frame1, frame3))
    dis = _dis()
    f13 = dis_flow(dis, g1, g3)
    f31 = dis_flow(dis, g3, g1)
    return f13.transpose(2, 0, 1).copy(), f31.transpose(2, 0, 1).copy()


def dis_warp(frame1: np.ndarray, frame3: np.ndarray, t: float = 0.5) -> np.ndarray:
    """The ``"dis"`` baseline (formula in the module docstring)."""
    _check_pair(frame1, frame3, t)
    f13, f31 = dis_flows(frame1, frame3)
    h, w = frame1.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)

    def sample(frame: np.ndarray, flow: np.ndarray, scale: float) -> np.ndarray:
        return cv2.remap(frame, xs + scale * flow[0], ys + scale * flow[1], cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE).astype(np.float32)

    mix = (1.0 - t) * sample(frame1, f31, t) + t * sample(frame3, f13, 1.0 - t)
    return np.clip(np.floor(mix + 0.5), 0, 255).astype(np.uint8)


register_method("blend", lambda **_: blend, "cross-fade of the two input frames", baseline=True)
register_method("dis", lambda **_: dis_warp, "OpenCV DIS flow both ways, backward warp to t and blend",
                flow_factory=lambda **_: dis_flows, baseline=True)
