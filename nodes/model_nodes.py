"""Model nodes: load the learned model, refine flows, synthesise in-betweens, release models.

ANIMEINTERP_MODEL values are ``core.model.LearnedInterpolator`` instances, cached between runs
(``model_cache``) and shared: consumers must not modify them. Every consumer takes the model as
an optional input; unconnected means the weight-free path.
"""
from __future__ import annotations

import logging

import torch

from ..core.clip.render import refine_clip, synthesize_pair
from ..core.clip.schedule import parse_times
from ..core.errors import InputError, WeightsError
from ..core.model.interpolator import runs_on
from ..core.pipeline import evenly_spaced_times
from ..core.sgm.clip import ClipFlows
from . import comfy_env, model_cache
from .node_support import MODEL_TOOLTIP, MODEL_TYPE, ImageBatchWriter, check_model, memory_guard, model_device
from .progress import node_progress
from .sgm_nodes import flow_previews
from .tensors import image_batch_to_frames

log = logging.getLogger(__name__)

CATEGORY = "AnimeInterp"
VARIANT_CHOICES = ["auto", "afi", "animeinterp"]
DEVICE_CHOICES = ["auto", "cpu", "cuda"]
FLOW_SCALE_CHOICES = ["auto", "1", "0.5", "0.25"]
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
DEFAULT_WEIGHTS = "afi-atd12k-style"
MODEL_CONVERTERS = {"afi", "animeinterp"}


def interpolation_weight_names() -> list[str]:
    """Manifest names of full interpolation models, default first."""
    from ..core.weights.manifest import load_manifest

    names = sorted(e.name for e in load_manifest()
                   if any(s.converter in MODEL_CONVERTERS for s in e.sources))
    return sorted(names, key=lambda n: n != DEFAULT_WEIGHTS)


def weight_choices() -> list[str]:
    """The loader's list: manifest models, then other weight files in ``models/animeinterp``.

    Files named like a manifest entry's file are listed under the entry's name; files of other
    manifest entries (VGG-19, GMA flow nets, LPIPS) are left out: they are not interpolators.
    """
    from ..core.weights.manifest import load_manifest

    names = interpolation_weight_names()
    manifest_files = {e.filename for e in load_manifest()}
    return names + [f for f in comfy_env.model_files() if f.split("/")[-1] not in manifest_files]


def weights_tooltip() -> str:
    """The loader's list explained: which named models are on disk and which would be downloaded."""
    names = interpolation_weight_names()
    here = [n for n in names if model_cache.on_disk(n)]
    missing = [n for n in names if n not in here]
    parts = [("A named model or a weight file in models/animeinterp (our safetensors, or an original "
              "checkpoint listed in weights_manifest.json, recognised by its hash).")]
    if here:
        parts.append("On disk: " + ", ".join(here) + ".")
    if missing:
        parts.append("Not on disk, downloaded on first use (with 'download' on): " + ", ".join(missing) + ".")
    return " ".join(parts)


def resolve_device(choice: str) -> torch.device:
    if choice == "auto":
        return comfy_env.torch_device()
    if choice == "cuda" and not torch.cuda.is_available():
        raise InputError("device 'cuda' was chosen but no CUDA GPU is available; choose 'auto' or 'cpu'")
    if choice not in DEVICE_CHOICES:
        raise InputError(f"unknown device {choice!r}; choose one of {DEVICE_CHOICES}")
    return torch.device(choice)


class LoadAnimeInterpModel:
    """Weights (manifest name or models/animeinterp file) -> ANIMEINTERP_MODEL, cached between runs."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "weights": (weight_choices(), {"default": DEFAULT_WEIGHTS, "tooltip": weights_tooltip()}),
                "variant": (VARIANT_CHOICES, {"default": "auto", "tooltip": (
                    "'auto' reads it from the file; 'afi' (RFR+GMA) or 'animeinterp' (RFR) checks it.")}),
                "device": (DEVICE_CHOICES, {"default": "auto", "tooltip": "'auto' = ComfyUI's device."}),
                "dtype": (list(DTYPES), {"default": "fp32", "tooltip": (
                    "fp32 gives the original's numbers. bf16 runs under autocast on CUDA or the CPU "
                    "(on a CPU with bf16 instructions about 1.8x faster for several in-betweens; "
                    "slightly different numbers); fp16 on CUDA only.")}),
            },
            "optional": {
                "download": ("BOOLEAN", {"default": True, "tooltip": (
                    "Download a named model that is not in models/animeinterp yet (verified, shown on "
                    "this node's progress bar). Off: use files on disk only.")}),
                "flow_scale": (FLOW_SCALE_CHOICES, {"default": "auto", "tooltip": (
                    "How much smaller the frames the flow network sees are than the picture. 'auto' "
                    "shrinks only frames above 1920x1088 pixels, to that many (4K: flows found at 1927x1083, about 5x "
                    "faster); '1' keeps the original's numbers at every size; 0.5 / 0.25 force it.")}),
            },
        }

    RETURN_TYPES = (MODEL_TYPE,)
    RETURN_NAMES = ("model",)
    FUNCTION = "load"
    CATEGORY = CATEGORY
    DESCRIPTION = "Load the learned interpolator (AnimeInterp or AnimeInterp + GMA)."

    # ComfyUI reports a VALIDATE_INPUTS error once per input the method declares: declare only the
    # one it cannot check itself; ranges and lists are ComfyUI's, the rest is checked at run time.
    @classmethod
    def VALIDATE_INPUTS(cls, weights=None):
        return cls.check_inputs(weights=weights)

    @classmethod
    def check_inputs(cls, weights=None, variant=None, device=None, dtype=None):
        """True, or what is wrong with these widget values (None = not given)."""
        if weights is not None and weights not in weight_choices():
            return f"weights {weights!r} is neither a known model name nor a file in models/animeinterp"
        if variant is not None and variant not in VARIANT_CHOICES:
            return f"unknown variant {variant!r}; choose one of {VARIANT_CHOICES}"
        if device is not None and device not in DEVICE_CHOICES:
            return f"unknown device {device!r}; choose one of {DEVICE_CHOICES}"
        if device == "cuda" and not torch.cuda.is_available():
            return "device 'cuda' was chosen but no CUDA GPU is available"
        if dtype is not None and dtype not in DTYPES:
            return f"unknown dtype {dtype!r}; choose one of {list(DTYPES)}"
        if device == "cpu" and dtype in DTYPES and not runs_on(DTYPES[dtype], "cpu"):
            return f"{dtype} runs only on CUDA; choose bf16 or fp32 for the CPU"
        return True

    @classmethod
    def IS_CHANGED(cls, **_):
        return model_cache.generation()  # load again after Release Models (AnimeInterp)

    def load(self, weights, variant="auto", device="auto", dtype="fp32", download=True, flow_scale="auto"):
        from ..core.model import read_metadata

        problem = self.check_inputs(None, variant, device, dtype)
        if problem is not True:
            raise InputError(problem)
        torch_device = resolve_device(device)
        torch_dtype = DTYPES.get(dtype)
        if torch_dtype is None:
            raise InputError(f"unknown dtype {dtype!r}; choose one of {list(DTYPES)}")
        if not runs_on(torch_dtype, torch_device.type):
            log.warning("AnimeInterp: %s does not run on %s; the model runs in fp32", dtype, torch_device)
            torch_dtype = torch.float32
        path = model_cache.resolve(weights, download=bool(download), show_progress=True)
        found = read_metadata(path).get("variant")
        if variant != "auto" and found != variant:
            raise WeightsError(f"{path.name} holds a {found!r} model, not {variant!r}; choose variant 'auto' "
                               f"or '{found}'")
        with memory_guard("loading the model"):
            model = model_cache.load_interpolator(str(path), torch_device, torch_dtype, flow_scale)
        model.animeinterp_source = str(path)
        return (model,)


class AnimeInterpRefineFlow:
    """Frames + FLOW (coarse) -> refined FLOW + preview, learned (RFR[+GMA]) or weight-free (DIS)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {"images": ("IMAGE",), "flow": ("FLOW",)},
            "optional": {"model": (MODEL_TYPE, {"tooltip": MODEL_TOOLTIP})},
        }

    RETURN_TYPES = ("FLOW", "IMAGE")
    RETURN_NAMES = ("flow", "preview")
    FUNCTION = "run"
    CATEGORY = f"{CATEGORY}/stages"
    DESCRIPTION = ("Refine coarse flows into dense flows, starting from them: the model's flow network, "
                   "or OpenCV DIS without weights. Preview: forward | backward flow.")

    def run(self, images, flow, model=None):
        model = check_model(model)
        if not isinstance(flow, ClipFlows):
            raise InputError("'flow' must come from an AnimeInterp Coarse Flow or Refine Flow node")
        frames = image_batch_to_frames(images)
        with memory_guard("Refine Flow"), node_progress(len(flow.pairs), ["refine"]) as bar:
            refined = refine_clip(frames, flow, model, model_device(model), step=bar.step)
        return (refined, flow_previews(refined))


class AnimeInterpSplatSynthesize:
    """Frames + FLOW -> the frames with in-betweens inserted (originals kept in place)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "images": ("IMAGE",),
                "flow": ("FLOW",),
                "multiplier": ("INT", {"default": 2, "min": 2, "max": 16, "tooltip": (
                    "x2 inserts 1 in-between per pair (t = 0.5), x3 inserts 2 (t = 1/3, 2/3), ...")}),
            },
            "optional": {
                "model": (MODEL_TYPE, {"tooltip": MODEL_TOOLTIP}),
                "times": ("STRING", {"default": "", "tooltip": (
                    "Optional in-between times, e.g. '0.25, 0.5'; when set they replace the multiplier.")}),
            },
        }

    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("images",)
    FUNCTION = "run"
    CATEGORY = f"{CATEGORY}/stages"
    DESCRIPTION = ("Warp both frames of every pair to each time t along the flow and merge them (GridNet "
                   "with a model, occlusion-aware blend without). Output: N + (N - 1) x in-betweens per "
                   "pair.")

    # ComfyUI reports a VALIDATE_INPUTS error once per input the method declares: declare only the
    # one it cannot check itself; ranges and lists are ComfyUI's, the rest is checked at run time.
    @classmethod
    def VALIDATE_INPUTS(cls, times=None):
        return cls.check_inputs(times=times)

    @classmethod
    def check_inputs(cls, multiplier=None, times=None):
        """True, or what is wrong with these widget values (None = not given)."""
        try:
            if times:
                parse_times(times)
            elif multiplier is not None:
                evenly_spaced_times(int(multiplier))
                if not 2 <= int(multiplier) <= 16:
                    return f"multiplier must be in [2, 16], got {multiplier}"
        except (InputError, ValueError) as e:
            return str(e)
        return True

    def run(self, images, flow, multiplier=2, model=None, times=""):
        model = check_model(model)
        problem = self.check_inputs(multiplier, times)
        if problem is not True:
            raise InputError(problem)
        ts = parse_times(times) if times and times.strip() else evenly_spaced_times(int(multiplier))
        frames = image_batch_to_frames(images)
        if not isinstance(flow, ClipFlows):
            raise InputError("'flow' must come from an AnimeInterp Coarse Flow or Refine Flow node")
        from ..core.clip.render import check_clip

        frames = check_clip(frames, flow)
        h, w = frames[0].shape[:2]
        out = ImageBatchWriter(len(frames) + (len(frames) - 1) * len(ts), h, w)
        device = model_device(model)
        with memory_guard("Splat Synthesize"), node_progress(len(flow.pairs), ["synthesis"]) as bar:
            for k, pair in enumerate(flow.pairs):
                out.add(frames[k])
                for frame in synthesize_pair(frames[k], frames[k + 1], pair, ts, model, device):
                    out.add(frame)
                bar.step(k + 1, len(flow.pairs))
        out.add(frames[-1])
        return (out.result(),)


class AnimeInterpReleaseModels:
    """Free every cached AnimeInterp network (learned model, VGG-19); passes its input through."""

    @classmethod
    def INPUT_TYPES(cls):
        tip = "Connect to run this after those images are made."
        return {"optional": {"images": ("IMAGE", {"tooltip": tip})}}

    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("images",)
    FUNCTION = "run"
    OUTPUT_NODE = True
    CATEGORY = CATEGORY
    DESCRIPTION = ("Release the cached AnimeInterp networks (GPU memory is freed at once); loaders load "
                   "them again on the next run.")

    @classmethod
    def IS_CHANGED(cls, **_):
        return float("nan")  # always run

    def run(self, images=None):
        released = model_cache.release_all()
        log.info("AnimeInterp: released %d cached networks", released)
        return (images,)


NODES = {
    "AnimeInterpLoadModel": (LoadAnimeInterpModel, "Load Model (AnimeInterp)"),
    "AnimeInterpRefineFlow": (AnimeInterpRefineFlow, "Refine Flow (AnimeInterp)"),
    "AnimeInterpSplatSynthesize": (AnimeInterpSplatSynthesize, "Splat Synthesize (AnimeInterp)"),
    "AnimeInterpReleaseModels": (AnimeInterpReleaseModels, "Release Models (AnimeInterp)"),
}
