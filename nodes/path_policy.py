"""Which files a ComfyUI server lets the nodes read (a server may be reachable by others).

Inside ComfyUI, a STRING input naming a file or folder is confined:

- clips and style frames (Load Frames / Video's ``path``, Style Finetune's ``data``): inside
  ComfyUI's input folder, or a folder the server owner lists in ``ANIMEINTERP_ALLOWED_DIRS``
  (``os.pathsep``-separated: ``:`` on Linux/macOS, ``;`` on Windows);
- weights (``vgg_weights``, ...): a manifest name, a file in the ``animeinterp`` model folders, or a
  file inside ``ANIMEINTERP_ALLOWED_DIRS``.

Input paths are resolved first (symlinks, ``..``), so a link inside the input folder that points
outside is refused; in the model folders (the owner's), a link placed there counts as there, but
``..`` never leads out. A refused path and a missing one get the same message: the server never tells whether
a path outside exists. Outside ComfyUI (plain Python, tests without ComfyUI) the user owns the
machine and paths are taken as given.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..core.errors import InputError, WeightsError
from . import comfy_env

ALLOWED_DIRS_ENV = "ANIMEINTERP_ALLOWED_DIRS"


def _real(path: str | os.PathLike) -> Path:
    return Path(os.path.realpath(path))


def extra_dirs() -> list[Path]:
    """The folders the server owner allows besides ComfyUI's own (``ANIMEINTERP_ALLOWED_DIRS``)."""
    text = os.environ.get(ALLOWED_DIRS_ENV, "")
    return [_real(os.path.expanduser(part.strip())) for part in text.split(os.pathsep) if part.strip()]


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def _where(base: str) -> str:
    extra = f" or a folder listed in {ALLOWED_DIRS_ENV}" if os.environ.get(ALLOWED_DIRS_ENV) else ""
    return f"{base}{extra}"


def input_path(text: str, what: str = "path") -> Path:
    """The real path of an input file or folder named by a node widget.

    Inside ComfyUI: relative to the input folder; the resolved path must exist and lie inside the
    input folder or ``ANIMEINTERP_ALLOWED_DIRS``. Outside ComfyUI: ``~`` expanded, relative to the
    working folder.

    Raises:
        InputError: empty, or (one message for both) missing or outside the allowed folders.
    """
    text = (text or "").strip().strip('"')
    if not text:
        raise InputError(f"{what}: give a folder of frames or a video file")
    base = comfy_env.input_directory()
    if base is None:
        p = Path(os.path.expanduser(text))
        if not p.exists():
            raise InputError(f"{what}: {p} does not exist")
        return p
    real = _real(Path(base) / text)  # an absolute text replaces the base
    if not (real.exists() and _inside(real, [_real(base), *extra_dirs()])):
        where = _where("ComfyUI's input folder")
        raise InputError(f"{what}: {text!r} does not exist in {where}")
    return real


def weight_reference(name_or_path: str, what: str = "weight") -> str:
    """Check a weight name given to a node: inside ComfyUI it must be a manifest name (or file name),
    a file in the ``animeinterp`` model folders, or a file inside ``ANIMEINTERP_ALLOWED_DIRS``;
    returned unchanged. Outside ComfyUI anything goes (the library checks it).

    Raises:
        WeightsError: (one message for missing and forbidden) none of these.
    """
    text = (name_or_path or "").strip()
    if comfy_env.input_directory() is None or not text:
        return name_or_path
    from ..core.weights.manifest import load_manifest

    manifest = load_manifest()
    if text in manifest.entries or (os.sep not in text and "/" not in text and manifest.by_filename(text)):
        return name_or_path
    # the model folders are the owner's: a link placed there counts as there (``..`` does not)
    folders = [Path(os.path.abspath(f)) for f in comfy_env.model_folders()]
    full = comfy_env.full_model_path(text)
    if full and Path(full).is_file() and _inside(Path(os.path.abspath(full)), folders):
        return name_or_path
    if Path(text).is_absolute() and Path(text).is_file() and (
            _inside(Path(os.path.abspath(text)), folders) or _inside(_real(text), extra_dirs())):
        return name_or_path
    names = ", ".join(sorted(manifest.entries))
    raise WeightsError(f"{what}: {text!r} is not a known weight name ({names}) nor a file in "
                       f"{_where('the models/animeinterp folders')}")
