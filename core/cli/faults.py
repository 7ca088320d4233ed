"""One-line messages for system faults at the command-line boundary (out of memory, OS errors).

User errors are :class:`..errors.AnimeInterpError` s and carry their own message; this module turns
the faults that are nobody's ``raise`` (the allocator, the file system) into a line that says what
happened and what to do, instead of a traceback.
"""
from __future__ import annotations


def _oom_types() -> tuple[type[BaseException], ...]:
    import torch

    oom = getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError
    return (oom, MemoryError)


def is_out_of_memory(exc: BaseException) -> bool:
    """True for torch's out-of-memory error (CUDA or CPU allocator) and Python's MemoryError."""
    return isinstance(exc, _oom_types())


def fault_message(exc: BaseException, *, frame_size: tuple[int, int] | None = None,
                  device: str | None = None) -> str | None:
    """A one-line message for an out-of-memory or OS error, or None for anything else.

    Args:
        exc: the exception.
        frame_size: ``(H, W)`` of the frames being processed, if known.
        device: the device the model ran on, if known.
    """
    if is_out_of_memory(exc):
        size = f" {frame_size[1]}x{frame_size[0]} frames" if frame_size else ""
        where = f" on {device}" if device else ""
        advice = ("use a smaller --working-size (e.g. 960x540), downscale the frames"
                  + (", or try --dtype bf16 or --device cpu" if device and device.startswith("cuda") else
                     ", or close other programs"))
        return f"out of memory while interpolating{size}{where}; {advice}"
    if isinstance(exc, OSError):
        target = f": {exc.filename}" if getattr(exc, "filename", None) else ""
        return f"{exc.strerror or exc}{target}"
    return None
