"""ComfyUI-AnimeInterp: anime frame interpolation (AnimeInterp + GMA with Style loss) for ComfyUI.

ComfyUI imports this folder as a custom-node package and reads ``NODE_CLASS_MAPPINGS`` and
``NODE_DISPLAY_NAME_MAPPINGS`` (classic node API, works in every ComfyUI version). The library
itself lives in ``core`` and never imports ComfyUI.
"""
from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
__version__ = "0.1.0"
