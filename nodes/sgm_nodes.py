"""Per-stage SGM nodes: Segment -> Match -> Coarse Flow, each with an IMAGE preview."""
from __future__ import annotations

import numpy as np

from ..core import preview
from ..core.errors import InputError
from ..core.sgm.clip import ClipFlows, MatchedClip, SegmentedClip, coarse_flow_clip, match_clip, segment_clip
from ..core.sgm.coarse_flow import DIS_SETTINGS
from ..core.sgm.run import COMPAT_SIZE, SGMOptions
from ..core.sgm.segment import PRESETS
from . import comfy_env
from .model_cache import load_vgg
from .progress import node_progress
from .tensors import frames_to_image_batch, image_batch_to_frames

CATEGORY = "AnimeInterp/stages"
WORKING_SIZES = ["auto", "native", f"{COMPAT_SIZE[0]}x{COMPAT_SIZE[1]} (original)"]
DEFAULT_VGG = "vgg19"


def parse_working_size(choice: str):
    if choice == "auto":
        return "auto"
    if choice == "native":
        return None
    if choice == WORKING_SIZES[2]:
        return COMPAT_SIZE
    raise InputError(f"unknown working size {choice!r}; choose one of {WORKING_SIZES}")


class AnimeInterpSegment:
    """IMAGE batch -> SEGMENTS (label map per frame) + a preview with one random colour per segment."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "images": ("IMAGE",),
                "preset": (sorted(PRESETS), {"default": "japan",
                                             "tooltip": "Line-extraction parameters: 'japan' (anime) or 'disney'."}),
                "working_size": (WORKING_SIZES, {"default": "auto",
                                                 "tooltip": "Size SGM runs at; 'auto' caps at 960x540 pixels."}),
            }
        }

    RETURN_TYPES = ("SEGMENTS", "IMAGE")
    RETURN_NAMES = ("segments", "preview")
    FUNCTION = "run"
    CATEGORY = CATEGORY
    DESCRIPTION = "Split every frame into flat-colour pieces (line extraction + trapped-ball filling)."

    # no VALIDATE_INPUTS: ComfyUI checks both lists itself (one message for the input at fault)
    @classmethod
    def check_inputs(cls, preset, working_size):
        """True, or what is wrong with these widget values."""
        if preset not in PRESETS:
            return f"unknown preset {preset!r}"
        if working_size not in WORKING_SIZES:
            return f"unknown working size {working_size!r}"
        return True

    def run(self, images, preset, working_size):
        frames = image_batch_to_frames(images)
        options = SGMOptions(preset=preset, working_size=parse_working_size(working_size))
        with node_progress(len(frames), ["segment"]) as bar:
            segments = segment_clip(frames, options, step=bar.step)
        previews = [preview.segments_preview(labels, seed=i) for i, labels in enumerate(segments.labels)]
        return (segments, frames_to_image_batch(previews, comfy_env.intermediate_device()))


class AnimeInterpMatch:
    """SEGMENTS -> MATCHES for every consecutive pair + a preview painting matched pieces alike."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "segments": ("SEGMENTS",),
                "features": (["vgg", "colour"], {"default": "vgg",
                                                 "tooltip": "'vgg': VGG-19 features (published method, needs "
                                                            "weights); 'colour': weight-free colour + shape."}),
            },
            "optional": {
                "vgg_weights": ("STRING", {"default": DEFAULT_VGG,
                                           "tooltip": "vgg19 (default), vgg16, a file in models/animeinterp, or a path."}),
            },
        }

    RETURN_TYPES = ("MATCHES", "IMAGE")
    RETURN_NAMES = ("matches", "preview")
    FUNCTION = "run"
    CATEGORY = CATEGORY
    DESCRIPTION = "Pair the pieces of consecutive frames (mutual best matches)."

    def run(self, segments: SegmentedClip, features, vgg_weights=DEFAULT_VGG):
        if not isinstance(segments, SegmentedClip):
            raise InputError("'segments' must come from an AnimeInterp Segment node")
        device = comfy_env.torch_device()
        vgg = (load_vgg(vgg_weights, device, instead="set features to 'colour' (weight-free, no file needed)")
               if features == "vgg" else None)
        n = len(segments.frames) - 1
        with node_progress(max(n, 1), ["match"]) as bar:
            matched = match_clip(segments, features=features, vgg=vgg, device=device, step=bar.step)
        previews = [np.hstack(preview.matches_preview(m, seed=k)) for k, m in enumerate(matched.matches)]
        return (matched, frames_to_image_batch(previews, comfy_env.intermediate_device()))


class AnimeInterpCoarseFlow:
    """MATCHES -> FLOW (coarse, both directions, every pair) + a flow-colour preview."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {"matches": ("MATCHES",)},
            "optional": {
                "dis_settings": (list(DIS_SETTINGS), {
                    "default": "original",
                    "tooltip": "'original': the original code's DIS settings, the flows the published "
                               "checkpoints were trained on. 'fast': OpenCV's stock preset, about 4x "
                               "faster; fine without a model (weight-free refinement)."}),
            },
        }

    RETURN_TYPES = ("FLOW", "IMAGE")
    RETURN_NAMES = ("flow", "preview")
    FUNCTION = "run"
    CATEGORY = CATEGORY
    DESCRIPTION = ("Per matched piece: box-centre shift + DIS deformation; zero elsewhere. "
                   "Preview: forward | backward flow, grey = no valid match.")

    def run(self, matches: MatchedClip, dis_settings="original"):
        if not isinstance(matches, MatchedClip):
            raise InputError("'matches' must come from an AnimeInterp Match node")
        with node_progress(len(matches.matches), ["coarse flow"]) as bar:
            flows = coarse_flow_clip(matches, step=bar.step, dis=dis_settings)
        return (flows, flow_previews(flows))


def flow_previews(flows: ClipFlows):
    """One IMAGE per pair: forward flow | backward flow, on a common colour scale."""
    pics = []
    for k, p in enumerate(flows.pairs):
        v = flows.valid[k] if k < len(flows.valid) and flows.valid[k] is not None else (None, None)
        pics.append(preview.flow_pair_preview(p.flow_13, p.flow_31, *v))
    return frames_to_image_batch(pics, comfy_env.intermediate_device())


NODES = {
    "AnimeInterpSegment": (AnimeInterpSegment, "Segment (AnimeInterp)"),
    "AnimeInterpMatch": (AnimeInterpMatch, "Match Segments (AnimeInterp)"),
    "AnimeInterpCoarseFlow": (AnimeInterpCoarseFlow, "Coarse Flow (AnimeInterp)"),
}
