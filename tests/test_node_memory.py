"""Memory given back: ComfyUI's unload / free-memory requests release our cached networks, and the
release trims the heap."""
from __future__ import annotations

import sys

import pytest
import torch
from comfyui_animeinterp.nodes import memory, model_cache


@pytest.fixture
def cached(fake_comfy, monkeypatch):
    """A fake ComfyUI with our hooks installed and one network in the cache."""
    model_cache.release_all()
    assert memory.hook_model_management(model_cache.release_all) is True
    assert memory.hook_model_management(model_cache.release_all) is False  # once only
    net = torch.nn.Linear(4, 4)
    model_cache._cached(("test", "net"), lambda: net)
    trims = []
    monkeypatch.setattr(memory, "trim", lambda: trims.append(1) or True)
    return fake_comfy, trims


def test_unload_all_models_releases_ours_and_trims(cached):
    fake, trims = cached
    generation = model_cache.generation()
    sys.modules["comfy.model_management"].unload_all_models()
    assert fake.unloads == ["all"]  # ComfyUI's own unload still ran
    assert model_cache._CACHE == {} and model_cache.generation() == generation + 1 and trims


def test_free_memory_releases_ours_only_when_still_short(cached):
    fake, trims = cached
    mm = sys.modules["comfy.model_management"]
    mm.free_memory(1 << 20, torch.device("cpu"))  # ComfyUI found enough room: ours stay
    assert len(model_cache._CACHE) == 1 and not trims
    fake.free_bytes = 0
    mm.free_memory(1 << 30, torch.device("cpu"))
    assert model_cache._CACHE == {} and trims and fake.unloads == [1 << 20, 1 << 30]


def test_trim_hands_freed_heap_back_on_glibc():
    import platform

    garbage = [bytearray(200) for _ in range(200_000)]  # ~50 MB of small heap blocks, then freed
    del garbage
    glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert memory.trim() is glibc
