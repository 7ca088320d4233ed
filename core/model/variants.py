"""The two model variants the released checkpoints belong to."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import InputError


@dataclass(frozen=True)
class ModelVariant:
    """Architecture switches of one variant.

    Attributes:
        name: ``"afi"`` or ``"animeinterp"``.
        encoder_norm: normalisation of the flow net's feature encoder.
        global_motion: whether the flow net has the GMA attention branch.
        description: one line for humans.
    """

    name: str
    encoder_norm: str
    global_motion: bool
    description: str


VARIANTS: dict[str, ModelVariant] = {
    "afi": ModelVariant("afi", "instance", True,
                        "AnimeInterp + GMA (Soooda/AFI): RFR+GMA flow net, InstanceNorm encoder"),
    "animeinterp": ModelVariant("animeinterp", "none", False,
                                "AnimeInterp (lisiyao21, CVPR'21): plain RFR flow net, no encoder norm"),
}


def get_variant(name: str) -> ModelVariant:
    """Look a variant up by name; :class:`InputError` lists the valid names."""
    try:
        return VARIANTS[name]
    except KeyError:
        raise InputError(f"unknown model variant {name!r}; expected one of {sorted(VARIANTS)}") from None
