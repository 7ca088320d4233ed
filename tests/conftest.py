"""Shared pytest fixtures. Tests never touch the network and never need a GPU."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a test that wants the (loopback) Hub opts in
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def synthetic_triplet():
    from comfyui_animeinterp.core.data.synthetic import make_triplet

    return make_triplet(240, 432, seed=0)


@pytest.fixture
def fake_comfy(tmp_path):
    """ComfyUI's progress bar, interruption, device and folder_paths, faked for one test."""
    from tests.support.fake_comfy import install_fake_comfy, uninstall_fake_comfy

    state = install_fake_comfy(tmp_path)
    yield state
    uninstall_fake_comfy()
