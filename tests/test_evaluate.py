"""Evaluation: baselines, method registry, the CLI end to end (CSV, JSON, table, contact sheet,
resume, corrupt input), reports and contact-sheet bookkeeping."""
from __future__ import annotations

import csv
import json
import logging

import numpy as np
import pytest
import torch
from comfyui_animeinterp.core.cli.evaluate import main as evaluate_main
from comfyui_animeinterp.core.data.synthetic import make_triplet
from comfyui_animeinterp.core.errors import InputError
from comfyui_animeinterp.core.evaluate import error_map, get_method, register_method
from comfyui_animeinterp.core.evaluate import methods as methods_module
from comfyui_animeinterp.core.evaluate.contact_sheet import WorstTracker
from comfyui_animeinterp.core.evaluate.methods import blend, dis_flows, dis_warp
from comfyui_animeinterp.core.evaluate.report import format_table, summarise_method
from comfyui_animeinterp.core.io.images import to_tensor
from comfyui_animeinterp.core.io.video import read_image, write_image
from comfyui_animeinterp.core.metrics import end_point_error, psnr

from .test_metrics import fake_lpips_heads, fake_torchvision_alexnet

H, W = 64, 96


# ------------------------------------------------------------------------------------------ baselines
def test_blend_is_the_rounded_cross_fade():
    a = np.zeros((8, 8, 3), np.uint8)
    b = np.full((8, 8, 3), 255, np.uint8)
    assert (blend(a, b, 0.5) == 128).all()
    assert np.array_equal(blend(a, b, 0.0), a) and np.array_equal(blend(a, b, 1.0), b)
    with pytest.raises(InputError):
        blend(a, b[:4], 0.5)


def test_dis_baseline_follows_a_translation():
    tri = make_triplet(120, 200, seed=11, max_rotation=0, max_scale_change=0, with_ground=False)
    f13, _ = dis_flows(tri.frame1, tri.frame3)
    moving = np.abs(tri.flow_13).sum(0) > 0
    assert end_point_error(f13, tri.flow_13, moving) < 1.5
    assert end_point_error(f13, tri.flow_13, moving) < end_point_error(np.zeros_like(f13), tri.flow_13, moving) / 2
    gt = to_tensor(tri.frame2)
    assert psnr(to_tensor(dis_warp(tri.frame1, tri.frame3, 0.5)), gt) > psnr(to_tensor(blend(tri.frame1, tri.frame3)), gt) + 3


def test_registry_and_pipeline_hook(monkeypatch):
    with pytest.raises(InputError, match="unknown method 'nope'"):
        get_method("nope")

    real_import = methods_module.importlib.import_module

    def no_pipeline(name, *a, **k):
        if name.endswith(".pipeline"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *a, **k)

    monkeypatch.setattr(methods_module.importlib, "import_module", no_pipeline)
    monkeypatch.delitem(methods_module._REGISTRY, "full", raising=False)
    with pytest.raises(InputError, match="pipeline"):
        get_method("full")
    monkeypatch.setitem(methods_module._REGISTRY, "full", None)  # restored after the test
    register_method("full", lambda **opts: (lambda a, b, t: a), "test stand-in", replace=True)
    frame = np.zeros((8, 8, 3), np.uint8)
    assert get_method("full", device="cpu")(frame, frame, 0.5) is frame
    with pytest.raises(InputError, match="already registered"):
        register_method("blend", lambda **_: blend, "again")


# ------------------------------------------------------------------------------------------ CLI
@pytest.fixture(scope="module")
def lpips_weights(tmp_path_factory):
    d = tmp_path_factory.mktemp("lpips_w")
    torch.save(fake_torchvision_alexnet(), d / "alexnet.pth")
    torch.save(fake_lpips_heads(), d / "alex.pth")
    return str(d / "alexnet.pth"), str(d / "alex.pth")


@pytest.fixture
def atd_set(tmp_path):
    root = tmp_path / "atd"
    frames, ann = root / "test_2k_540p", root / "test_2k_annotations"
    for seed, level in enumerate((0, 1, 2, 0)):
        name = f"triplet_{seed}"
        t = make_triplet(H, W, seed=20 + seed)
        for i, f in enumerate((t.frame1, t.frame2, t.frame3), start=1):
            write_image(frames / name / f"frame{i}.png", f)
        (ann / name).mkdir(parents=True)
        (ann / name / f"{name}.json").write_text(json.dumps(
            {"image_size": [W * 2, H * 2], "level": level, "motion_RoI": {"x": 20, "y": 16, "width": 120, "height": 96}}))
    (frames / "triplet_3" / "frame2.png").write_bytes(b"\x89PNG corrupt")
    return root


def _cli(data, out, lpips_weights, *extra):
    return evaluate_main(["--data", str(data), "--out", str(out), "--method", "blend", "--size", "native", "--quiet",
                          "--alexnet-weights", lpips_weights[0], "--lpips-weights", lpips_weights[1], *extra])


def _rows(out):
    with open(out / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_cli_end_to_end_and_resume(atd_set, tmp_path, lpips_weights, capsys, caplog, monkeypatch):
    out = tmp_path / "report"
    with caplog.at_level(logging.WARNING):
        assert _cli(atd_set, out, lpips_weights) == 0
    printed = capsys.readouterr().out
    for word in ("Whole", "Roi", "Easy", "Medium", "Hard", "blend", "dis", "LPIPS", "triplet_3"):
        assert word in printed
    assert "triplet_3" in caplog.text  # the corrupt frame was reported when it was skipped

    rows = _rows(out)
    assert sorted((r["name"], r["method"]) for r in rows) == [
        (f"triplet_{i}", m) for i in range(3) for m in ("blend", "dis")]
    for r in rows:
        assert float(r["psnr"]) > 10 and 0 < float(r["ssim"]) <= 1 and float(r["lpips"]) > 0
        assert r["roi_psnr"] and r["roi_ssim"] and r["roi_lpips"] and r["level"] in ("easy", "medium", "hard")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["lpips"]["available"] and summary["triplets"] == 4
    assert summary["results"]["blend"]["whole"]["count"] == 3
    assert summary["results"]["dis"]["easy"]["count"] == 1 and summary["results"]["dis"]["hard"]["count"] == 1
    assert [s["name"] for s in summary["skipped"]] == ["triplet_3"]
    assert "data range 2" in summary["conventions"]["ssim"] and "x100" in summary["conventions"]["lpips"]
    whole = summary["results"]["dis"]["whole"]
    assert whole["psnr"] == pytest.approx(np.mean([float(r["psnr"]) for r in rows if r["method"] == "dis"]))
    assert (out / "summary.md").read_text().count("|") > 20
    sheet = read_image(out / "worst_dis.png")
    assert sheet.shape[1] >= 5 * 240 and sheet.shape[0] > 3 * 100

    # rerun: nothing is scored again
    calls = []
    real_blend = methods_module._REGISTRY["blend"]
    monkeypatch.setitem(methods_module._REGISTRY, "blend", real_blend.__class__(
        "blend", "counting", lambda **_: (lambda a, b, t: calls.append(1) or blend(a, b, t)), None, True))
    assert _cli(atd_set, out, lpips_weights) == 0
    assert calls == [] and len(_rows(out)) == 6
    # a lost row is scored again, and only that one
    kept = [r for r in rows if not (r["name"] == "triplet_1" and r["method"] == "blend")]
    with open(out / "metrics.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(kept)
    assert _cli(atd_set, out, lpips_weights) == 0
    assert len(calls) == 1 and len(_rows(out)) == 6


def test_cli_refuses_to_mix_sizes_and_reports_missing_lpips(atd_set, tmp_path, lpips_weights, capsys, monkeypatch):
    out = tmp_path / "r"
    assert _cli(atd_set, out, lpips_weights, "--limit", "1") == 0
    assert evaluate_main(["--data", str(atd_set), "--out", str(out), "--method", "blend", "--quiet",
                          "--size", "192x128", "--no-lpips"]) == 2
    assert "holds results for size" in capsys.readouterr().err
    monkeypatch.setenv("ANIMEINTERP_CACHE", str(tmp_path / "empty_cache"))
    out2 = tmp_path / "r2"
    assert evaluate_main(["--data", str(atd_set), "--out", str(out2), "--method", "blend", "--quiet",
                          "--size", "native", "--limit", "2"]) == 0
    assert "LPIPS not computed" in capsys.readouterr().out
    summary = json.loads((out2 / "summary.json").read_text())
    assert not summary["lpips"]["available"] and summary["results"]["blend"]["whole"]["lpips"] is None
    assert summary["worst_by"] == "psnr" and all(r["lpips"] == "" for r in _rows(out2))


def test_cli_on_synthetic_set_scores_flows(tmp_path, capsys):
    out = tmp_path / "syn"
    assert evaluate_main(["--data", "synthetic:2:96x64", "--out", str(out), "--method", "dis", "--no-baselines",
                          "--no-lpips", "--quiet", "--size", "native", "--worst", "1", "--gaussian-ssim"]) == 0
    assert "Flow EPE" in capsys.readouterr().out
    rows = _rows(out)
    assert len(rows) == 2 and all(0 < float(r["epe"]) < 10 for r in rows)
    assert all(0 < float(r["ssim_gauss"]) < float(r["ssim"]) for r in rows)
    assert len(list((out / ".worst_cache" / "dis").glob("*.png"))) == 1


def test_cli_errors_are_clear(tmp_path, capsys):
    assert evaluate_main(["--data", str(tmp_path / "nothing"), "--out", str(tmp_path / "o"), "--method", "blend"]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert evaluate_main(["--data", "synthetic:1:64x48", "--out", str(tmp_path / "o2"), "--method", "magic"]) == 2
    assert "unknown method 'magic'" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ pieces
def test_score_of_a_small_roi(lpips_weights):
    from comfyui_animeinterp.core.data.triplets import Triplet
    from comfyui_animeinterp.core.evaluate.scoring import score
    from comfyui_animeinterp.core.metrics.lpips import load_lpips

    t = make_triplet(H, W, seed=30)
    tri = Triplet("x", t.frame1, t.frame2, t.frame3, roi=(4, 4, 8, 20))
    pred = blend(t.frame1, t.frame3)
    s = score(pred, tri, load_lpips(*lpips_weights))
    assert {"psnr", "ssim", "ie", "lpips", "roi_psnr", "roi_ssim"} <= set(s) and "roi_lpips" not in s
    assert s["roi_psnr"] == pytest.approx(psnr(to_tensor(pred[4:24, 4:12]), to_tensor(t.frame2[4:24, 4:12])).item())


def test_table_and_summary_numbers():
    rows = [{"name": "a", "method": "m", "level": "easy", "psnr": "30.0", "ssim": "0.9", "lpips": "0.05",
             "roi_psnr": "20.0", "roi_ssim": "0.8", "roi_lpips": "", "ie": "3", "epe": "", "seconds": "1"},
            {"name": "b", "method": "m", "level": "hard", "psnr": "20.0", "ssim": "0.7", "lpips": "0.15",
             "roi_psnr": "", "roi_ssim": "", "roi_lpips": "", "ie": "5", "epe": "", "seconds": "3"}]
    s = summarise_method(rows)
    assert s["whole"] == {"lpips": pytest.approx(0.1), "psnr": 25.0, "ssim": pytest.approx(0.8),
                          "ssim_gauss": None, "ie": 4.0, "count": 2}
    assert s["roi"]["count"] == 1 and s["roi"]["lpips"] is None and s["medium"]["count"] == 0
    table = format_table({"m": s})
    assert "10.00" in table and "25.00" in table and "0.8000" in table  # LPIPS shown x100
    assert "Medium" not in table and "Easy" in table and "Hard" in table


def test_error_map_colours():
    a = np.zeros((4, 4, 3), np.uint8)
    black = error_map(a, a)
    assert black.shape == (4, 4, 3) and (black == black[0, 0]).all() and black[0, 0].sum() < 20
    far = error_map(a, np.full_like(a, 255), saturation=64)
    assert far[0, 0].sum() > 500  # light yellow end of the colour map
    assert np.array_equal(error_map(a, np.full_like(a, 64)), far)  # saturated at 64 levels
    with pytest.raises(InputError):
        error_map(a, a[:2])


def test_worst_tracker_keeps_k_strips(tmp_path):
    tracker = WorstTracker(tmp_path, k=2)

    def strip():
        return np.zeros((8, 8, 3), np.uint8)

    for name, badness in (("a", 1.0), ("b", 5.0), ("c", 3.0), ("d", 0.5)):
        tracker.offer("m", name, badness, strip)
    assert tracker.worst("m") == [(5.0, "b"), (3.0, "c")]
    assert sorted(p.stem for p in (tmp_path / "m").glob("*.png")) == ["b", "c"]
    tracker.seed("m", "e", 9.0)
    assert not (tmp_path / "m" / "c.png").exists() and tracker.cached_strip("m", "e") is None
