"""The fidelity fixtures' weight rule (``fidelity-rule-v1``, tests/fixtures/README.md §1).

Every parameter of the ORIGINAL model layout is regenerated from (key name, shape, seed), so the
original-layout state dict behind the stored outputs can be rebuilt without any weight file.
Written from the rule's prose and formula.
"""
from __future__ import annotations

import hashlib
import math
import zlib
from pathlib import Path

import torch

_DTYPES = {"float32": torch.float32, "int64": torch.int64}


def _fan_in(shape: tuple[int, ...]) -> int:
    return shape[1] * math.prod(shape[2:])


def rule_value(key: str, shape: tuple[int, ...], seed: int, shapes: dict[str, tuple[int, ...]],
               gen_key: str | None = None) -> torch.Tensor:
    """The float32 value the rule assigns to one floating tensor."""
    g = torch.Generator().manual_seed((seed * 1_000_003 + zlib.crc32((gen_key or key).encode("utf-8"))) % 2**63)
    r = torch.rand(shape, generator=g, dtype=torch.float64)
    u = 2.0 * r - 1.0
    leaf = key.rsplit(".", 1)[-1]
    weight_shape = shapes.get(key[:-4] + "weight") if leaf == "bias" else None
    if leaf == "weight" and len(shape) >= 2:
        v = u * (1.0 / math.sqrt(_fan_in(shape)))
    elif leaf == "weight":
        v = 1.0 + 0.1 * u
    elif leaf == "bias" and weight_shape is not None and len(weight_shape) >= 2:
        v = u * (1.0 / math.sqrt(_fan_in(weight_shape)))
    elif leaf in ("bias", "running_mean"):
        v = 0.1 * u
    elif leaf == "running_var":
        v = 1.0 + 0.1 * r
    elif leaf == "gamma":
        v = 0.5 + 0.1 * u
    else:
        raise ValueError(f"the rule has no category for {key}")
    return v.to(torch.float32)


def read_key_table(path: str | Path) -> list[list[str]]:
    """Rows of a ``keys_*.txt`` table (tab-separated, ``#`` comments skipped)."""
    rows = []
    for line in Path(path).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            rows.append(line.split("\t"))
    return rows


def rule_state_dict(path: str | Path, seed: int = 0) -> dict[str, torch.Tensor]:
    """Rebuild the original-layout state dict described by a ``keys_*.txt`` table.

    Non-floating entries get their constructed values (``num_batches_tracked`` = 0, GMA's
    ``rel_ind[i, j] = j - i + 159``).
    """
    rows = read_key_table(path)
    shapes = {r[0]: (() if r[1] == "scalar" else tuple(int(s) for s in r[1].split("x"))) for r in rows}
    out: dict[str, torch.Tensor] = {}
    for r in rows:
        key, dtype = r[0], _DTYPES[r[2]]
        shape = shapes[key]
        if dtype != torch.float32:
            if key.endswith("rel_ind"):
                n = shape[0]
                idx = torch.arange(n)
                out[key] = (idx[None, :] - idx[:, None] + (n - 1)).to(dtype)
            else:
                out[key] = torch.zeros(shape, dtype=dtype)
            continue
        alias = r[5][len("alias_of="):] if len(r) > 5 and r[5].startswith("alias_of=") else None
        out[key] = rule_value(key, shape, seed, shapes, gen_key=alias)
    return out


def checksum(t: torch.Tensor) -> str:
    """``sha256(value.numpy().tobytes())[:16]`` as in column 7 of the key tables."""
    return hashlib.sha256(t.contiguous().numpy().tobytes()).hexdigest()[:16]
