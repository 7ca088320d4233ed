"""The weight cache: verified safetensors files, each with a small JSON record beside it.

Layout of a cache folder::

    afi-atd12k-style.safetensors               the file the models load
    afi-atd12k-style.safetensors.record.json   where it came from and its SHA-256
    .staging-XXXX/                             work area of a download in progress (deleted after;
                                               one a killed process left is swept after 6 idle hours)

Files only ever appear under their final name through ``os.replace`` from a staging folder on
the same file system, so a reader never sees a half-written weight. The record is written first:
a crash between the two steps leaves a record without a file, which is simply "not cached".
A cached file whose SHA-256 no longer equals its record's is reported as tampered; one without
a readable record is accepted only if it hashes to a file the manifest publishes (see
``resolve._verify_unrecorded``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import WeightsError
from .hashing import sha256_file

CACHE_ENV = "ANIMEINTERP_CACHE"
RECORD_SUFFIX = ".record.json"

# path -> (size, mtime_ns, sha256) of files already checked in this process
_checked: dict[str, tuple[int, int, str]] = {}


def default_cache_dir() -> Path:
    """``$ANIMEINTERP_CACHE``, else ``~/.cache/comfyui-animeinterp``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "comfyui-animeinterp"


@dataclass(frozen=True)
class CacheRecord:
    """What we know about a cached file. ``sha256`` is that of the cached file itself.

    ``source`` is where it was obtained (URL, ``hf://repo@rev/file`` or a local path);
    ``source_sha256`` / ``source_git_blob_sha1`` identify the file as obtained (before any
    conversion); ``verified_by`` lists the published identities it was checked against
    (empty: none were published, the hash was recorded on first use).
    """

    name: str
    sha256: str
    size: int
    source: str
    source_sha256: str
    source_git_blob_sha1: str
    verified_by: tuple[str, ...]
    converter: str | None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"


def record_path(file: Path) -> Path:
    return file.with_name(file.name + RECORD_SUFFIX)


def read_record(file: Path) -> CacheRecord | None:
    """The record beside ``file``, or None if there is none (or it is unreadable)."""
    try:
        raw = json.loads(record_path(file).read_text(encoding="utf-8"))
        raw["verified_by"] = tuple(raw.get("verified_by", ()))
        return CacheRecord(**raw)
    except (OSError, ValueError, TypeError):
        return None


def record_problem(file: Path) -> str | None:
    """Why ``file`` has no usable record: ``"missing"``, ``"unreadable"``, or None when it has one."""
    if not record_path(file).exists():
        return "missing"
    return "unreadable" if read_record(file) is None else None


def remember_verified(file: Path, sha256: str) -> None:
    """Note that ``file`` (as it is now) was verified to hash to ``sha256`` in this process."""
    stat = file.stat()
    _checked[str(file.resolve())] = (stat.st_size, stat.st_mtime_ns, sha256)


def verified_before(file: Path) -> str | None:
    """The SHA-256 ``file`` was verified to have in this process, if it has not changed since."""
    stat = file.stat()
    seen = _checked.get(str(file.resolve()))
    return seen[2] if seen is not None and seen[:2] == (stat.st_size, stat.st_mtime_ns) else None


def check_record(file: Path) -> CacheRecord | None:
    """Check ``file`` against its record (if it has one); WeightsError if the content changed.

    A file is hashed once per process unless its size or modification time changes.
    """
    record = read_record(file)
    if record is None:
        return None
    stat = file.stat()
    key = str(file.resolve())
    seen = _checked.get(key)
    if seen is not None and seen[:2] == (stat.st_size, stat.st_mtime_ns) and seen[2] == record.sha256:
        return record
    actual = sha256_file(file)
    if actual != record.sha256:
        raise WeightsError(
            f"Weight file {file} was modified after it was verified: its record "
            f"({record_path(file).name}) says sha256 {record.sha256}, the file now has {actual}. "
            f"Delete both files to download '{record.name}' again."
        )
    _checked[key] = (stat.st_size, stat.st_mtime_ns, actual)
    return record


@contextmanager
def staging_dir(cache_dir: Path) -> Iterator[Path]:
    """A fresh work folder inside ``cache_dir`` (same file system), removed on exit, success or not."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    remove_abandoned_staging(cache_dir)
    path = Path(tempfile.mkdtemp(prefix=".staging-", dir=cache_dir))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


STAGING_ABANDONED_AFTER_S = 6 * 3600
"""A staging folder nothing was written to for this long belongs to a killed process."""


def remove_abandoned_staging(cache_dir: Path, max_idle_s: float = STAGING_ABANDONED_AFTER_S) -> list[Path]:
    """Delete staging folders left by killed processes (a kill -9 mid-download skips the cleanup).

    A folder counts as abandoned when neither it nor anything in it changed for ``max_idle_s``, so
    a download running in another process (which keeps writing) is left alone. Returns the removed
    folders.
    """
    now, removed = time.time(), []
    for folder in cache_dir.glob(".staging-*"):
        try:
            entries = [folder, *folder.rglob("*")]
            last_change = max(e.stat().st_mtime for e in entries)
        except OSError:  # removed meanwhile by its owner or another sweep
            continue
        if folder.is_dir() and now - last_change > max_idle_s:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def install(staged: Path, dest: Path, record: CacheRecord) -> Path:
    """Atomically put the verified file ``staged`` at ``dest`` with its record; returns ``dest``."""
    _write_atomic(record_path(dest), record.to_json())
    os.replace(staged, dest)
    stat = dest.stat()
    _checked[str(dest.resolve())] = (stat.st_size, stat.st_mtime_ns, record.sha256)
    return dest


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
