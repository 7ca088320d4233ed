"""File digests used to verify weight files: SHA-256 and the git blob id, computed in one pass."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

_CHUNK = 1 << 20


@dataclass(frozen=True)
class FileDigest:
    """What a file is, independent of its name.

    ``git_blob_sha1`` is what ``git hash-object <file>`` prints: SHA-1 over
    ``b"blob <size>\\0" + content``. It identifies a file committed to a git repository exactly.
    """

    size: int
    sha256: str
    git_blob_sha1: str


def digest_file(path: str | os.PathLike[str]) -> FileDigest:
    """Read ``path`` once and return its size, SHA-256 and git blob id (lower-case hex)."""
    size = os.path.getsize(path)
    sha256 = hashlib.sha256()
    blob = hashlib.sha1(b"blob %d\0" % size)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            sha256.update(chunk)
            blob.update(chunk)
    return FileDigest(size=size, sha256=sha256.hexdigest(), git_blob_sha1=blob.hexdigest())


def git_blob_sha1(data: bytes) -> str:
    """Git blob id of an in-memory byte string (same value as :func:`digest_file`)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file (lower-case hex)."""
    h = hashlib.sha256()
    with open(Path(path), "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()
