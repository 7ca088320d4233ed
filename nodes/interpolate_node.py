"""The one-click node: an IMAGE batch (a clip) -> the clip with in-betweens."""
from __future__ import annotations

import torch

from ..core.clip.retime import RetimeOptions, retime_clip
from ..core.clip.schedule import Timing, frame_rate, multiplier, per_pair
from ..core.errors import InputError
from ..core.io.images import to_rgb_uint8
from ..core.pipeline import Interpolator
from ..core.sgm.run import SGMOptions
from ..core.sgm.segment import PRESETS
from .model_cache import load_vgg, on_disk
from .node_support import MODEL_TOOLTIP, MODEL_TYPE, ImageBatchWriter, check_model, memory_guard, model_device
from .progress import node_progress
from .sgm_nodes import DEFAULT_VGG, WORKING_SIZES, parse_working_size

MODES = ["multiplier", "target fps"]
MATCHING = ["auto", "vgg", "colour"]
MAX_NODE_MULTIPLIER = 16
FPS_RANGE = {"min": 1.0, "max": 480.0, "step": 0.001}


def clip_timing(mode: str, multiplier_value: int, source_fps: float, target_fps: float,
                schedule: str = "") -> Timing:
    """The node's widgets -> a :class:`..core.clip.schedule.Timing` (a non-empty schedule wins)."""
    if schedule and schedule.strip():
        return per_pair(schedule)
    if mode == "multiplier":
        return multiplier(int(multiplier_value))
    if mode == "target fps":
        return frame_rate(source_fps, target_fps)
    raise InputError(f"unknown mode {mode!r}; choose one of {MODES}")


def resolve_matching(matching: str, model, vgg_weights: str) -> str:
    """'auto' -> 'vgg' with a learned model or when VGG-19 is on disk, else 'colour': without a
    model the node needs no file at all."""
    if matching != "auto":
        return matching
    return "vgg" if model is not None or on_disk(vgg_weights) else "colour"


class AnimeInterpolate:
    """IMAGE batch -> IMAGE batch with in-betweens, held drawings and scene cuts handled."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "images": ("IMAGE",),
                "mode": (MODES, {"default": "multiplier", "tooltip": (
                    "'multiplier': N x the frame rate; 'target fps': resample source fps -> target fps.")}),
                "multiplier": ("INT", {"default": 2, "min": 2, "max": MAX_NODE_MULTIPLIER, "tooltip": (
                    "Output = (frames - 1) x multiplier + 1 frames.")}),
                "source_fps": ("FLOAT", {**FPS_RANGE, "default": 24.0, "tooltip": (
                    "Frame rate of the input clip (for 'target fps', and for the fps output).")}),
                "target_fps": ("FLOAT", {**FPS_RANGE, "default": 60.0, "tooltip": (
                    "Output frame rate in 'target fps' mode: floor((frames - 1) x target / source) + 1 "
                    "frames.")}),
                "held_drawings": ("BOOLEAN", {"default": True, "tooltip": (
                    "Anime drawn on twos/threes: group identical frames and time the in-betweens between the "
                    "distinct drawings (smooth motion, same duration).")}),
                "scene_cuts": ("BOOLEAN", {"default": True, "tooltip": (
                    "Detect scene cuts and repeat frames there instead of blending two shots "
                    "(not applied to a batch of exactly two frames).")}),
                "matching": (MATCHING, {"default": "auto", "tooltip": (
                    "Segment matching: 'vgg' = VGG-19 features (published method, needs weights); "
                    "'colour' = weight-free colour + shape; 'auto' = 'vgg' with a model or when "
                    "VGG-19 is already on disk, else 'colour' (nothing to download).")}),
                "preset": (sorted(PRESETS), {"default": "japan",
                                             "tooltip": "Line extraction: 'japan' or 'disney'."}),
                "working_size": (WORKING_SIZES, {"default": "auto", "tooltip": "Size SGM runs at."}),
            },
            "optional": {
                "model": (MODEL_TYPE, {"tooltip": MODEL_TOOLTIP}),
                "schedule": ("STRING", {"default": "", "tooltip": (
                    "Optional in-betweens per source pair, e.g. '1, 3' (repeats over the clip); replaces "
                    "the mode. Output = frames + sum of the counts.")}),
                "vgg_weights": ("STRING", {"default": DEFAULT_VGG,
                                           "tooltip": "For 'vgg' matching: vgg19, vgg16, or a path."}),
            },
        }

    RETURN_TYPES = ("IMAGE", "FLOAT")
    RETURN_NAMES = ("images", "fps")
    FUNCTION = "run"
    CATEGORY = "AnimeInterp"
    DESCRIPTION = ("Interpolate a clip: in-betweens between distinct drawings, none across scene cuts, "
                   "originals kept in place. fps = the output's frame rate.")

    # ComfyUI reports a VALIDATE_INPUTS error once per input the method declares: declare only the
    # one it cannot check itself; ranges and lists are ComfyUI's, the rest is checked at run time.
    @classmethod
    def VALIDATE_INPUTS(cls, schedule=None):
        return cls.check_inputs(schedule=schedule)

    @classmethod
    def check_inputs(cls, mode=None, multiplier=None, source_fps=None, target_fps=None, schedule=None,
                     matching=None, preset=None, working_size=None):
        """True, or what is wrong with these widget values (None = not given)."""
        choices = (("mode", mode, MODES), ("matching", matching, MATCHING),
                   ("preset", preset, sorted(PRESETS)), ("working_size", working_size, WORKING_SIZES))
        for name, value, allowed in choices:
            if value is not None and value not in allowed:
                return f"unknown {name} {value!r}; choose one of {allowed}"
        if multiplier is not None and not 2 <= int(multiplier) <= MAX_NODE_MULTIPLIER:
            return f"multiplier must be in [2, {MAX_NODE_MULTIPLIER}], got {multiplier}"
        for name, value in (("source_fps", source_fps), ("target_fps", target_fps)):
            if value is not None and not 0 < float(value) <= 480:
                return f"{name} must be in (0, 480], got {value}"
        try:
            if schedule and schedule.strip():
                per_pair(schedule)
            elif mode == "target fps" and source_fps is not None and target_fps is not None:
                frame_rate(source_fps, target_fps)
                if float(target_fps) < float(source_fps):
                    return (f"target_fps {float(target_fps):g} is below source_fps {float(source_fps):g}: that "
                            "would drop frames, and this node only adds in-betweens; set target_fps to "
                            f"{float(source_fps):g} or more")
        except InputError as e:
            return str(e)
        return True

    def run(self, images, mode="multiplier", multiplier=2, source_fps=24.0, target_fps=60.0,
            held_drawings=True, scene_cuts=True, matching="auto", preset="japan", working_size="auto",
            model=None, schedule="", vgg_weights=DEFAULT_VGG):
        model = check_model(model)
        problem = self.check_inputs(mode, multiplier, source_fps, target_fps, schedule, matching, preset,
                                    working_size)
        if problem is not True:
            raise InputError(problem)
        timing = clip_timing(mode, multiplier, source_fps, target_fps, schedule)
        if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[0] == 0:
            got = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise InputError(f"images: expected a non-empty IMAGE batch (B, H, W, C), got {got}")
        n, h, w = images.shape[:3]
        if n < 2:
            raise InputError("images: nothing to interpolate: the batch holds one frame (give at least two)")
        device = model_device(model)
        matching = resolve_matching(matching, model, vgg_weights)
        vgg = (load_vgg(vgg_weights, device, instead="set matching to 'colour' (weight-free, no file needed)")
               if matching == "vgg" else None)
        sgm = SGMOptions(preset=preset, features=matching, working_size=parse_working_size(working_size))
        interpolator = Interpolator(model, vgg, sgm, device=device)
        # a batch of exactly two frames is a pair the user wants in-betweened: no cut test there
        options = RetimeOptions(held_drawings=bool(held_drawings), scene_cuts=bool(scene_cuts) and n > 2)

        count = timing.output_count(n)
        out = ImageBatchWriter(count, h, w)
        frames = (to_rgb_uint8(images[i], f"images[{i}]") for i in range(n))
        with memory_guard("AnimeInterpolate"), node_progress(count) as bar:
            for item in retime_clip(frames, interpolator, timing, options):
                out.add(item.image)
                bar.step(out.written, count)
        return (out.result(), timing.output_fps(source_fps, n))


NODES = {"AnimeInterpolate": (AnimeInterpolate, "One-Click Interpolate (AnimeInterp)")}
