"""bench/bench_original.py: skipped cleanly without the original code; its pure helpers.

Nothing here needs the original code, the network or a timing.
"""
from __future__ import annotations

import json

import pytest
import torch

from tests.support.bench_scripts import load_bench


@pytest.fixture(scope="module")
def bench():
    return load_bench("bench_original")


@pytest.fixture
def no_original(monkeypatch):
    monkeypatch.delenv("ANIMEINTERP_ORIGINAL_AFI", raising=False)
    monkeypatch.delenv("ANIMEINTERP_ORIGINAL_SITE", raising=False)


def test_without_the_original_the_bench_says_skipped_and_measures_nothing(bench, no_original, tmp_path, capsys):
    out = tmp_path / "side_by_side.json"
    assert bench.main(["--out", str(out)]) == 0
    assert "skipped: original code not given" in capsys.readouterr().err
    assert not out.exists()  # no figures without the original
    result = bench.run(bench.build_parser().parse_args([]))
    assert result["skipped"].startswith("skipped: original code not given")
    assert result["table"] == [{"status": result["skipped"]}]


def test_make_bench_reports_the_skip(no_original, tmp_path, capsys):
    run_all = load_bench("run_all")
    assert run_all.main(["--only", "original", "--out", str(tmp_path)]) == 0
    assert "original: skipped: original code not given" in capsys.readouterr().err
    report = json.loads(next(tmp_path.glob("*.json")).read_text())
    (run,) = report["results"]["original"]
    assert run["result"]["skipped"].startswith("skipped: original code not given")
    assert "skipped: original code not given" in next(tmp_path.glob("*.md")).read_text()


def test_the_checkout_comes_from_the_flag_then_the_environment(bench, tmp_path):
    env = {"ANIMEINTERP_ORIGINAL_AFI": str(tmp_path / "env")}
    assert bench.resolve_original(str(tmp_path / "flag"), env) == tmp_path / "flag"
    assert bench.resolve_original(None, env) == tmp_path / "env"
    assert bench.resolve_original(None, {}) is None
    assert bench.resolve_original(None, {"ANIMEINTERP_ORIGINAL_AFI": ""}) is None


def test_a_folder_that_is_not_the_original_is_a_clear_error(bench, tmp_path):
    with pytest.raises(ValueError, match="not a Soooda/AFI checkout: missing models/AnimeInterp.py"):
        bench.check_original(tmp_path)
    for name in ("models/AnimeInterp.py", "models/SGM/gen_sgm.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    bench.check_original(tmp_path)


def test_a_wrong_checkout_is_reported_not_a_traceback(bench, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ANIMEINTERP_ORIGINAL_AFI", str(tmp_path))
    assert bench.main(["--out", str(tmp_path / "x.json")]) == 2
    assert f"{tmp_path} is not a Soooda/AFI checkout" in capsys.readouterr().err
    run_all = load_bench("run_all")
    assert run_all.main(["--only", "original", "--out", str(tmp_path)]) == 1  # reported as failed, run goes on
    assert "not a Soooda/AFI checkout" in next(tmp_path.glob("*.md")).read_text()


def test_ratio_is_original_over_ours(bench):
    assert bench.ratio(181.2, 30.8) == 5.88
    assert bench.ratio(1400.0, 1650.0) == 0.85  # below 1: ours needs more
    assert bench.ratio(None, 3.0) is None and bench.ratio(3.0, None) is None and bench.ratio(3.0, 0.0) is None


def test_rows_put_each_of_our_figures_beside_the_original(bench):
    measured = {
        "model": {"original": {"single_s": 60.0, "x4_s": 180.0, "single_cpu_s": 110.0, "x4_cpu_s": 330.0,
                               "peak_rss_mb": 3900.0},
                  "ours": {"single_s": 20.0, "x4_s": 30.0, "single_cpu_s": 40.0, "x4_cpu_s": 55.0,
                           "peak_rss_mb": 1500.0},
                  "agreement": None},
        "sgm": {"original": {"seconds": 120.0, "cpu_s": 118.0, "peak_rss_mb": 1400.0},
                "ours": {"seconds": 4.0, "cpu_s": 5.9, "error": ["x"], "peak_rss_mb": 1600.0}},
    }
    single, x4, sgm = bench.side_by_side_rows(measured)
    assert single["what"].startswith("model, one") and single["ratio_s"] == 3.0 and single["ratio_cpu_s"] == 2.75
    assert x4["ours_s"] == 30.0 and x4["original_s"] == 180.0 and x4["ratio_s"] == 6.0
    assert x4["ratio_peak_rss_mb"] == 2.6
    assert sgm["ratio_s"] == 30.0 and sgm["ratio_cpu_s"] == 20.0 and sgm["ratio_peak_rss_mb"] == 0.88
    assert bench.side_by_side_rows({"sgm": measured["sgm"]}) == [sgm]
    text = bench.format_table([single, sgm]).splitlines()
    assert len(text) == 3 and text[0].split()[:3] == ["what", "ours_s", "original_s"]


def test_a_bf16_run_of_ours_gets_its_own_rows_and_bad_precisions_are_refused_first(bench, tmp_path, monkeypatch):
    original = {"single_s": 60.0, "x4_s": 180.0, "single_cpu_s": 110.0, "x4_cpu_s": 330.0, "peak_rss_mb": 3900.0}
    ours = {"single_s": 20.0, "x4_s": 30.0, "single_cpu_s": 40.0, "x4_cpu_s": 55.0, "peak_rss_mb": 1500.0}
    ours_bf16 = {**ours, "x4_s": 18.0}
    rows = bench.side_by_side_rows({"model": {"original": original, "ours": ours, "agreement": None,
                                              "ours_bf16": ours_bf16, "agreement_bf16": None}})
    assert [r["what"] for r in rows] == ["model, one in-between", "model, x4 (3 in-betweens)",
                                         "model, one in-between, ours bf16 autocast",
                                         "model, x4 (3 in-betweens), ours bf16 autocast"]
    assert rows[1]["ratio_s"] == 6.0 and rows[3]["ratio_s"] == 10.0
    assert bench._dtypes("fp32,bf16") == ["fp32", "bf16"]
    monkeypatch.setattr(bench, "check_original", lambda path: None)
    spawned = []
    monkeypatch.setattr(bench, "_spawn", lambda *a: spawned.append(a) or {})
    with pytest.raises(ValueError, match="ours-dtypes"):
        bench.run(bench.build_parser().parse_args(["--afi", str(tmp_path), "--ours-dtypes", "fp16"]))
    assert spawned == []  # refused before the original ran


def test_scatter_shim_means_and_sums_per_label(bench):
    shim = bench._scatter_shim()
    labels = torch.tensor([2, 0, 2, 2, 0])
    feats = torch.arange(10, dtype=torch.float64).view(2, 5)
    mean = shim.scatter_mean(feats, labels, dim=1)
    expected = torch.stack([feats[:, labels == k].mean(1) if (labels == k).any() else torch.zeros(2)
                            for k in range(3)], dim=1)
    torch.testing.assert_close(mean, expected)  # label 1 is empty: 0, not NaN
    torch.testing.assert_close(shim.scatter_add(torch.ones(5), labels), torch.tensor([2.0, 0.0, 3.0]))
    torch.testing.assert_close(shim.scatter_mean(torch.tensor([1.0, 3.0, 5.0]), torch.tensor([1, 1, 0])),
                               torch.tensor([5.0, 2.0]))


def test_machine_and_load_are_recorded(bench):
    common = load_bench("common")
    info = common.machine_info()
    assert info["cores"] >= 1 and info["cpu"] and info["torch"] == torch.__version__
    snap = common.load_snapshot()
    assert "load_average" in snap and "cpu_pressure_some_pct" in snap
    assert common.wait_until_quiet(None) == 0.0
    assert common.wait_until_quiet(100.1, max_wait_s=5.0) < 1.0  # pressure is never above 100 %


def test_profile_gives_each_operator_to_its_innermost_range():
    profile = load_bench("profile_model")
    rf = torch.profiler.record_function
    x = torch.ones(64, 64)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        with rf(profile.PREFIX + "outer"):
            torch.mm(x, x)
            with rf(profile.PREFIX + "inner"):
                torch.bmm(x[None], x[None])
        torch.add(x, x)
    stages, ops = profile.attribute(prof.events())
    assert ("outer", "aten::mm") in ops and ("inner", "aten::bmm") in ops and ("other", "aten::add") in ops
    assert ("outer", "aten::bmm") not in ops
    assert set(stages) == {"outer", "inner", "other"}
    assert sum(stages.values()) == pytest.approx(sum(ops.values()))


def test_arithmetic_counts_the_estimate_once_and_three_syntheses():
    profile = load_bench("profile_model")
    bench_model = load_bench("bench_model")
    model, inputs = bench_model._model("afi"), bench_model._inputs(128, 160)
    counted = profile.arithmetic(model, inputs, gemm_side=256)
    assert 0 < counted["estimate_gflop"] < counted["x4_gflop"]
    assert counted["x4_gflop"] == pytest.approx(sum(counted["x4_gflop_by_op"].values()), abs=0.2)
    synthesis = counted["x4_gflop"] - counted["estimate_gflop"]
    assert synthesis > 0.5 * counted["estimate_gflop"]  # GridNet runs three times, the flow net once
    assert counted["x4_at_gemm_rate_s"] == pytest.approx(counted["x4_gflop"] / counted["gemm_rate_gflops"], rel=0.02)
    by_stage = counted["x4_gflop_by_stage"]
    assert sum(by_stage.values()) == pytest.approx(counted["x4_gflop"], abs=0.1)
    assert by_stage["flow.update.gru"] > 0 and by_stage["flow.update.gma_aggregation"] > 0
    flow_net = sum(gflop for stage, gflop in by_stage.items() if stage.startswith("flow."))
    assert by_stage["synthesize"] > 0.5 * flow_net  # GridNet three times, the flow net once


def test_stage_flops_go_to_the_innermost_range_like_the_profilers_time():
    from torch.utils.flop_counter import FlopCounterMode

    profile = load_bench("profile_model")
    x = torch.ones(64, 64)
    counter = FlopCounterMode(display=False)
    stages = profile.StageFlops(counter)
    with counter:
        with stages.scope("outer"):
            torch.mm(x, x)
            with stages.scope("inner"):
                torch.bmm(x[None], x[None])
                torch.bmm(x[None], x[None])
        with stages.scope("outer"):  # a range entered again adds up
            torch.mm(x, x)
        torch.mm(x, x)
    product = 2 * 64**3 / 1e9
    assert stages.gflop() == {"outer": round(2 * product, 2), "inner": round(2 * product, 2),
                              "other": round(product, 2)}


def test_product_rates_divide_a_stages_flops_by_its_product_operators_time():
    profile = load_bench("profile_model")
    ops = {("gru", "aten::mkldnn_convolution"): 2.0, ("gru", "aten::cat"): 1.0, ("splat", "aten::index_add_"): 0.5}
    rates = profile.product_rates({"gru": 600.0, "splat": 0.0, "lookup": 3.0}, ops)
    assert rates == {"gru": {"gflop": 600.0, "product_s": 2.0, "product_gflops_per_s": 300.0},
                     "lookup": {"gflop": 3.0, "product_s": 0.0, "product_gflops_per_s": None}}


def test_the_side_by_side_records_the_machines_gemm_rate_at_its_thread_count():
    original = load_bench("bench_original")
    threads = torch.get_num_threads()
    rate = original._gemm_rate(1)
    assert rate > 0 and torch.get_num_threads() == threads  # measured at 1 thread, then restored


def _side(x4_s: float, rss: float = 1000.0, **extra) -> dict:
    return {"single_s": x4_s / 3, "x4_s": x4_s, "single_cpu_s": x4_s / 2, "x4_cpu_s": 2 * x4_s,
            "peak_rss_mb": rss, **extra}


def test_rounds_give_each_sides_medians_beside_every_rounds_own_ratio(bench):
    one = {"original": _side(150.0), "ours": _side(15.0), "agreement": {"frame": 1e-5}}
    assert bench.combine_rounds([one]) is one  # one round: as it is
    rounds = [{"original": _side(o, rss=3900.0 + i), "ours": _side(u, rss=1200.0 - i),
               "agreement": None if i == 1 else {"frame": [1e-5, None, 3e-5][i], "flow": 2e-5}}
              for i, (o, u) in enumerate([(150.0, 15.0), (130.0, 18.0), (140.0, 14.0)])]
    combined = bench.combine_rounds(rounds)
    assert combined["original"]["x4_s"] == 140.0 and combined["ours"]["x4_s"] == 15.0  # medians
    assert combined["original"]["x4_cpu_s"] == 280.0 and combined["ours"]["single_s"] == 5.0
    assert combined["original"]["peak_rss_mb"] == 3902.0 and combined["ours"]["peak_rss_mb"] == 1200.0  # largest
    assert combined["agreement"] == {"frame": 3e-5, "flow": 2e-5}  # the worst of the rounds that saved it
    assert [r["x4_ratio_s"] for r in combined["rounds"]] == [10.0, 7.22, 10.0]  # each round's own
    assert combined["rounds"][0]["x4_ratio_cpu_s"] == 10.0
    (x4,) = [row for row in bench.side_by_side_rows({"model": combined}) if "x4" in row["what"]]
    assert x4["ratio_s"] == 9.33  # the table: the medians' ratio


def test_a_failed_round_fails_the_side_and_bad_rounds_are_refused_first(bench, tmp_path, monkeypatch):
    rounds = [{"original": _side(150.0), "ours": _side(15.0), "agreement": None},
              {"original": _side(140.0), "ours": {"peak_rss_mb": 900.0, "error": ["MemoryError"]}, "agreement": None}]
    combined = bench.combine_rounds(rounds)
    assert combined["ours"] == {"error": ["MemoryError"], "peak_rss_mb": 1000.0}
    assert "x4_ratio_s" in combined["rounds"][0] and "x4_ratio_s" not in combined["rounds"][1]
    monkeypatch.setattr(bench, "check_original", lambda path: None)
    spawned = []
    monkeypatch.setattr(bench, "_spawn", lambda *a: spawned.append(a) or {})
    with pytest.raises(ValueError, match="--rounds must be at least 1"):
        bench.run(bench.build_parser().parse_args(["--afi", str(tmp_path), "--rounds", "0"]))
    assert spawned == []


def test_rounds_alternate_the_original_and_ours(bench, tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "check_original", lambda path: None)
    monkeypatch.setattr(bench, "_gemm_rate", lambda threads: 300.0)
    spawned = []

    def spawn(child, args, save):
        spawned.append((child, args.dtype))
        return _side(150.0 if child.startswith("original") else 15.0)

    monkeypatch.setattr(bench, "_spawn", spawn)
    out = tmp_path / "r.json"
    result = bench.run(bench.build_parser().parse_args(
        ["--afi", str(tmp_path), "--parts", "model", "--rounds", "2", "--ours-dtypes", "fp32,bf16", "--out", str(out)]))
    assert spawned == [("original-model", "fp32"), ("ours-model", "fp32"), ("ours-model", "bf16")] * 2
    model = result["measured"]["model"]
    assert len(model["rounds"]) == 2 and model["rounds"][1]["x4_ratio_bf16_s"] == 10.0
    assert json.loads(out.read_text())["measured"]["model"]["ours_bf16"]["x4_s"] == 15.0
