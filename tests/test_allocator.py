"""``core.allocator``: freed memory kept for reuse inside a scoped block, opt-in for the command."""
from __future__ import annotations

import resource

import pytest
import torch
from comfyui_animeinterp.core import allocator
from comfyui_animeinterp.core.allocator import allocator_choice, is_reusing, reuse_freed_memory
from comfyui_animeinterp.core.cli import main
from comfyui_animeinterp.core.errors import InputError

glibc = pytest.mark.skipif(allocator._glibc() is None, reason="needs glibc's mallopt")

BLOCK_FLOATS = 16 * 2**20  # 64 MiB: above glibc's largest mmap threshold (32 MiB)


def _faults_of_second_block() -> int:
    """Page faults of filling a 64 MiB tensor after one of the same size was filled and freed."""
    first = torch.ones(BLOCK_FLOATS)
    del first
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    second = torch.ones(BLOCK_FLOATS)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    del second
    return faults


def test_choice_comes_from_the_environment_and_defaults_to_the_system_allocator():
    assert allocator_choice({}) == "system"
    assert allocator_choice({"ANIMEINTERP_ALLOCATOR": " Reuse "}) == "reuse"
    with pytest.raises(InputError, match="ANIMEINTERP_ALLOCATOR='jemalloc'"):
        allocator_choice({"ANIMEINTERP_ALLOCATOR": "jemalloc"})


@glibc
def test_a_freed_block_is_reused_without_page_faults_inside_and_not_outside():
    outside = _faults_of_second_block()
    with reuse_freed_memory() as on:
        assert on and is_reusing()
        for _ in range(3):  # the heap grows to hold the blocks (leftover holes may take a round)
            _faults_of_second_block()
        inside = _faults_of_second_block()
    assert not is_reusing()
    after = _faults_of_second_block()
    pages = BLOCK_FLOATS * 4 // resource.getpagesize()
    assert outside > pages // 2 and after > pages // 2  # fresh pages each time
    assert inside < pages // 20


@glibc
def test_nested_blocks_restore_the_defaults_only_when_the_last_exits(monkeypatch):
    calls = []

    class FakeLibc:
        def mallopt(self, param, value):
            calls.append((param, value))
            return 1

        def malloc_trim(self, pad):
            calls.append(("trim", pad))
            return 1

    monkeypatch.setattr(allocator, "_glibc", lambda: FakeLibc())
    with reuse_freed_memory():
        with reuse_freed_memory():
            assert calls == [(allocator.M_MMAP_MAX, 0), (allocator.M_TRIM_THRESHOLD, allocator.KEEP_ALL)]
        assert is_reusing() and len(calls) == 2
    assert not is_reusing()
    assert calls[2:] == [(allocator.M_MMAP_MAX, allocator.GLIBC_MMAP_MAX),
                         (allocator.M_TRIM_THRESHOLD, allocator.GLIBC_TRIM_THRESHOLD), ("trim", 0)]


def test_disabled_or_without_glibc_it_does_nothing(monkeypatch):
    with reuse_freed_memory(enabled=False) as on:
        assert not on and not is_reusing()
    monkeypatch.setattr(allocator, "_glibc", lambda: None)
    with reuse_freed_memory() as on:
        assert not on and not is_reusing()


def test_the_command_refuses_an_unknown_allocator_before_doing_anything(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("ANIMEINTERP_ALLOCATOR", "jemalloc")
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 2
    assert "ANIMEINTERP_ALLOCATOR" in capsys.readouterr().err
    assert not (tmp_path / "demo").exists()


def test_the_command_runs_inside_the_block_when_asked(monkeypatch, tmp_path):
    seen = []
    monkeypatch.setenv("ANIMEINTERP_ALLOCATOR", "reuse")
    monkeypatch.setattr("comfyui_animeinterp.core.cli.demo.run_demo", lambda out: seen.append(is_reusing()))
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 0
    assert seen == [allocator._glibc() is not None]
    assert not is_reusing()
