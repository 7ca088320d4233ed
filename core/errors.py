"""Exceptions raised by the library. Every user-facing failure is one of these, with a message
that says what was wrong and what to do about it."""
from __future__ import annotations


class AnimeInterpError(Exception):
    """Base class of every error this package raises on purpose."""


class InputError(AnimeInterpError, ValueError):
    """Frames, flows or parameters that cannot be used (wrong shape, size, dtype, empty...)."""


class WeightsError(AnimeInterpError):
    """A weight file is missing, corrupt, tampered with, or does not fit the model."""


class DataError(AnimeInterpError):
    """A data folder (style set, evaluation set) is unusable."""


class ComputeError(AnimeInterpError):
    """A computation produced an unusable result (NaN or infinite values in a frame)."""
