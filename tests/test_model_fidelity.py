"""Our model reproduces the ORIGINAL AFI / AnimeInterp outputs (tests/fixtures/README.md).

Rule weights (original layout) -> our converter -> our model -> stored outputs of the original
code, at 128x160 (clean size) and 140x156 (not a multiple of 8: resize path, odd pyramid levels).
"""
from __future__ import annotations

import pytest
import torch
from comfyui_animeinterp.core.model import build_model
from comfyui_animeinterp.core.weights.convert import convert_state_dict
from safetensors.torch import load_file

from tests.support.weight_rule import checksum, read_key_table, rule_state_dict

FLOW_ATOL = 1e-4   # px
FRAME_ATOL = 1e-5
INIT_ATOL = 1e-6

VARIANTS = {
    "afi": ("keys_afi.txt", "afi_rfr_gma_seed0.safetensors"),
    "animeinterp": ("keys_animeinterp.txt", "animeinterp_rfr_gsalign_seed0.safetensors"),
}
CASES = [  # (size, case, t, with SGM init)
    ("128x160", "sgm_t0.5", 0.5, True),
    ("128x160", "noinit_t0.5", 0.5, False),
    ("140x156", "sgm_t0.5", 0.5, True),
]


@pytest.fixture(scope="module", autouse=True)
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # the fixtures were made with 2 threads
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def inputs(fixtures_dir):
    return load_file(fixtures_dir / "inputs_synth.safetensors")


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def variant_setup(request, fixtures_dir):
    variant = request.param
    keys_file, outputs_file = VARIANTS[variant]
    original = rule_state_dict(fixtures_dir / keys_file, seed=0)
    ours, detected = convert_state_dict({"module." + k: v for k, v in original.items()})
    assert detected == variant
    model = build_model(variant)
    model.load_state_dict(ours, strict=True)
    return variant, model.eval(), load_file(fixtures_dir / outputs_file)


def _frames(inputs, size, with_init):
    i1, i2 = inputs[f"{size}.I1"], inputs[f"{size}.I2"]
    if not with_init:
        return i1, i2, None, None
    return i1, i2, inputs[f"{size}.F12i"], inputs[f"{size}.F21i"]


def _close(actual, expected, atol, what):
    assert actual.shape == expected.shape, what
    err = (actual - expected).abs().max().item()
    assert err <= atol, f"{what}: max |diff| {err:.3g} > {atol:g}"


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_rule_weights_match_the_key_table_checksums(fixtures_dir, variant):
    rows = read_key_table(fixtures_dir / VARIANTS[variant][0])
    state = rule_state_dict(fixtures_dir / VARIANTS[variant][0], seed=0)
    wanted = ("gamma", "gru.convq2", "synnet.residual_model_tail", "feat_ext.prelu")
    picked = [r for r in rows if any(w in r[0] for w in wanted)]
    assert len(picked) >= 8
    for row in picked:
        assert checksum(state[row[0]]) == row[6], row[0]


@pytest.mark.parametrize("size,case,t,with_init", CASES, ids=[f"{s}-{c}" for s, c, _, _ in CASES])
def test_forward_matches_original(variant_setup, inputs, size, case, t, with_init):
    variant, model, ref = variant_setup
    with torch.no_grad():
        it, f12, f21, f12in, f21in = model(*_frames(inputs, size, with_init), t)
    assert torch.isfinite(it).all() and torch.isfinite(f12).all() and torch.isfinite(f21).all()
    _close(f12, ref[f"{size}.{case}.F12"], FLOW_ATOL, f"{variant} {size} {case} F12")
    _close(f21, ref[f"{size}.{case}.F21"], FLOW_ATOL, f"{variant} {size} {case} F21")
    _close(it, ref[f"{size}.{case}.It"], FRAME_ATOL, f"{variant} {size} {case} It")
    if with_init:
        _close(f12in, ref[f"{size}.{case}.F12in"], INIT_ATOL, f"{variant} {size} {case} F12in")
        _close(f21in, ref[f"{size}.{case}.F21in"], INIT_ATOL, f"{variant} {size} {case} F21in")
    else:
        assert f12in is None and f21in is None


def test_one_estimate_serves_every_t(variant_setup, inputs):
    """Flows and features are computed once; t = 0.5 and t = 0.25 both match the original."""
    variant, model, ref = variant_setup
    calls = []
    hook = model.flow_net.encoder.register_forward_hook(lambda *a: calls.append(1))
    try:
        state = model.estimate(*_frames(inputs, "128x160", True))
        assert len(calls) == 2  # each frame encoded once
        it_half = model.synthesize(state, 0.5)
        it_quarter = model.synthesize(state, 0.25)
        assert len(calls) == 2  # synthesis never re-runs the flow net
    finally:
        hook.remove()
    _close(state.flow12, ref["128x160.sgm_t0.5.F12"], FLOW_ATOL, f"{variant} estimate F12")
    _close(state.flow21, ref["128x160.sgm_t0.5.F21"], FLOW_ATOL, f"{variant} estimate F21")
    _close(it_half, ref["128x160.sgm_t0.5.It"], FRAME_ATOL, f"{variant} synthesize t=0.5")
    _close(it_quarter, ref["128x160.sgm_t0.25.It"], FRAME_ATOL, f"{variant} synthesize t=0.25")
    assert (it_half - it_quarter).abs().max() > 1e-3  # t really changes the frame


MEMORY_MODES = [("on-demand", "full"), ("all-pairs", "efficient"), ("on-demand", "efficient")]


@pytest.mark.parametrize("correlation,attention", MEMORY_MODES, ids=[f"{c}-{a}" for c, a in MEMORY_MODES])
@pytest.mark.parametrize("size,case,t,with_init", CASES, ids=[f"{s}-{c}" for s, c, _, _ in CASES])
def test_forward_matches_original_with_memory_modes_forced(variant_setup, inputs, size, case, t, with_init,
                                                           correlation, attention):
    """On-demand correlation and memory-efficient attention reproduce the original too."""
    variant, model, ref = variant_setup
    model.set_memory_options(correlation, attention)
    try:
        plan = model.memory.plan(1, 16, 16, torch.device("cpu"), variant == "afi")
        assert plan.on_demand == (correlation == "on-demand")
        assert plan.efficient == (attention == "efficient" and variant == "afi")
        with torch.no_grad():
            it, f12, f21, _, _ = model(*_frames(inputs, size, with_init), t)
    finally:
        model.set_memory_options("auto", "auto")
    _close(f12, ref[f"{size}.{case}.F12"], FLOW_ATOL, f"{variant} {size} {case} {correlation}/{attention} F12")
    _close(f21, ref[f"{size}.{case}.F21"], FLOW_ATOL, f"{variant} {size} {case} {correlation}/{attention} F21")
    _close(it, ref[f"{size}.{case}.It"], FRAME_ATOL, f"{variant} {size} {case} {correlation}/{attention} It")
