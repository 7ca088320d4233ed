"""Weights: the manifest, lookup in local folders, verified downloads, conversion and the cache.

The one call most code needs is :func:`resolve_weight` (name or path -> local safetensors file).
"""

from .cache import default_cache_dir
from .manifest import Manifest, Source, WeightEntry, load_manifest
from .resolve import UnverifiedWeightWarning, is_offline, resolve_weight

__all__ = [
    "Manifest",
    "Source",
    "UnverifiedWeightWarning",
    "WeightEntry",
    "default_cache_dir",
    "is_offline",
    "load_manifest",
    "resolve_weight",
]
