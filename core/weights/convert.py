"""Convert the original AnimeInterp / AFI / GMA checkpoints into our safetensors layout.

Supported sources (ARCHITECTURE.md §4):

==============  =================================================  ==========================
variant         files                                              container
==============  =================================================  ==========================
``afi``         AFI ``animeinterp+gma.pth``, ``QVI960/199.pth``,   ``{state_dict, optimizer,
                ``ATD12K/49.pth``, ``Style/49.pth``,               scheduler}`` or
                ``ATD12K-Style/49.pth``                            ``{model_state_dict, ...}``
``animeinterp`` ``anime_interp_full.ckpt`` (lisiyao21)              ``{model_state_dict, ...}``
``gma``         zacjiang/GMA ``gma-*.pth`` (RAFTGMA)               bare state dict
==============  =================================================  ==========================

Keys may carry DataParallel's ``module.`` prefix. Keys that never influence the output are
accepted and dropped (listed in the file's metadata): the unused context encoder ``cnet.*``
(including its aliased BatchNorm entries), the discarded confidence network ``attention2.*`` and
GMA's unused position embedding ``att.pos_emb.*``. Any other unknown key, and every missing or
mis-shaped key, is listed in a :class:`WeightsError`.

A ``gma`` file holds flow-net weights only; :func:`combine` merges it with an ``animeinterp``
checkpoint the way AFI built ``animeinterp+gma.pth`` (flow net from GMA, feature pyramid and
GridNet from AnimeInterp), giving an ``afi`` model.

Files are read with ``torch.load(weights_only=True)`` only; the ``collections.Counter`` inside
``QVI960/199.pth``'s LR-scheduler state is allow-listed for that.
"""
from __future__ import annotations

import collections
import contextlib
import hashlib
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path

import torch

from ..errors import WeightsError
from ..model.build import FLOWNET_ONLY_VARIANT, WEIGHTS_FORMAT, build_model

CONVERTER_VERSION = "1"
VARIANT_NAMES = ("afi", "animeinterp", FLOWNET_ONLY_VARIANT)

_DROPPED = re.compile(r"^(?:flownet\.)?(?:cnet\.|attention2\.|att\.pos_emb\.)")
"""Original keys known not to influence the output (accepted, then dropped)."""

_GRU_PASS = {"1": "horizontal", "2": "vertical"}
_GRU_GATE = {"z": "update", "r": "reset", "q": "candidate"}
_MOTION = {"convc1": "corr_conv1", "convc2": "corr_conv2", "convf1": "flow_conv1",
           "convf2": "flow_conv2", "conv": "fuse"}
_GRID_HEADS = {"head": "head_frames", "head1": "head_level1", "head2": "head_level2",
               "head3": "head_level3", "tail": "tail"}
_BLOCK_INDEX = {"0": "act1", "1": "conv1", "2": "act2", "3": "conv2"}      # PReLU-conv-PReLU-conv
_UP_BLOCK_INDEX = {"1": "act1", "2": "conv1", "3": "act2", "4": "conv2"}   # upsample first

Rule = tuple[re.Pattern, Callable[[re.Match], str]]


def _rule(pattern: str, build: Callable[[re.Match], str]) -> Rule:
    return re.compile(pattern + r"\.(weight|bias|gamma)$"), build


# Original flow-net key (without the "flownet." prefix) -> our key under "flow_net.".
_FLOWNET_RULES: list[Rule] = [
    _rule(r"fnet\.conv1", lambda m: "encoder.stem"),
    _rule(r"fnet\.layer(\d)\.(\d)\.conv([12])", lambda m: f"encoder.layer{m[1]}.{m[2]}.conv{m[3]}"),
    _rule(r"fnet\.layer(\d)\.(\d)\.downsample\.0", lambda m: f"encoder.layer{m[1]}.{m[2]}.shortcut_conv"),
    _rule(r"fnet\.conv2", lambda m: "encoder.proj"),
    _rule(r"update_block\.encoder\.(convc1|convc2|convf1|convf2|conv)",
          lambda m: f"update.motion.{_MOTION[m[1]]}"),
    _rule(r"update_block\.gru\.conv([zrq])([12])",
          lambda m: f"update.gru.{_GRU_PASS[m[2]]}.{_GRU_GATE[m[1]]}"),
    _rule(r"update_block\.flow_head\.conv([12])", lambda m: f"update.flow_head.conv{m[1]}"),
    _rule(r"update_block\.mask\.([02])", lambda m: f"update.mask_head.conv{1 if m[1] == '0' else 2}"),
    _rule(r"update_block\.aggregator\.to_v", lambda m: "update.aggregator.to_value"),
    _rule(r"update_block\.aggregator", lambda m: "update.aggregator"),  # .gamma
    _rule(r"att\.to_qk", lambda m: "attention.to_query_key"),
]

_FEATURE_RULES: list[Rule] = [
    _rule(r"(conv|prelu)([1-6])", lambda m: "level{}.{}{}".format(
        (int(m[2]) + 1) // 2, "conv" if m[1] == "conv" else "act", 2 - int(m[2]) % 2)),
]

_GRIDNET_RULES: list[Rule] = [
    _rule(r"residual_model_(head|head1|head2|head3|tail)\.([0-3])",
          lambda m: f"{_GRID_HEADS[m[1]]}.{_BLOCK_INDEX[m[2]]}"),
    _rule(r"residual_model_([012][145])\.([0-3])", lambda m: f"lateral{m[1]}.{_BLOCK_INDEX[m[2]]}"),
    _rule(r"downsample_model_([12][01])\.([0-3])", lambda m: f"down{m[1]}.{_BLOCK_INDEX[m[2]]}"),
    _rule(r"upsample_model_([01][45])\.([1-4])", lambda m: f"up{m[1]}.{_UP_BLOCK_INDEX[m[2]]}"),
]

_SECTIONS: dict[str, tuple[str, list[Rule]]] = {
    # original prefix -> (our prefix, rules)
    "flownet.": ("flow_net.", _FLOWNET_RULES),
    "feat_ext.": ("features.", _FEATURE_RULES),
    "synnet.": ("synthesis.", _GRIDNET_RULES),
}


def _our_key(original_key: str, variant: str) -> str | None:
    """Our name for one original key (``module.`` already stripped), or None if no rule matches."""
    if variant == FLOWNET_ONLY_VARIANT:
        original_key = "flownet." + original_key
    for prefix, (ours, rules) in _SECTIONS.items():
        if original_key.startswith(prefix):
            rest = original_key[len(prefix):]
            for pattern, build in rules:
                m = pattern.match(rest)
                if m:
                    return f"{ours}{build(m)}.{rest.rsplit('.', 1)[1]}"
            return None
    return None


def unwrap_container(obj: object) -> tuple[Mapping[str, object], str]:
    """Find the model state dict in a checkpoint object; returns ``(state_dict, container_name)``."""
    if isinstance(obj, Mapping):
        for name in ("state_dict", "model_state_dict"):
            inner = obj.get(name)
            if isinstance(inner, Mapping):
                return inner, name
        has_tensors = any(isinstance(v, torch.Tensor) for v in obj.values())
        if obj and has_tensors and all(isinstance(k, str) for k in obj):
            return obj, "bare"
    raise WeightsError("could not find a model state dict in the checkpoint (expected a bare state dict "
                       "or a dict with 'state_dict' or 'model_state_dict')")


def _strip_module(state: Mapping[str, object]) -> dict[str, object]:
    return {k.removeprefix("module."): v for k, v in state.items()}


def detect_variant(original: Mapping[str, object]) -> str:
    """``"afi"``, ``"animeinterp"`` or ``"gma"`` from the key set (``module.`` optional)."""
    keys = set(_strip_module(original))
    if any(k.startswith(("feat_ext.", "synnet.")) for k in keys):
        if "flownet.att.to_qk.weight" in keys or "flownet.update_block.aggregator.gamma" in keys:
            return "afi"
        return "animeinterp"
    if "att.to_qk.weight" in keys and any(k.startswith("fnet.") for k in keys):
        return FLOWNET_ONLY_VARIANT
    sample = ", ".join(sorted(keys)[:5])
    raise WeightsError(f"unrecognised checkpoint layout ({len(keys)} keys, e.g. {sample}); expected an "
                       "AnimeInterp, AFI or GMA state dict")


def _expected_shapes(variant: str) -> dict[str, tuple[int, ...]]:
    model = build_model("afi" if variant == FLOWNET_ONLY_VARIANT else variant)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    if variant == FLOWNET_ONLY_VARIANT:
        shapes = {k: s for k, s in shapes.items() if k.startswith("flow_net.")}
    return shapes


def convert_state_dict(original: Mapping[str, torch.Tensor], variant: str | None = None
                       ) -> tuple[dict[str, torch.Tensor], str]:
    """Original layout (with or without ``module.``, or a whole checkpoint container) -> our layout.

    Args:
        original: an original state dict, or a checkpoint dict holding one.
        variant: ``"afi"``, ``"animeinterp"`` or ``"gma"``; detected from the keys when None.

    Returns:
        ``(state dict in our layout with contiguous float32 tensors, variant)``.

    Raises:
        WeightsError: unrecognised layout, or unknown / missing / mis-shaped keys (all listed).
    """
    state, _ = unwrap_container(original)
    state = _strip_module(state)
    if variant is None:
        variant = detect_variant(state)
    if variant not in VARIANT_NAMES:
        raise WeightsError(f"unknown variant {variant!r}; expected one of {VARIANT_NAMES}")

    expected = _expected_shapes(variant)
    converted: dict[str, torch.Tensor] = {}
    unknown, misshaped, duplicate = [], [], []
    seen: set[str] = set()
    for key, value in state.items():
        if _DROPPED.match(key):
            continue
        ours = _our_key(key, variant)
        if ours is None or ours not in expected or not isinstance(value, torch.Tensor):
            unknown.append(key)
        elif ours in seen:
            duplicate.append(key)
        elif tuple(value.shape) != expected[ours]:
            misshaped.append(f"{key}: {tuple(value.shape)}, expected {expected[ours]}")
        else:
            converted[ours] = value.detach().to("cpu", torch.float32).contiguous().clone()
        if ours is not None:
            seen.add(ours)
    missing = sorted(set(expected) - seen)
    problems = [(f"{len(v)} {label}", v) for label, v in
                (("unknown", unknown), ("missing (our names)", missing), ("mis-shaped", misshaped),
                 ("duplicate", duplicate))
                if v]
    if problems:
        raise WeightsError(f"checkpoint does not match the '{variant}' layout: "
                           + "; ".join(f"{label}: {', '.join(keys)}" for label, keys in problems))
    return converted, variant


def dropped_keys(original: Mapping[str, object]) -> list[str]:
    """The keys of ``original`` that :func:`convert_state_dict` accepts and drops."""
    state, _ = unwrap_container(original)
    return sorted(k for k in _strip_module(state) if _DROPPED.match(k))


def summarise_dropped(keys: list[str]) -> str:
    """``"flownet.cnet.* (117), ..."``: dropped keys grouped by sub-module, for the metadata."""
    groups = collections.Counter(_DROPPED.match(k)[0] + "*" for k in keys)
    return ", ".join(f"{group} ({count})" for group, count in sorted(groups.items())) or "none"


def combine(animeinterp: Mapping[str, torch.Tensor], gma: Mapping[str, torch.Tensor]
            ) -> tuple[dict[str, torch.Tensor], str]:
    """AFI's initialisation (``animeinterp+gma.pth``): GMA flow net + AnimeInterp pyramid and GridNet.

    Args:
        animeinterp: ``anime_interp_full.ckpt`` content (original layout, or ours from
            :func:`convert_state_dict`).
        gma: a zacjiang/GMA state dict (original layout, or ours).

    Returns:
        ``(state dict of an "afi" model in our layout, "afi")``. AnimeInterp's own flow-net
        weights are discarded, as in AFI's ``combine-weights.py``.
    """
    base = _ours_or_convert(animeinterp, "animeinterp")
    flow = _ours_or_convert(gma, FLOWNET_ONLY_VARIANT)
    merged = {k: v for k, v in base.items() if not k.startswith("flow_net.")}
    merged.update(flow)
    expected = _expected_shapes("afi")
    missing = sorted(set(expected) - set(merged))
    if missing:
        raise WeightsError(f"combined weights miss {len(missing)} keys: {', '.join(missing)}")
    return merged, "afi"


def _ours_or_convert(state: Mapping[str, torch.Tensor], variant: str) -> dict[str, torch.Tensor]:
    if any(k.startswith(("flow_net.", "features.", "synthesis.")) for k in state):
        expected = _expected_shapes(variant)
        return {k: v for k, v in state.items() if k in expected}
    converted, _ = convert_state_dict(state, variant)
    return converted


# -- files ---------------------------------------------------------------------------------------

def load_original(path: str | os.PathLike) -> object:
    """``torch.load(weights_only=True)`` of an original checkpoint (Counter allow-listed)."""
    if not os.path.isfile(path):
        raise WeightsError(f"checkpoint not found: {path}")
    safe_globals = getattr(torch.serialization, "safe_globals", None)  # torch >= 2.5
    allow = safe_globals([collections.Counter]) if safe_globals else contextlib.nullcontext()
    try:
        with allow:
            return torch.load(os.fspath(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - every unreadable file becomes one WeightsError
        raise WeightsError(f"{path}: refused: cannot be read as a weights-only torch checkpoint "
                           f"({_unpickling_reason(exc)}). Only plain tensors and containers are accepted; "
                           "nothing in the file was run. Use the checkpoint as published, or re-save its "
                           "state dict (or safetensors) where you trust the file.") from None


_TORCH_ADVICE = re.compile(r"weights.only|re-running|check the documentation|file an issue|safe_globals",
                           re.IGNORECASE)


def _unpickling_reason(exc: Exception) -> str:
    """torch's refusal without its advice to retry with ``weights_only=False`` (wrong advice for a
    file refused as unsafe): the unsupported global, or the remaining lines of the message."""
    text = str(exc)
    found = re.search(r"GLOBAL ([\w.]+)", text)
    if found:
        return f"it names {found.group(1)}, which is not a tensor type"
    lines = [line.strip().removeprefix("WeightsUnpickler error:").strip() for line in text.splitlines()]
    kept = [line for line in lines if line and not _TORCH_ADVICE.search(line)]
    return "; ".join(kept) or type(exc).__name__


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_converted(state: Mapping[str, torch.Tensor], dst: str | os.PathLike, metadata: Mapping[str, str]
                   ) -> None:
    """Write a safetensors file atomically (temporary file in the same folder + ``os.replace``)."""
    from safetensors.torch import save_file

    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    try:
        save_file(dict(state), os.fspath(tmp), metadata=dict(metadata))
        os.replace(tmp, dst)
    finally:
        if tmp.exists():
            tmp.unlink()


def convert_file(src: str | os.PathLike, dst: str | os.PathLike, variant: str | None = None
                 ) -> dict[str, str]:
    """Read an original checkpoint and write our safetensors file atomically.

    Returns:
        The metadata written: ``format``, ``variant``, ``source_file``, ``source_sha256``,
        ``source_container``, ``dropped_keys`` (groups with counts), ``tensors``, ``converter_version``.
    """
    obj = load_original(src)
    state, container = unwrap_container(obj)
    converted, variant = convert_state_dict(state, variant)
    metadata = {
        "format": WEIGHTS_FORMAT,
        "variant": variant,
        "source_file": Path(src).name,
        "source_sha256": file_sha256(src),
        "source_container": container,
        "dropped_keys": summarise_dropped(dropped_keys(state)),
        "tensors": str(len(converted)),
        "converter_version": CONVERTER_VERSION,
    }
    save_converted(converted, dst, metadata)
    return metadata


def combine_files(animeinterp_src: str | os.PathLike, gma_src: str | os.PathLike,
                  dst: str | os.PathLike) -> dict[str, str]:
    """:func:`combine` on two original files; writes an ``afi`` safetensors file, returns its metadata."""
    ai_state, _ = unwrap_container(load_original(animeinterp_src))
    gma_state, _ = unwrap_container(load_original(gma_src))
    merged, variant = combine(ai_state, gma_state)
    metadata = {
        "format": WEIGHTS_FORMAT,
        "variant": variant,
        "source_file": f"{Path(animeinterp_src).name}+{Path(gma_src).name}",
        "source_sha256": f"{file_sha256(animeinterp_src)}+{file_sha256(gma_src)}",
        "source_container": "combined",
        "dropped_keys": summarise_dropped(dropped_keys(ai_state) + dropped_keys(gma_state)),
        "note": "flow_net from the GMA file, features and synthesis from the AnimeInterp file",
        "tensors": str(len(merged)),
        "converter_version": CONVERTER_VERSION,
    }
    save_converted(merged, dst, metadata)
    return metadata
