"""Node type names carry the pack prefix, display names follow one pattern, and the type names used
before the prefix rule still load (as deprecated aliases that ComfyUI's search hides)."""
from __future__ import annotations

import re

from comfyui_animeinterp import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
from comfyui_animeinterp.nodes import DEPRECATED_ALIASES

CURRENT = {name: cls for name, cls in NODE_CLASS_MAPPINGS.items() if name not in DEPRECATED_ALIASES}


def test_every_current_type_name_has_the_pack_prefix():
    assert len(CURRENT) == 11
    for name, cls in CURRENT.items():
        assert re.fullmatch(r"AnimeInterp[A-Za-z]+", name), name
        assert not getattr(cls, "DEPRECATED", False), name


def test_display_names_follow_one_pattern():
    displays = [NODE_DISPLAY_NAME_MAPPINGS[name] for name in CURRENT]
    assert len(set(displays)) == len(displays)
    for display in displays:
        assert re.fullmatch(r"[A-Z][^()]*[a-z] \(AnimeInterp\)", display), display
        assert display.count("AnimeInterp") == 1, display


def test_old_type_names_load_as_deprecated_aliases():
    assert set(DEPRECATED_ALIASES) == {"StyleFinetune", "EvaluateInterpolation", "LoadAnimeInterpModel"}
    for old, new in DEPRECATED_ALIASES.items():
        alias, current = NODE_CLASS_MAPPINGS[old], NODE_CLASS_MAPPINGS[new]
        assert alias is not current and issubclass(alias, current)
        assert alias.DEPRECATED is True and not getattr(current, "DEPRECATED", False)
        # same inputs, outputs and function: an old workflow's widget values still line up
        assert alias.INPUT_TYPES() == current.INPUT_TYPES()
        assert alias.RETURN_TYPES == current.RETURN_TYPES and alias.FUNCTION == current.FUNCTION
        assert NODE_DISPLAY_NAME_MAPPINGS[old].startswith(NODE_DISPLAY_NAME_MAPPINGS[new])
        assert "deprecated" in NODE_DISPLAY_NAME_MAPPINGS[old]
