"""The shipped weights manifest, manifest validation, and file digests."""

from __future__ import annotations

import json
import re

import pytest
from comfyui_animeinterp.core.errors import WeightsError
from comfyui_animeinterp.core.weights.hashing import digest_file, git_blob_sha1
from comfyui_animeinterp.core.weights.manifest import load_manifest

CONVERTER_VARIANTS = {"afi", "animeinterp", "gma", "vgg19", "lpips-alex", "alexnet", "flax-alexnet", "flax-lpips-alex",
                      "flax-vgg16"}
GITHUB_RAW = re.compile(r"https://raw\.githubusercontent\.com/[\w.-]+/[\w.-]+/[0-9a-f]{40}/.+")

# Git blob ids of the upstream checkpoints (ARCHITECTURE.md §8).
BLOB_IDS = {
    "afi-atd12k-style": "8e7ec9ec5f0400eb485c6c4ebc5bfb2ec27a79ee",
    "afi-atd12k": "4af02847c66907d0e4c9eb551ac6ea3f5d074f13",
    "afi-style": "59e248cdf849403336b6d3720b3b29a08c940e8e",
    "afi-qvi960": "5ff7ac4a9d72d1745939d4750c2fff97c2795b14",
    "afi-init": "3c67107339ee8fbc9e1c660c688a9e47aa28e355",
    "animeinterp-full": "7638d7032f9f97dd92b86a2fc93a37a73078c3ea",
    "gma-sintel": "4a18602892b78de4c991ddb264262d5e38bdbd66",
    "gma-things": "15e0e0a9eb2771c9ee6a3fe2093b27ead7ddd0d0",
    "gma-chairs": "baf6922de3a78470e9b92b2949d0a3c732319936",
    "gma-kitti": "dc923ce096921dfb8411777d9df6420257c7fc77",
}


def test_shipped_manifest_entries_are_complete_and_honest():
    manifest = load_manifest()
    names = {e.name for e in manifest}
    assert set(BLOB_IDS) | {"vgg19", "lpips-alex", "alexnet"} <= names
    assert manifest.our_hub_repo is None
    filenames = [e.filename for e in manifest]
    assert len(set(filenames)) == len(filenames)
    for entry in manifest:
        assert entry.purpose and entry.licence, entry.name
        assert entry.size is not None or entry.size_note, f"{entry.name}: size null without a reason"
        for source in entry.sources:
            assert source.exact or source.note, f"{entry.name}: unknown hash must be explained"
            if source.needs_conversion:
                assert source.converter in CONVERTER_VARIANTS, entry.name
            if source.type == "hf":
                assert source.revision and re.fullmatch(r"[0-9a-f]{40}", source.revision), entry.name
            elif "githubusercontent" in str(source.url):
                assert GITHUB_RAW.fullmatch(str(source.url)), source.url  # pinned to a commit
                assert source.git_blob_sha1, entry.name
    for name, blob in BLOB_IDS.items():
        assert {s.git_blob_sha1 for s in manifest.get(name).sources} == {blob}, name


def test_vgg19_comes_from_the_pinned_timm_file_first():
    source = load_manifest().get("vgg19").sources[0]
    assert (source.type, source.repo, source.filename, source.format) == (
        "hf",
        "timm/vgg19.tv_in1k",
        "model.safetensors",
        "safetensors",
    )
    assert source.revision == "128d4708565b3a414bcbb9bbad440b2fe37b9f18"
    assert not source.needs_conversion


def test_unknown_name_lists_known_ones():
    with pytest.raises(WeightsError, match="Unknown weight name 'nope'. Known names: .*vgg19"):
        load_manifest().get("nope")


def _manifest(tmp_path, source: dict, filename="w.safetensors"):
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"format": 1, "weights": {"w": {"filename": filename, "sources": [source]}}}))
    return path


GOOD_URL = {"type": "url", "url": "https://example.org/w.pth", "format": "torch-pickle", "converter": "gma"}


@pytest.mark.parametrize(
    "source, filename, message",
    [
        ({**GOOD_URL, "converter": None}, "w.safetensors", "needs a 'converter'"),
        ({**GOOD_URL, "sha256": "ABC"}, "w.safetensors", "sha256 must be 64"),
        ({**GOOD_URL, "git_blob_sha1": "0" * 39}, "w.safetensors", "git_blob_sha1 must be 40"),
        ({**GOOD_URL, "url": "ftp://x/w.pth"}, "w.safetensors", "http"),
        (GOOD_URL, "w.pth", "safetensors"),
        (
            {
                "type": "hf",
                "repo": "a/b",
                "filename": "m.safetensors",
                "format": "safetensors",
                "revision": "main",
            },
            "w.safetensors",
            "full 40-hex commit",
        ),
        ({**GOOD_URL, "type": "s3"}, "w.safetensors", "source type"),
    ],
)
def test_invalid_manifests_are_rejected(tmp_path, source, filename, message):
    with pytest.raises(WeightsError, match=message):
        load_manifest(_manifest(tmp_path, source, filename))


def test_valid_minimal_manifest_loads(tmp_path):
    entry = load_manifest(_manifest(tmp_path, GOOD_URL)).get("w")
    assert entry.sources[0].original_name == "w.pth" and entry.sources[0].needs_conversion


def test_missing_or_broken_manifest_file(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        load_manifest(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(WeightsError, match="unreadable"):
        load_manifest(tmp_path / "bad.json")


def test_digest_matches_git_hash_object(tmp_path):
    (tmp_path / "hello.txt").write_bytes(b"hello\n")
    digest = digest_file(tmp_path / "hello.txt")
    # `git hash-object` of a file holding "hello\n":
    assert digest.git_blob_sha1 == "ce013625030ba8dba906f756967f9e9ca394464a"
    assert digest.git_blob_sha1 == git_blob_sha1(b"hello\n")
    assert digest.sha256 == "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
    assert digest.size == 6


def test_identify_finds_the_source_by_full_hash(tmp_path):
    content = b"\x80\x02not really a pickle"
    path = _manifest(tmp_path, {**GOOD_URL, "git_blob_sha1": git_blob_sha1(content)})
    (tmp_path / "f.bin").write_bytes(content)
    manifest = load_manifest(path)
    entry, source = manifest.identify(digest_file(tmp_path / "f.bin"))
    assert entry.name == "w" and source.url == GOOD_URL["url"]
    (tmp_path / "g.bin").write_bytes(content + b"!")
    assert manifest.identify(digest_file(tmp_path / "g.bin")) is None
