"""Deterministic synthetic cartoons with known motion: the project's own test and demo material.

A :class:`CartoonScene` holds flat-colour shapes with dark outlines on a flat background. Each
shape moves by an affine motion (translation, rotation, uniform scale) whose parameters are
interpolated linearly in time ``t`` in [0, 1]. Because every pixel's owner shape and pose are
known, the scene gives exact ground truth: frames at any ``t``, the in-between frame, per-pixel
flows between any two times, and per-pixel shape ids.

Conventions: frames are ``uint8`` RGB ``(H, W, 3)``; flows are ``float32`` ``(2, H, W)`` in pixels,
channel 0 = x (+right), channel 1 = y (+down); owner maps are ``uint8`` ``(H, W)`` with 0 for the
background and ``k + 1`` for shape ``k``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..errors import InputError

_SHIFT_BITS = 4  # sub-pixel precision of OpenCV polygon drawing
_PALETTE = np.array(  # well separated flat colours, in hue order
    [
        (231, 76, 60), (243, 156, 18), (241, 226, 60), (120, 200, 80), (39, 174, 96),
        (26, 188, 156), (116, 185, 255), (46, 100, 222), (155, 89, 182), (236, 112, 160),
    ],
    dtype=np.uint8,
)
_BACKGROUND = (246, 240, 226)
_OUTLINE = (28, 26, 36)
_WHITE = (255, 255, 255)


@dataclass
class Pose:
    """Affine pose of a shape: centre ``(x, y)`` in px, rotation in degrees, uniform scale."""

    x: float
    y: float
    angle: float = 0.0
    scale: float = 1.0

    def lerp(self, other: Pose, t: float) -> Pose:
        return Pose(
            self.x + (other.x - self.x) * t,
            self.y + (other.y - self.y) * t,
            self.angle + (other.angle - self.angle) * t,
            self.scale + (other.scale - self.scale) * t,
        )

    def matrix(self) -> np.ndarray:
        """3x3 matrix mapping shape coordinates to image coordinates."""
        a = math.radians(self.angle)
        c, s = math.cos(a) * self.scale, math.sin(a) * self.scale
        return np.array([[c, -s, self.x], [s, c, self.y], [0.0, 0.0, 1.0]])


@dataclass
class Shape:
    """A closed polygon in its own coordinates (centred on 0), moving from ``start`` to ``end``."""

    outline: np.ndarray  # (K, 2) float64 vertices
    colour: tuple[int, int, int]
    start: Pose
    end: Pose
    timing: float = 0.0
    """Eased spacing: at time t the pose is the linear one at ``t + 4·timing·t·(1 - t)`` (0 = even
    spacing; 0.1 puts the middle drawing at 60 % of the way; the end poses do not change)."""

    def pose(self, t: float) -> Pose:
        return self.start.lerp(self.end, t + 4.0 * self.timing * t * (1.0 - t))

    def polygon(self, t: float) -> np.ndarray:
        """Vertices in image coordinates at time ``t``, ``(K, 2)`` float64."""
        m = self.pose(t).matrix()
        return self.outline @ m[:2, :2].T + m[:2, 2]


@dataclass
class CartoonScene:
    """Shapes drawn back to front over a flat background, with a static ground block."""

    height: int
    width: int
    shapes: list[Shape]
    line_width: int = 2
    background: tuple[int, int, int] = _BACKGROUND
    line_colour: tuple[int, int, int] = _OUTLINE
    ground: Shape | None = field(default=None)

    # ---------------------------------------------------------------- rendering
    def _layers(self) -> list[Shape]:
        return ([self.ground] if self.ground is not None else []) + list(self.shapes)

    def render(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Draw the scene at time ``t``.

        Returns:
            frame: ``uint8`` RGB ``(H, W, 3)``.
            owner: ``uint8`` ``(H, W)``: 0 background, ``k + 1`` for layer ``k`` (ground first if any).
        """
        frame = np.empty((self.height, self.width, 3), np.uint8)
        frame[:] = self.background
        owner = np.zeros((self.height, self.width), np.uint8)
        for k, shape in enumerate(self._layers()):
            pts = np.round(shape.polygon(t) * (1 << _SHIFT_BITS)).astype(np.int32)[None]
            cv2.fillPoly(frame, pts, shape.colour, cv2.LINE_8, _SHIFT_BITS)
            cv2.fillPoly(owner, pts, k + 1, cv2.LINE_8, _SHIFT_BITS)
            cv2.polylines(frame, pts, True, self.line_colour, self.line_width, cv2.LINE_8, _SHIFT_BITS)
            cv2.polylines(owner, pts, True, k + 1, self.line_width, cv2.LINE_8, _SHIFT_BITS)
        return frame, owner

    def frame(self, t: float) -> np.ndarray:
        return self.render(t)[0]

    # ---------------------------------------------------------------- ground truth
    def flow(self, t_from: float, t_to: float) -> np.ndarray:
        """Exact flow of the pixels visible at ``t_from`` to their positions at ``t_to``.

        Returns ``float32`` ``(2, H, W)``; background pixels have zero flow.
        """
        _, owner = self.render(t_from)
        ys, xs = np.mgrid[0 : self.height, 0 : self.width].astype(np.float64)
        flow = np.zeros((2, self.height, self.width), np.float64)
        for k, shape in enumerate(self._layers()):
            sel = owner == k + 1
            if not sel.any():
                continue
            m = shape.pose(t_to).matrix() @ np.linalg.inv(shape.pose(t_from).matrix())
            x, y = xs[sel], ys[sel]
            flow[0][sel] = m[0, 0] * x + m[0, 1] * y + m[0, 2] - x
            flow[1][sel] = m[1, 0] * x + m[1, 1] * y + m[1, 2] - y
        return flow.astype(np.float32)


@dataclass
class CartoonTriplet:
    """Frames at t = 0, 0.5, 1 with exact flows and owner maps (see module docstring)."""

    frame1: np.ndarray
    frame2: np.ndarray
    frame3: np.ndarray
    flow_13: np.ndarray
    flow_31: np.ndarray
    owner1: np.ndarray
    owner3: np.ndarray
    scene: CartoonScene


def _shape_outline(kind: str, size: float, rng: np.random.Generator) -> np.ndarray:
    if kind == "ellipse":
        a = size * rng.uniform(0.6, 1.0)
        b = size * rng.uniform(0.45, 0.9)
        th = np.linspace(0, 2 * np.pi, 64, endpoint=False)
        return np.stack([a * np.cos(th), b * np.sin(th)], 1)
    if kind == "rect":
        a = size * rng.uniform(0.6, 1.0)
        b = size * rng.uniform(0.4, 0.9)
        return np.array([[-a, -b], [a, -b], [a, b], [-a, b]], np.float64)
    if kind == "star":
        n = int(rng.integers(5, 8))
        th = np.linspace(0, 2 * np.pi, 2 * n, endpoint=False)
        r = np.where(np.arange(2 * n) % 2 == 0, size, size * 0.5)
        return np.stack([r * np.cos(th), r * np.sin(th)], 1)
    # irregular convex-ish polygon
    n = int(rng.integers(5, 9))
    th = np.sort(rng.uniform(0, 2 * np.pi, n))
    r = size * rng.uniform(0.7, 1.0, n)
    return np.stack([r * np.cos(th), r * np.sin(th)], 1)


def random_scene(
    height: int = 240,
    width: int = 432,
    seed: int = 0,
    n_shapes: int = 5,
    max_shift: float | None = None,
    max_rotation: float = 8.0,
    max_scale_change: float = 0.08,
    with_ground: bool = True,
    style: str = "flat",
    timing_jitter: float = 0.0,
) -> CartoonScene:
    """A deterministic random scene.

    Args:
        height, width: frame size in px.
        seed: the scene is a pure function of its arguments.
        n_shapes: moving shapes (drawn after the static ground block).
        max_shift: largest translation between t=0 and t=1 in px (default 4% of the width).
        max_rotation: largest rotation in degrees; max_scale_change: largest relative scale change.
        with_ground: add a static block along the bottom edge.
        style: ``"flat"`` (flat colours, the default) or ``"lineart"`` (the same scene drawn as
            dark outlines on white: every fill and the background white). The style changes colours
            only: the shapes, their motion and the random draws are those of ``"flat"``.
        timing_jitter: each moving shape's :attr:`Shape.timing` drawn uniformly in
            ``[-timing_jitter, timing_jitter]`` (from a separate random stream, so the scene is
            otherwise that of ``timing_jitter=0``): drawings spaced unevenly, as animators ease in and
            out; the middle frame is then off the linear path between the end frames.
    """
    if style not in ("flat", "lineart"):
        raise InputError(f"style must be 'flat' or 'lineart', got {style!r}")
    rng = np.random.default_rng(seed)
    if max_shift is None:
        max_shift = 0.04 * width
    base = min(height, width)
    step = max(1, len(_PALETTE) // max(1, n_shapes))
    colours = (int(rng.integers(len(_PALETTE))) + step * np.arange(n_shapes)) % len(_PALETTE)
    slots = rng.permutation(n_shapes)
    kinds = ["ellipse", "rect", "star", "poly"]
    shapes = []
    for k in range(n_shapes):
        size = base * rng.uniform(0.1, 0.22)
        outline = _shape_outline(kinds[k % len(kinds)], size, rng)
        x = (0.12 + 0.76 * (slots[k] + rng.uniform(0.2, 0.8)) / n_shapes) * width
        y = rng.uniform(0.15, 0.7) * height
        ang = rng.uniform(0, 360)
        shift = rng.uniform(0.3, 1.0) * max_shift
        direction = rng.uniform(0, 2 * np.pi)
        start = Pose(x, y, ang, 1.0)
        end = Pose(
            x + shift * math.cos(direction),
            y + shift * math.sin(direction),
            ang + rng.uniform(-max_rotation, max_rotation),
            1.0 + rng.uniform(-max_scale_change, max_scale_change),
        )
        shapes.append(Shape(outline, tuple(int(c) for c in _PALETTE[colours[k]]), start, end))
    ground = None
    if with_ground:
        gh = 0.12 * height
        outline = np.array([[-width, -gh], [width, -gh], [width, gh], [-width, gh]], np.float64) / 1.0
        pose = Pose(width / 2, height - gh * 0.6, 0.0, 1.0)
        ground = Shape(outline, (120, 96, 72), pose, pose)
    lw = max(1, round(base / 120))
    if timing_jitter > 0:
        timing_rng = np.random.default_rng([seed, 1])
        for shape in shapes:
            shape.timing = float(timing_rng.uniform(-timing_jitter, timing_jitter))
    scene = CartoonScene(height, width, shapes, line_width=lw, ground=ground)
    if style == "lineart":
        for shape in scene._layers():
            shape.colour = _WHITE
        scene.background = _WHITE
    return scene


def make_triplet(height: int = 240, width: int = 432, seed: int = 0, **scene_kwargs) -> CartoonTriplet:
    """Frames at t = 0, 0.5, 1 of :func:`random_scene` with exact flows between the end frames."""
    scene = random_scene(height, width, seed, **scene_kwargs)
    f1, o1 = scene.render(0.0)
    f3, o3 = scene.render(1.0)
    return CartoonTriplet(
        frame1=f1,
        frame2=scene.frame(0.5),
        frame3=f3,
        flow_13=scene.flow(0.0, 1.0),
        flow_31=scene.flow(1.0, 0.0),
        owner1=o1,
        owner3=o3,
        scene=scene,
    )


def make_clip(
    n_drawings: int,
    height: int = 240,
    width: int = 432,
    seed: int = 0,
    hold: int = 1,
    cut_after: int | None = None,
    **scene_kwargs,
) -> list[np.ndarray]:
    """A clip of ``n_drawings`` evenly timed drawings, each held for ``hold`` frames.

    ``hold=2`` gives animation "on twos". ``cut_after=k`` switches to a different scene after the
    k-th drawing (a scene cut).
    """
    scenes = [random_scene(height, width, seed, **scene_kwargs)]
    if cut_after is not None:
        scenes.append(random_scene(height, width, seed + 1000, **scene_kwargs))
    frames = []
    for i in range(n_drawings):
        scene = scenes[1] if cut_after is not None and i >= cut_after else scenes[0]
        t = i / max(1, n_drawings - 1)
        frame = scene.frame(t)
        frames.extend([frame] * hold)
    return frames
