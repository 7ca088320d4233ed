"""StyleFinetune: fine-tune a loaded model on a show's frames with the style loss (``core.train``).

The run lives in ComfyUI's output folder (``animeinterp_finetune/<name>``: checkpoints, metrics.csv,
curves.png) and the weights are saved as ``models/animeinterp/finetuned/<name>.safetensors``, where
the loader node lists them. Queueing the same name again continues the run from its newest
checkpoint (after a Cancel, or with more steps); Cancel stops after the current step, saves a
checkpoint and the weights, and returns the model trained so far.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path

from ..core.errors import InputError
from . import comfy_env, memory
from .comfy_env import ProgressBar
from .io_nodes import resolve_clip_path
from .node_support import MODEL_TYPE, memory_guard
from .tensors import image_batch_to_frames

log = logging.getLogger(__name__)

CATEGORY = "AnimeInterp/train"
RUNS_FOLDER = "animeinterp_finetune"
FINETUNED_FOLDER = "finetuned"
TRAIN_CHOICES = {
    "all": ("flow_net", "features", "synthesis"),
    "freeze flow net": ("features", "synthesis"),
    "synthesis only": ("synthesis",),
}
FIT_SIZE = (960, 540)
"""Frames larger than this are scaled down to fit it (aspect kept; 16:9 HD becomes the thesis's 960x540)."""
FLOW_CHOICES = {
    "sgm (vgg)": ("cache", "vgg"),
    "sgm (colour, weight-free)": ("cache", "colour"),
    "none": ("none", "vgg"),
}


def _presets() -> list[str]:
    from ..core.train.config import PRESETS

    return sorted(PRESETS, key=lambda p: p != "thesis")


def _safe_name(name: str) -> str:
    text = (name or "").strip()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", text):
        raise InputError(
            f"name {name!r}: use letters, digits, '.', '_' or '-' (it names the run folder "
            "and the weight file)"
        )
    return text.removesuffix(".safetensors")


def _output_root() -> Path:
    fp = comfy_env._optional("folder_paths")
    if fp is not None and hasattr(fp, "get_output_directory"):
        return Path(fp.get_output_directory()) / RUNS_FOLDER
    if fp is not None:
        return Path(fp.models_dir).parent / "output" / RUNS_FOLDER
    return Path.cwd() / RUNS_FOLDER


def _weights_folder() -> Path:
    folders = comfy_env.model_folders()
    base = Path(folders[0]) if folders else _output_root()
    return base / FINETUNED_FOLDER


class StyleFinetune:
    """MODEL + style frames -> fine-tuned MODEL + path of its safetensors file."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "model": (
                    MODEL_TYPE,
                    {"tooltip": "The model to start from (Load Model (AnimeInterp)); it is copied."},
                ),
                "data": (
                    "STRING",
                    {
                        "default": "style_frames",
                        "tooltip": (
                            "Style frames: a folder of triplet folders (frame1/2/3), an image sequence, "
                            "a video or a folder of them; relative to ComfyUI's input folder. Ignored when "
                            "'images' is connected."
                        ),
                    },
                ),
                "steps": (
                    "INT",
                    {"default": 500, "min": 1, "max": 1_000_000, "tooltip": "Optimizer steps in total."},
                ),
                "lr": (
                    "FLOAT",
                    {
                        "default": 3e-6,
                        "min": 1e-8,
                        "max": 1e-2,
                        "step": 1e-7,
                        "round": False,
                        "tooltip": "Adam learning rate (thesis: 3e-6).",
                    },
                ),
                "loss_preset": (
                    _presets(),
                    {
                        "default": "thesis",
                        "tooltip": (
                            "thesis: L1+VGG for the first half, then the style loss (1, 0.25, 40); "
                            "style: style loss only; l1: L1 only; afi-compat: the AFI code's style loss."
                        ),
                    },
                ),
                "name": (
                    "STRING",
                    {
                        "default": "my_style",
                        "tooltip": (
                            "Names the run (output/animeinterp_finetune/<name>) and the weights "
                            "(models/animeinterp/finetuned/<name>.safetensors). The same name continues "
                            "the run."
                        ),
                    },
                ),
            },
            "optional": {
                "images": (
                    "IMAGE",
                    {
                        "tooltip": "Style frames as an IMAGE sequence (cut into triplets of distinct "
                        "drawings); used instead of 'data'."
                    },
                ),
                "crop": (
                    "INT",
                    {
                        "default": 380,
                        "min": 0,
                        "max": 4096,
                        "tooltip": "Random crop side (0 = whole frames).",
                    },
                ),
                "batch_size": ("INT", {"default": 2, "min": 1, "max": 64}),
                "train": (
                    list(TRAIN_CHOICES),
                    {"default": "all", "tooltip": "Which parts of the model learn."},
                ),
                "init_flows": (
                    list(FLOW_CHOICES),
                    {
                        "default": "sgm (vgg)",
                        "tooltip": (
                            "Coarse SGM flows given to the flow network (computed once, cached); "
                            "'none' trains without."
                        ),
                    },
                ),
                "vgg_weights": ("STRING", {"default": "vgg19", "tooltip": "VGG for the loss and SGM: vgg19 or vgg16 (thesis loss only)."}),
                "checkpoint_every": ("INT", {"default": 100, "min": 1, "max": 1_000_000}),
                "low_memory": ("BOOLEAN", {"default": True, "tooltip": (
                    "Recompute the networks' activations in the backward pass instead of keeping them "
                    "(activation checkpointing): a much lower memory peak, about a third slower, same "
                    "result.")}),
                "seed": ("INT", {"default": 0, "min": 0, "max": 2**31 - 1}),
            },
        }

    RETURN_TYPES = (MODEL_TYPE, "STRING")
    RETURN_NAMES = ("model", "weights_path")
    FUNCTION = "finetune"
    CATEGORY = CATEGORY
    DESCRIPTION = (
        "Teach the interpolator a show's style from its own frames (style loss = L1 + VGG + Gram). "
        "Cancel saves a checkpoint; queue again with the same name to continue."
    )

    def finetune(
        self,
        model,
        data,
        steps,
        lr,
        loss_preset,
        name,
        images=None,
        crop=380,
        batch_size=2,
        train="all",
        init_flows="sgm (vgg)",
        vgg_weights="vgg19",
        checkpoint_every=100,
        seed=0,
        low_memory=True,
    ):
        from ..core.model import LearnedInterpolator
        from ..core.train import FinetuneConfig, run_finetune
        from ..core.train.style_set import write_frame_triplets

        base = getattr(model, "model", model)
        if not isinstance(base, LearnedInterpolator):
            raise InputError(
                f"model: expected an {MODEL_TYPE} from Load Model (AnimeInterp), got {type(model).__name__}"
            )
        if train not in TRAIN_CHOICES:
            raise InputError(f"train: choose one of {list(TRAIN_CHOICES)}")
        if init_flows not in FLOW_CHOICES:
            raise InputError(f"init_flows: choose one of {list(FLOW_CHOICES)}")
        run_name = _safe_name(name)
        run_dir = _output_root() / run_name
        if images is not None:
            source = run_dir / "style_frames"
            write_frame_triplets(image_batch_to_frames(images), source)
        else:
            source = resolve_clip_path(data, "data")
        flows, features = FLOW_CHOICES[init_flows]
        device = comfy_env.torch_device()
        config = FinetuneConfig(
            data=os.fspath(source),
            out=os.fspath(run_dir),
            vgg=vgg_weights,
            steps=int(steps),
            preset=loss_preset,
            lr=float(lr),
            batch_size=int(batch_size),
            resize=FIT_SIZE,
            resize_fit=True,
            crop=int(crop) or None,
            train_modules=TRAIN_CHOICES[train],
            flows=flows,
            sgm_features=features,
            checkpoint_every=int(checkpoint_every),
            activation_checkpointing=bool(low_memory),
            seed=int(seed),
            device=str(device),
            num_workers=0,
            export_name=f"{run_name}.safetensors",
        )
        bar = ProgressBar(int(steps))

        def progress(event) -> None:
            bar.update_absolute(event.done, event.total)

        try:
            with memory_guard("style fine-tuning"):
                result = run_finetune(
                    config,
                    resume="auto",
                    model=base,
                    vgg=self._vgg(vgg_weights, config, device),
                    progress=progress,
                    should_stop=comfy_env.interrupted,
                )
        finally:
            memory.trim()  # the run's activations and batches: freed, now handed back to the system
        path = self._publish(result.export_path, run_name)
        trained = result.model
        trained.autocast_dtype = getattr(base, "autocast_dtype", None)
        if result.interrupted:
            log.warning(
                "StyleFinetune: cancelled at step %d of %d; checkpoint %s (queue again to continue)",
                result.steps_done,
                result.total_steps,
                result.checkpoint_path,
            )
        return (trained, os.fspath(path))

    @staticmethod
    def _vgg(name: str, config, device):
        """The cached VGG-19 when the loss or SGM needs it (else None: nothing to load)."""
        from .model_cache import load_vgg

        stages = config.resolved_stages()
        needs = any(s.weights.needs_vgg for s in stages) or (
            config.flows != "none" and config.sgm_features == "vgg"
        )
        instead = "choose loss_preset 'l1' and init_flows 'sgm (colour, weight-free)' or 'none' (no VGG-19)"
        return load_vgg(name, device, instead=instead) if needs else None

    @staticmethod
    def _publish(export: Path, run_name: str) -> Path:
        """Copy the exported weights into models/animeinterp/finetuned (atomically)."""
        dst = _weights_folder() / f"{run_name}.safetensors"
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(f".{dst.name}.tmp")
        shutil.copyfile(export, tmp)
        os.replace(tmp, dst)
        return dst


NODES = {"AnimeInterpStyleFinetune": (StyleFinetune, "Style Finetune (AnimeInterp)")}
