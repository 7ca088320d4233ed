"""Checkpoint conversion: every original container converts and loads strictly; bad keys are listed."""
from __future__ import annotations

import argparse
import collections
import json

import pytest
import torch
from comfyui_animeinterp.core.cli.convert import add_convert_parser
from comfyui_animeinterp.core.errors import InputError, WeightsError
from comfyui_animeinterp.core.model import WEIGHTS_FORMAT, build_model, load_model, read_metadata
from comfyui_animeinterp.core.weights.convert import (
    combine,
    convert_file,
    convert_state_dict,
    detect_variant,
    file_sha256,
)
from safetensors.torch import load_file

from tests.support.weight_rule import checksum, read_key_table

DROPPED_PREFIXES = ("flownet.cnet.", "flownet.attention2.", "flownet.att.pos_emb.")


def _random_original(fixtures_dir, keys_file, seed=0):
    """Original-layout state dict with random values, aliases sharing storage like the real files."""
    g = torch.Generator().manual_seed(seed)
    rows = read_key_table(fixtures_dir / keys_file)
    out = {}
    for r in rows:
        shape = () if r[1] == "scalar" else tuple(int(s) for s in r[1].split("x"))
        if r[5].startswith("alias_of="):
            out[r[0]] = out[r[5][len("alias_of="):]]
        elif r[2] == "int64":
            out[r[0]] = torch.zeros(shape, dtype=torch.int64)
        else:
            out[r[0]] = torch.randn(shape, generator=g)
    return out


def _gma_from_afi(afi):
    """A RAFTGMA state dict (zacjiang/GMA): AFI's flow net one level up, no attention2."""
    return {k[len("flownet."):]: v for k, v in afi.items()
            if k.startswith("flownet.") and not k.startswith("flownet.attention2.")}


def _module(state):
    return {"module." + k: v for k, v in state.items()}


@pytest.fixture(scope="module")
def afi_original(fixtures_dir):
    return _random_original(fixtures_dir, "keys_afi.txt", seed=1)


@pytest.fixture(scope="module")
def animeinterp_original(fixtures_dir):
    return _random_original(fixtures_dir, "keys_animeinterp.txt", seed=2)


def _assert_same_values(original, converted):
    """Every kept original tensor appears exactly once in ours (a bijection of values)."""
    kept = [v for k, v in original.items() if not k.startswith(DROPPED_PREFIXES)
            and v.is_floating_point()]
    assert sorted(checksum(v) for v in kept) == sorted(checksum(v) for v in converted.values())


@pytest.mark.parametrize("variant,keys_file,expected_count", [
    ("afi", "keys_afi.txt", 215), ("animeinterp", "keys_animeinterp.txt", 212)])
def test_round_trip_loads_strictly(fixtures_dir, variant, keys_file, expected_count):
    original = _random_original(fixtures_dir, keys_file)
    for layout in (original, _module(original)):
        ours, detected = convert_state_dict(layout)
        assert detected == variant
        assert len(ours) == expected_count
        model = build_model(variant)
        result = model.load_state_dict(ours, strict=True)
        assert not result.missing_keys and not result.unexpected_keys
        _assert_same_values(original, ours)


def test_mapping_examples(afi_original):
    ours, _ = convert_state_dict(afi_original)
    pairs = {
        "flownet.fnet.conv1.weight": "flow_net.encoder.stem.weight",
        "flownet.fnet.layer2.0.downsample.0.bias": "flow_net.encoder.layer2.0.shortcut_conv.bias",
        "flownet.update_block.encoder.convc1.weight": "flow_net.update.motion.corr_conv1.weight",
        "flownet.update_block.gru.convq2.weight": "flow_net.update.gru.vertical.candidate.weight",
        "flownet.update_block.gru.convz1.bias": "flow_net.update.gru.horizontal.update.bias",
        "flownet.update_block.mask.2.weight": "flow_net.update.mask_head.conv2.weight",
        "flownet.update_block.aggregator.gamma": "flow_net.update.aggregator.gamma",
        "flownet.att.to_qk.weight": "flow_net.attention.to_query_key.weight",
        "feat_ext.prelu3.weight": "features.level2.act1.weight",
        "feat_ext.conv6.bias": "features.level3.conv2.bias",
        "synnet.residual_model_head.0.weight": "synthesis.head_frames.act1.weight",
        "synnet.residual_model_head3.1.weight": "synthesis.head_level3.conv1.weight",
        "synnet.residual_model_24.3.bias": "synthesis.lateral24.conv2.bias",
        "synnet.downsample_model_21.2.weight": "synthesis.down21.act2.weight",
        "synnet.upsample_model_15.2.weight": "synthesis.up15.conv1.weight",
        "synnet.upsample_model_04.4.bias": "synthesis.up04.conv2.bias",
    }
    for original_key, our_key in pairs.items():
        assert torch.equal(ours[our_key], afi_original[original_key]), original_key


@pytest.mark.parametrize("container,zipfile", [("state_dict", True), ("model_state_dict", False)])
def test_afi_files_with_optimizer_and_counter_scheduler(tmp_path, afi_original, container, zipfile):
    src = tmp_path / "199.pth"
    payload = {container: _module(afi_original),
               "optimizer": {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.zeros(3)}},
                             "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.999), "params": [0]}]},
               "scheduler": {"milestones": collections.Counter({45: 1, 90: 1}), "gamma": 0.1,
                             "base_lrs": [1e-4], "last_epoch": 199, "_last_lr": [1e-6]}}
    torch.save(payload, src, _use_new_zipfile_serialization=zipfile)  # AFI re-saved some in legacy format
    dst = tmp_path / "out" / "afi.safetensors"
    meta = convert_file(src, dst)
    assert meta["variant"] == "afi" and meta["format"] == WEIGHTS_FORMAT
    assert meta["source_container"] == container
    assert meta["source_sha256"] == file_sha256(src)
    assert "flownet.cnet.* (117)" in meta["dropped_keys"] and "attention2" in meta["dropped_keys"]
    assert read_metadata(dst) == meta
    assert sorted(p.name for p in dst.parent.iterdir()) == ["afi.safetensors"]  # no temp file left
    model = load_model(dst)
    assert model.variant == "afi" and not model.training
    with pytest.raises(InputError, match="CUDA"):
        load_model(dst, dtype=torch.float16)  # fp16 is autocast on CUDA only
    gamma = afi_original["flownet.update_block.aggregator.gamma"]
    assert torch.equal(model.flow_net.update.aggregator.gamma, gamma)


def test_gma_file_converts_flownet_only_and_combines(tmp_path, afi_original, animeinterp_original):
    gma = _gma_from_afi(afi_original)
    ours, variant = convert_state_dict(_module(gma))
    assert variant == "gma" and ours and all(k.startswith("flow_net.") for k in ours)

    merged, variant = combine(_module(animeinterp_original), _module(gma))
    assert variant == "afi"
    model = build_model("afi")
    model.load_state_dict(merged, strict=True)
    # flow net from GMA, pyramid and GridNet from AnimeInterp (AFI's combine-weights.py)
    assert torch.equal(merged["flow_net.encoder.stem.weight"], gma["fnet.conv1.weight"])
    assert torch.equal(merged["features.level1.conv1.weight"], animeinterp_original["feat_ext.conv1.weight"])
    assert torch.equal(merged["synthesis.tail.conv2.bias"],
                       animeinterp_original["synnet.residual_model_tail.3.bias"])

    src = tmp_path / "gma-sintel.pth"
    torch.save(_module(gma), src)
    dst = tmp_path / "gma.safetensors"
    assert convert_file(src, dst)["variant"] == "gma"
    with pytest.raises(WeightsError, match="combine"):
        load_model(dst)


def test_cli_converts_and_combines(tmp_path, capsys, animeinterp_original, afi_original):
    parser = argparse.ArgumentParser(prog="animeinterp")
    add_convert_parser(parser.add_subparsers(dest="command", required=True))
    ai, gma = tmp_path / "anime_interp_full.ckpt", tmp_path / "gma-sintel.pth"
    torch.save({"model_state_dict": _module(animeinterp_original)}, ai)
    torch.save(_module(_gma_from_afi(afi_original)), gma)

    args = parser.parse_args(["convert", str(ai), str(tmp_path / "ai.safetensors")])
    assert args.func(args) == 0
    assert json.loads(capsys.readouterr().out)["variant"] == "animeinterp"
    assert load_model(tmp_path / "ai.safetensors").variant == "animeinterp"

    args = parser.parse_args(["convert", str(ai), str(tmp_path / "afi.safetensors"), "--gma", str(gma)])
    assert args.func(args) == 0
    assert load_model(tmp_path / "afi.safetensors").variant == "afi"

    args = parser.parse_args(["convert", str(tmp_path / "missing.pth"), str(tmp_path / "x.safetensors")])
    assert args.func(args) == 1
    assert "not found" in capsys.readouterr().err


def test_bad_keys_are_all_listed(animeinterp_original):
    bad = dict(animeinterp_original)
    bad["flownet.update_block.gru.convz1.weight"] = torch.zeros(128, 512, 1, 5)  # AFI shape in AnimeInterp
    bad["synnet.residual_model_99.1.weight"] = torch.zeros(3)                   # unknown
    bad["flownet.mystery"] = torch.zeros(1)                                    # unknown
    del bad["feat_ext.conv4.bias"]                                              # missing
    del bad["flownet.fnet.layer3.1.conv2.weight"]                               # missing
    with pytest.raises(WeightsError) as info:
        convert_state_dict(bad, "animeinterp")
    message = str(info.value)
    for fragment in ("update_block.gru.convz1.weight: (128, 512, 1, 5)",
                     "synnet.residual_model_99.1.weight", "flownet.mystery", "features.level2.conv2.bias",
                     "flow_net.encoder.layer3.1.conv2.weight", "2 unknown", "2 missing", "1 mis-shaped"):
        assert fragment in message, fragment


def test_wrong_variant_and_unknown_layouts_fail(afi_original, animeinterp_original):
    with pytest.raises(WeightsError, match="3 unknown: .*att.to_qk.weight.*6 mis-shaped"):
        convert_state_dict(afi_original, "animeinterp")
    with pytest.raises(WeightsError, match="3 missing.*flow_net.attention.to_query_key.weight"):
        convert_state_dict(animeinterp_original, "afi")
    with pytest.raises(WeightsError, match="unrecognised"):
        detect_variant({"encoder.weight": torch.zeros(1)})
    with pytest.raises(WeightsError, match="state dict"):
        convert_state_dict({"epoch": 3})
    with pytest.raises(WeightsError, match="variant"):
        convert_state_dict(afi_original, "raft")


def test_unsafe_pickles_and_foreign_files_are_refused(tmp_path):
    src = tmp_path / "evil.pth"
    torch.save({"state_dict": {"a": torch.zeros(1)}, "obj": argparse.Namespace(x=1)}, src)
    with pytest.raises(WeightsError, match="weights-only"):
        convert_file(src, tmp_path / "out.safetensors")
    assert not (tmp_path / "out.safetensors").exists()

    from safetensors.torch import save_file
    foreign = tmp_path / "foreign.safetensors"
    save_file({"x": torch.zeros(1)}, foreign, metadata={"format": "pt"})
    with pytest.raises(WeightsError, match="format"):
        load_model(foreign)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a safetensors file")
    with pytest.raises(WeightsError):
        load_model(garbage)


def test_load_model_lists_mismatched_keys(tmp_path, animeinterp_original):
    ours, _ = convert_state_dict(animeinterp_original)
    del ours["synthesis.tail.conv2.bias"]
    ours["synthesis.extra.weight"] = torch.zeros(1)
    ours["features.level1.conv1.weight"] = torch.zeros(1, 1, 1, 1)
    from safetensors.torch import save_file
    path = tmp_path / "broken.safetensors"
    save_file(ours, path, metadata={"format": WEIGHTS_FORMAT, "variant": "animeinterp"})
    with pytest.raises(WeightsError) as info:
        load_model(path)
    for fragment in ("1 missing", "synthesis.tail.conv2.bias", "1 unexpected", "synthesis.extra.weight",
                     "1 mis-shaped", "features.level1.conv1.weight"):
        assert fragment in str(info.value)
    assert set(load_file(path)) == set(ours)
