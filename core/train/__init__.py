"""Style-loss fine-tuning (the thesis's central idea) as a library.

Public API::

    from comfyui_animeinterp.core.train import FinetuneConfig, run_finetune
    result = run_finetune(FinetuneConfig(data="my_show/", out="runs/my_show", steps=2000))
    result.export_path          # safetensors the model loader accepts

One module per concept: ``losses`` (L1 + VGG + Gram, thesis and AFI definitions), ``config``
(settings, presets, stages), ``style_set`` (the studio's frames as triplets), ``augment`` (crop,
flips, reversal with flows), ``flow_cache`` (compact SGM flows on disk), ``sampling`` (sample order,
sharding), ``samples`` (torch datasets), ``checkpoint`` (atomic, exact resume), ``distributed``
(torchrun + DDP), ``interrupt`` (Ctrl-C / cancel), ``validate``, ``history`` (CSV + plot),
``export`` (safetensors with metadata), ``trainer`` (the loop).
"""

from .config import MODULE_NAMES, PRESETS, FinetuneConfig, Stage, parse_stage
from .losses import GRAM_NORMALISATIONS, LAYER_WEIGHTS, STYLE_LAYERS, LossTerms, LossWeights, StyleLoss
from .trainer import FinetuneResult, ProgressEvent, TrainingError, run_finetune

__all__ = [
    "GRAM_NORMALISATIONS",
    "LAYER_WEIGHTS",
    "MODULE_NAMES",
    "PRESETS",
    "STYLE_LAYERS",
    "FinetuneConfig",
    "FinetuneResult",
    "LossTerms",
    "LossWeights",
    "ProgressEvent",
    "Stage",
    "StyleLoss",
    "TrainingError",
    "parse_stage",
    "run_finetune",
]
