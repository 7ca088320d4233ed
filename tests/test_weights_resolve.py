"""resolve_weight against a loopback Hub / URL server, with weights the tests create."""

from __future__ import annotations

import io
import json
import os
import time
import warnings
from pathlib import Path

import pytest
import torch
from comfyui_animeinterp.core.errors import WeightsError
from comfyui_animeinterp.core.weights import UnverifiedWeightWarning, resolve_weight
from comfyui_animeinterp.core.weights import cache as cache_mod
from comfyui_animeinterp.core.weights import resolve as resolve_mod
from comfyui_animeinterp.core.weights.hashing import git_blob_sha1
from safetensors.torch import load_file

from tests.support.fake_hub import FakeHub, point_clients_at
from tests.support.weight_files import (
    REV,
    all_files,
    fake_convert_file,
    hf_source,
    pickle_bytes,
    safetensors_bytes,
    sha256,
    tiny_state,
    url_source,
    write_manifest,
)


@pytest.fixture
def hub(monkeypatch, tmp_path):
    with FakeHub() as server:
        point_clients_at(server, monkeypatch, tmp_path)
        yield server


@pytest.fixture
def cache(tmp_path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def fake_converter(monkeypatch):
    calls = []

    def convert(src, dst, variant):
        calls.append(variant)
        fake_convert_file(src, dst, variant)

    monkeypatch.setattr(resolve_mod, "_load_converter", lambda: convert)
    return calls


# ----------------------------------------------------------------------------- Hub sources
def test_hub_download_is_verified_cached_and_recorded(hub, tmp_path, cache):
    content = safetensors_bytes()
    hub.add_hub_file("org/tiny", REV, "model.safetensors", content)
    manifest = write_manifest(tmp_path, {"tiny": [hf_source(content)]})

    path = resolve_weight("tiny", cache_dir=cache, manifest=manifest, progress=False)

    assert path == cache / "tiny.safetensors"
    assert path.read_bytes() == content
    record = json.loads((cache / "tiny.safetensors.record.json").read_text())
    assert record["sha256"] == sha256(content)
    assert "sha256" in record["verified_by"] and "hub_reported_sha256" in record["verified_by"]
    assert all_files(cache) == ["tiny.safetensors", "tiny.safetensors.record.json"]  # no staging left
    assert ("GET", f"/org/tiny/resolve/{REV}/model.safetensors") in hub.requests

    hub.requests.clear()
    assert resolve_weight("tiny", cache_dir=cache, manifest=manifest, progress=False) == path
    assert hub.requests == []  # served from the cache


def test_hub_sha_mismatch_discards_the_download(hub, tmp_path, cache):
    served, expected = safetensors_bytes(1), safetensors_bytes(2)
    hub.add_hub_file("org/tiny", REV, "model.safetensors", served)
    manifest = write_manifest(tmp_path, {"tiny": [hf_source(expected)]})

    with pytest.raises(WeightsError) as err:
        resolve_weight("tiny", cache_dir=cache, manifest=manifest, progress=False)

    msg = str(err.value)
    assert f"expected {sha256(expected)}" in msg and f"got {sha256(served)}" in msg
    assert all_files(cache) == []


def test_hub_truncated_file_is_rejected(hub, tmp_path, cache):
    content = safetensors_bytes()
    stored = content[: len(content) // 2]  # storage holds half the file, metadata announces all of it
    hub.add_hub_file(
        "org/tiny",
        REV,
        "model.safetensors",
        stored,
        advertised_size=len(content),
        advertised_sha256=sha256(content),
    )
    manifest = write_manifest(tmp_path, {"tiny": [hf_source(content)]})

    with pytest.raises(WeightsError, match="download failed"):
        resolve_weight("tiny", cache_dir=cache, manifest=manifest, progress=False)
    assert all_files(cache) == []


def test_hub_reported_sha_is_checked_when_manifest_has_none(hub, tmp_path, cache):
    content = safetensors_bytes()
    hub.add_hub_file("org/tiny", REV, "model.safetensors", content, advertised_sha256="ab" * 32)
    manifest = write_manifest(tmp_path, {"tiny": [hf_source(None, note="sha unknown")]})

    with pytest.raises(WeightsError, match="reported by the Hub: expected abab"):
        resolve_weight("tiny", cache_dir=cache, manifest=manifest, progress=False)
    assert all_files(cache) == []


def test_unknown_hash_warns_records_and_later_detects_tampering(hub, tmp_path, cache):
    content = safetensors_bytes()
    hub.add_hub_file("org/tiny", REV, "model.safetensors", content)
    manifest = write_manifest(tmp_path, {"tiny": [hf_source(None, note="sha unknown")]})

    with pytest.warns(UnverifiedWeightWarning, match="no full hash is published"):
        path = resolve_weight("tiny", cache_dir=cache, manifest=manifest, progress=False)
    assert json.loads((cache / "tiny.safetensors.record.json").read_text())["sha256"] == sha256(content)

    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="modified after it was verified") as err:
        resolve_weight("tiny", cache_dir=cache, manifest=manifest, progress=False)
    assert sha256(content) in str(err.value) and sha256(bytes(data)) in str(err.value)


# ----------------------------------------------------------------------------- URL sources
def test_url_pickle_is_verified_by_git_blob_and_converted(hub, tmp_path, cache, fake_converter):
    content = pickle_bytes()
    url = hub.add_plain_file("gma/gma-sintel.pth", content)
    manifest = write_manifest(tmp_path, {"gma-sintel": [url_source(url, content)]})

    path = resolve_weight("gma-sintel", cache_dir=cache, manifest=manifest, progress=False)

    assert fake_converter == ["gma"]
    assert path == cache / "gma-sintel.safetensors"
    state = load_file(str(path))
    torch.testing.assert_close(state["fnet.conv1.weight"], tiny_state()["module.fnet.conv1.weight"])
    record = json.loads((cache / "gma-sintel.safetensors.record.json").read_text())
    assert record["converter"] == "gma"
    assert record["source_git_blob_sha1"] == git_blob_sha1(content)
    assert record["sha256"] == sha256(path.read_bytes())  # the record describes the converted file
    assert all_files(cache) == ["gma-sintel.safetensors", "gma-sintel.safetensors.record.json"]


def test_url_git_blob_mismatch_is_rejected_before_conversion(hub, tmp_path, cache, fake_converter):
    url = hub.add_plain_file("x.pth", pickle_bytes(1))
    manifest = write_manifest(tmp_path, {"w": [url_source(url, pickle_bytes(2))]})

    with pytest.raises(WeightsError, match="git blob sha1: expected"):
        resolve_weight("w", cache_dir=cache, manifest=manifest, progress=False)
    assert fake_converter == []
    assert all_files(cache) == []


def test_url_connection_dropped_midway_leaves_nothing(hub, tmp_path, cache, fake_converter):
    content = pickle_bytes()
    url = hub.add_plain_file("x.pth", content, truncate_to=len(content) // 3)
    manifest = write_manifest(tmp_path, {"w": [url_source(url, content)]})

    with pytest.raises(WeightsError, match="truncated download"):
        resolve_weight("w", cache_dir=cache, manifest=manifest, progress=False)
    assert all_files(cache) == []


def test_sources_are_tried_in_order(hub, tmp_path, cache, fake_converter):
    content = pickle_bytes()
    good = hub.add_plain_file("mirror/x.pth", content)
    manifest = write_manifest(
        tmp_path, {"w": [url_source(f"{hub.endpoint}/files/gone/x.pth", content), url_source(good, content)]}
    )

    path = resolve_weight("w", cache_dir=cache, manifest=manifest, progress=False)

    assert json.loads((cache / "w.safetensors.record.json").read_text())["source"] == good
    assert path.is_file()


def test_url_rewrite_sends_a_source_to_a_mirror(hub, tmp_path, cache, fake_converter, monkeypatch):
    content = pickle_bytes()
    hub.add_plain_file("gh/owner/repo/abc/x.pth", content)
    manifest = write_manifest(
        tmp_path, {"w": [url_source("https://raw.githubusercontent.com/owner/repo/abc/x.pth", content)]}
    )
    monkeypatch.setenv(
        "ANIMEINTERP_URL_REWRITE", f"https://raw.githubusercontent.com/={hub.endpoint}/files/gh/"
    )

    assert resolve_weight("w", cache_dir=cache, manifest=manifest, progress=False).is_file()
    assert ("GET", "/files/gh/owner/repo/abc/x.pth") in hub.requests


def test_our_hub_repo_is_tried_first(hub, tmp_path, cache):
    converted = safetensors_bytes(3)
    hub.add_hub_file("us/converted", REV, "w.safetensors", converted)
    manifest = write_manifest(
        tmp_path,
        {"w": [url_source(f"{hub.endpoint}/files/never.pth", None)]},
        our_hub_repo={"repo": "us/converted", "revision": REV},
    )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnverifiedWeightWarning)
        path = resolve_weight("w", cache_dir=cache, manifest=manifest, progress=False)

    assert path.read_bytes() == converted
    assert not any(p.startswith("/files/") for _, p in hub.requests)


# ----------------------------------------------------------------------------- offline and local files
def test_offline_without_cache_explains_what_where_and_how(hub, tmp_path, cache):
    content = pickle_bytes()
    url = hub.add_plain_file("gma-sintel.pth", content)
    manifest = write_manifest(tmp_path, {"gma-sintel": [url_source(url, content)]})
    models = tmp_path / "models" / "animeinterp"

    with pytest.raises(WeightsError) as err:
        resolve_weight("gma-sintel", search_dirs=[models], cache_dir=cache, manifest=manifest, offline=True)

    msg = str(err.value)
    assert "gma-sintel.safetensors" in msg and "'gma-sintel.pth'" in msg  # which file (and the original)
    assert str(models) in msg and str(cache) in msg  # where it looked
    assert url in msg and git_blob_sha1(content) in msg  # how to get it
    assert "animeinterp weights download gma-sintel" in msg and "offline" in msg
    assert hub.requests == []


def test_hf_hub_offline_env_is_honoured(hub, tmp_path, cache, monkeypatch):
    content = safetensors_bytes()
    hub.add_hub_file("org/tiny", REV, "model.safetensors", content)
    manifest = write_manifest(tmp_path, {"tiny": [hf_source(content)]})
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    with pytest.raises(WeightsError, match="offline mode is on"):
        resolve_weight("tiny", cache_dir=cache, manifest=manifest)
    assert hub.requests == []

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    path = resolve_weight("tiny", cache_dir=cache, manifest=manifest, progress=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub.requests.clear()
    assert resolve_weight("tiny", cache_dir=cache, manifest=manifest) == path  # offline, cached
    assert hub.requests == []


def test_search_dirs_come_before_the_cache(tmp_path, cache):
    manifest = write_manifest(tmp_path, {"w": [url_source("https://example.invalid/w.pth", pickle_bytes())]})
    models = tmp_path / "models"
    models.mkdir()
    (models / "w.safetensors").write_bytes(safetensors_bytes(5))
    cache.mkdir()
    _cached_with_record(cache / "w.safetensors", safetensors_bytes(6))

    assert resolve_weight("w", search_dirs=[models], cache_dir=cache, manifest=manifest, offline=True) == (
        models / "w.safetensors"
    )
    assert (
        resolve_weight("w.safetensors", cache_dir=cache, manifest=manifest, offline=True)
        == cache / "w.safetensors"
    )


def _cached_with_record(path: Path, content: bytes) -> None:
    """A file in the cache as a download leaves it: content and record."""
    path.write_bytes(content)
    record = cache_mod.CacheRecord("w", sha256(content), len(content), "test", sha256(content), "", (), None)
    cache_mod.record_path(path).write_text(record.to_json())


@pytest.mark.parametrize("record", ["missing", "unreadable"])
def test_a_cached_file_without_a_readable_record_is_refused_unless_the_manifest_vouches(
        tmp_path, cache, record):
    content = safetensors_bytes(6)
    manifest = write_manifest(tmp_path, {"w": [url_source("https://example.invalid/w.pth", pickle_bytes())]})
    cache.mkdir()
    (cache / "w.safetensors").write_bytes(content)
    if record == "unreadable":
        cache_mod.record_path(cache / "w.safetensors").write_text("{not json")
    with pytest.raises(WeightsError, match=rf"cannot be verified: its record .* is {record}.*"
                                           r"animeinterp weights download w"):
        resolve_weight("w", cache_dir=cache, manifest=manifest, offline=True)
    # the same file, published as a safetensors download: its hash is known, so it is accepted
    (tmp_path / "m2").mkdir()
    vouched = write_manifest(tmp_path / "m2", {"w": [hf_source(content)]})
    assert resolve_weight("w", cache_dir=cache, manifest=vouched, offline=True) == cache / "w.safetensors"
    (cache / "w.safetensors").write_bytes(safetensors_bytes(7))  # changed after that: refused again
    with pytest.raises(WeightsError, match="cannot be verified"):
        resolve_weight("w", cache_dir=cache, manifest=vouched, offline=True)


def test_original_in_model_folder_is_checked_and_converted(tmp_path, cache, fake_converter):
    content = pickle_bytes()
    manifest = write_manifest(tmp_path, {"w": [url_source("https://example.invalid/a/49.pth", content)]})
    models = tmp_path / "models"
    models.mkdir()
    (models / "49.pth").write_bytes(pickle_bytes(seed=9))  # same name, different file: ignored

    with pytest.raises(WeightsError, match="not available"):
        resolve_weight("w", search_dirs=[models], cache_dir=cache, manifest=manifest, offline=True)
    assert fake_converter == []

    (models / "49.pth").write_bytes(content)
    path = resolve_weight("w", search_dirs=[models], cache_dir=cache, manifest=manifest, offline=True)
    assert path == cache / "w.safetensors" and fake_converter == ["gma"]
    assert "fnet.conv1.bias" in load_file(str(path))


def test_local_paths(tmp_path, cache, fake_converter):
    content = pickle_bytes()
    manifest = write_manifest(tmp_path, {"w": [url_source("https://example.invalid/w.pth", content)]})
    own = tmp_path / "mine.safetensors"
    own.write_bytes(safetensors_bytes())
    known = tmp_path / "download" / "renamed.ckpt"
    known.parent.mkdir()
    known.write_bytes(content)
    unknown = tmp_path / "other.pth"
    unknown.write_bytes(pickle_bytes(seed=4))

    assert resolve_weight(own, cache_dir=cache, manifest=manifest, offline=True) == own
    assert (
        resolve_weight(str(known), cache_dir=cache, manifest=manifest, offline=True)
        == cache / "w.safetensors"
    )
    assert resolve_weight(known, cache_dir=cache, manifest=manifest, offline=True) == cache / "w.safetensors"
    assert fake_converter == ["gma"]  # the second call reused the converted file
    with pytest.raises(WeightsError, match="matches no weight in the manifest"):
        resolve_weight(unknown, cache_dir=cache, manifest=manifest, offline=True)
    with pytest.raises(
        WeightsError, match="neither a known weight name nor an existing file.*Known names: w"
    ):
        resolve_weight("nope", cache_dir=cache, manifest=manifest, offline=True)


def test_default_cache_dir_follows_env(monkeypatch, tmp_path):
    from comfyui_animeinterp.core.weights import default_cache_dir

    monkeypatch.setenv("ANIMEINTERP_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("ANIMEINTERP_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "comfyui-animeinterp"


def test_converter_failure_is_a_weights_error_and_leaves_nothing(hub, tmp_path, cache, monkeypatch):
    content = pickle_bytes()
    url = hub.add_plain_file("x.pth", content)
    manifest = write_manifest(tmp_path, {"w": [url_source(url, content)]})

    def broken(src, dst, variant):
        Path(dst).write_bytes(b"half")
        raise KeyError("fnet.conv1.weight")

    monkeypatch.setattr(resolve_mod, "_load_converter", lambda: broken)
    with pytest.raises(WeightsError, match="'gma' converter failed"):
        resolve_weight("w", cache_dir=cache, manifest=manifest, progress=False)
    assert all_files(cache) == []


def test_staging_is_removed_even_if_interrupted(hub, tmp_path, cache, monkeypatch):
    content = pickle_bytes()
    url = hub.add_plain_file("x.pth", content)
    manifest = write_manifest(tmp_path, {"w": [url_source(url, content)]})

    def interrupted(src, dst, variant):
        raise KeyboardInterrupt

    monkeypatch.setattr(resolve_mod, "_load_converter", lambda: interrupted)
    with pytest.raises(KeyboardInterrupt):
        resolve_weight("w", cache_dir=cache, manifest=manifest, progress=False)
    assert all_files(cache) == []
    assert not os.path.exists(cache / "w.safetensors")


def test_a_download_sweeps_staging_abandoned_by_a_killed_process_but_not_a_live_one(hub, tmp_path, cache):
    """kill -9 mid-download skips the cleanup; the next download removes what was left once it has
    been idle for hours, and leaves a folder another process is still writing to."""
    abandoned = cache / ".staging-killed"
    (abandoned / "deep").mkdir(parents=True)
    (abandoned / "deep" / "half.safetensors.incomplete").write_bytes(b"x" * 100)
    old = time.time() - cache_mod.STAGING_ABANDONED_AFTER_S - 60
    for p in (abandoned / "deep" / "half.safetensors.incomplete", abandoned / "deep", abandoned):
        os.utime(p, (old, old))
    live = cache / ".staging-live"
    live.mkdir()
    (live / "part").write_bytes(b"y")
    os.utime(live, (old, old))  # the folder is old but a file in it was just written

    content = safetensors_bytes()
    hub.add_hub_file("org/tiny", REV, "model.safetensors", content)
    manifest = write_manifest(tmp_path, {"tiny": [hf_source(content)]})
    resolve_weight("tiny", cache_dir=cache, manifest=manifest, progress=False)
    assert not abandoned.exists()
    assert (live / "part").exists()


# ----------------------------------------------------------------------------- the real converters
def test_afi_checkpoint_from_a_github_style_url_loads_into_the_model(hub, tmp_path, cache, fixtures_dir):
    from comfyui_animeinterp.core.model import load_model, read_metadata

    from tests.support.weight_rule import read_key_table

    state: dict[str, torch.Tensor] = {}
    for key, shape, dtype, *_, alias in (r[:6] for r in read_key_table(fixtures_dir / "keys_afi.txt")):
        dims = () if shape == "scalar" else tuple(int(s) for s in shape.split("x"))
        if alias.startswith("alias_of="):
            state[key] = state[alias[len("alias_of=") :]]
        else:
            state[key] = torch.zeros(dims, dtype=torch.int64 if dtype == "int64" else torch.float32)
    buf = io.BytesIO()
    torch.save({"state_dict": {"module." + k: v for k, v in state.items()}, "optimizer": {}}, buf)
    content = buf.getvalue()
    url = hub.add_plain_file("Soooda/AFI/0000/checkpoints/ATD12K-Style/49.pth", content)
    manifest = write_manifest(tmp_path, {"afi-atd12k-style": [url_source(url, content, converter="afi")]})

    path = resolve_weight("afi-atd12k-style", cache_dir=cache, manifest=manifest, progress=False)

    assert read_metadata(path)["variant"] == "afi"
    load_model(path)  # strict: every key present with the right shape


def test_lpips_heads_through_the_real_converter(hub, tmp_path, cache):
    channels = (64, 192, 384, 256, 256)
    heads = {f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1) for k, c in enumerate(channels)}
    buf = io.BytesIO()
    torch.save(heads, buf)
    content = buf.getvalue()
    url = hub.add_plain_file("lpips/weights/v0.1/alex.pth", content)
    manifest = write_manifest(tmp_path, {"lpips-alex": [url_source(url, content, converter="lpips-alex")]})

    path = resolve_weight("lpips-alex", cache_dir=cache, manifest=manifest, progress=False)

    converted = load_file(str(path))
    for k in range(5):
        torch.testing.assert_close(converted[f"lin{k}.weight"], heads[f"lin{k}.model.1.weight"])


def test_torchvision_vgg19_original_in_a_model_folder_is_converted(tmp_path, cache):
    from comfyui_animeinterp.core.features.vgg19 import VGG19Features, build_vgg19

    state = {k: torch.zeros_like(v) for k, v in VGG19Features().state_dict().items()}
    state["classifier.6.bias"] = torch.zeros(1000)
    models = tmp_path / "models"
    models.mkdir()
    original = models / "vgg19-dcbb9e9d.pth"
    torch.save(state, original)
    source = {
        "type": "url",
        "url": "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
        "format": "torch-pickle",
        "converter": "vgg19",
        "sha256": sha256(original.read_bytes()),
    }
    manifest = write_manifest(tmp_path, {"vgg19": [source]})

    path = resolve_weight("vgg19", search_dirs=[models], cache_dir=cache, manifest=manifest, offline=True)

    converted = load_file(str(path))
    assert len(converted) == 32 and all(k.startswith("features.") for k in converted)
    build_vgg19(converted)
