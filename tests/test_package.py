"""The repository root is a ComfyUI custom-node package and an installable library."""
from __future__ import annotations

import importlib
import subprocess
import sys

import numpy as np


def test_node_mappings_exported():
    pack = importlib.import_module("comfyui_animeinterp")
    assert isinstance(pack.NODE_CLASS_MAPPINGS, dict)
    assert isinstance(pack.NODE_DISPLAY_NAME_MAPPINGS, dict)
    assert set(pack.NODE_DISPLAY_NAME_MAPPINGS) == set(pack.NODE_CLASS_MAPPINGS)


def test_core_never_imports_comfyui():
    code = (
        "import sys, comfyui_animeinterp.core.data.synthetic, comfyui_animeinterp.core.io.images;"
        "bad=[m for m in sys.modules if m=='comfy' or m.startswith('comfy.') or m=='folder_paths'];"
        "print(bad); assert not bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_cli_entry_point_help():
    out = subprocess.run([sys.executable, "-m", "comfyui_animeinterp.core.cli", "--help"],
                         capture_output=True, text=True, check=True)
    assert "demo" in out.stdout


def test_synthetic_triplet_is_deterministic(synthetic_triplet):
    from comfyui_animeinterp.core.data.synthetic import make_triplet

    again = make_triplet(240, 432, seed=0)
    assert np.array_equal(again.frame1, synthetic_triplet.frame1)
    assert np.array_equal(again.flow_13, synthetic_triplet.flow_13)
    other = make_triplet(240, 432, seed=1)
    assert not np.array_equal(other.frame1, synthetic_triplet.frame1)


def test_synthetic_flow_moves_shapes_onto_their_next_position(synthetic_triplet):
    """Warping frame1's owner map by the exact flow lands on the same owner in frame3."""
    t = synthetic_triplet
    h, w = t.owner1.shape
    ys, xs = np.nonzero(t.owner1 > 1)  # moving shapes (1 = static ground)
    x3 = np.round(xs + t.flow_13[0, ys, xs]).astype(int)
    y3 = np.round(ys + t.flow_13[1, ys, xs]).astype(int)
    ok = (x3 >= 0) & (x3 < w) & (y3 >= 0) & (y3 < h)
    agree = t.owner3[y3[ok], x3[ok]] == t.owner1[ys[ok], xs[ok]]
    assert agree.mean() > 0.9  # the rest is occluded at t=1 or on rasterised outlines


# ------------------------------------------------------------------------- registry and packaging
def _pyproject() -> dict:
    from pathlib import Path

    import tomllib

    return tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())


def test_registry_metadata_is_complete():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    meta = _pyproject()
    comfy, project = meta["tool"]["comfy"], meta["project"]
    assert comfy["PublisherId"] and comfy["DisplayName"]
    assert comfy["Icon"].startswith("https://") and (root / comfy["Icon"].split("/main/", 1)[1]).is_file()
    assert comfy["includes"] and all((root / folder).is_dir() for folder in comfy["includes"])
    assert project["name"] and project["version"] and project["description"] and project["license"]
    assert project["urls"]["Repository"].startswith("https://github.com/")


def _ruff() -> str | None:
    import shutil
    from pathlib import Path

    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    return ruff if Path(ruff).is_file() else None


def test_registry_lint_rules_pass():
    """What `comfy node validate` runs: ruff's S102 (exec), S307 (eval), E702 (a; b)."""
    from pathlib import Path

    import pytest

    ruff = _ruff()
    if ruff is None:
        pytest.skip("ruff is not installed")
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([ruff, "check", ".", "-q", "--isolated", "--select", "S102,S307,E702",
                          "--output-format", "concise"], cwd=root, capture_output=True, text=True, check=False)
    assert out.returncode == 0 and out.stdout.strip() == "", out.stdout


def test_the_whole_repository_is_clean_under_the_pinned_ruff():
    """`ruff check .` with the project's settings (pyproject.toml) finds nothing, under the ruff version
    `make test` installs (constraints.txt): ruff's default rules grow between versions."""
    import re
    from pathlib import Path

    import pytest

    ruff = _ruff()
    if ruff is None:
        pytest.skip("ruff is not installed")
    root = Path(__file__).resolve().parents[1]
    pinned = re.search(r"^ruff==(\S+)$", (root / "constraints.txt").read_text(), re.MULTILINE).group(1)
    version = subprocess.run([ruff, "--version"], capture_output=True, text=True, check=True).stdout.split()[-1]
    if version != pinned:
        pytest.skip(f"ruff {version} is not the pinned {pinned} (make test installs it)")
    out = subprocess.run([ruff, "check", ".", "--output-format", "concise"], cwd=root, capture_output=True,
                         text=True, check=False)
    assert out.returncode == 0, out.stdout[-3000:]


def test_requirements_never_make_pip_replace_torch():
    from pathlib import Path

    from packaging.requirements import Requirement

    text = (Path(__file__).resolve().parents[1] / "requirements.txt").read_text()
    reqs = {Requirement(line).name.lower(): Requirement(line) for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")}
    assert not {"torch", "torchvision", "torchaudio"} & set(reqs)
    # kornia 0.9 requires torch>=2.5.1 (0.8.2: torch>=2.0, within the torch>=2.1 we support)
    assert "0.8.2" in reqs["kornia"].specifier and "0.9.0" not in reqs["kornia"].specifier


def test_packages_and_data_are_declared():
    """Every Python package is listed, and data files come only from the package-data globs (a
    subfolder of the root package that is not a package would make setuptools warn)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    tool = _pyproject()["tool"]["setuptools"]
    assert tool["include-package-data"] is False
    found = {"comfyui_animeinterp." + ".".join(p.parent.relative_to(root).parts)
             for sub in ("core", "nodes") for p in (root / sub).rglob("__init__.py")}
    assert found <= set(tool["packages"]), sorted(found - set(tool["packages"]))
    for pattern in tool["package-data"]["comfyui_animeinterp"]:
        assert list(root.glob(pattern)), pattern


def test_building_the_package_is_quiet(tmp_path):
    """A wheel built from the tracked files: no setuptools warning about undeclared packages, and
    the templates and the manifest inside."""
    import shutil
    import zipfile
    from pathlib import Path

    import pytest

    root = Path(__file__).resolve().parents[1]
    try:
        files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    src = tmp_path / "src"
    for name in files:
        if (root / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / name, src / name)
    code = f"from setuptools import build_meta as b; print(b.build_wheel({str(tmp_path / 'dist')!r}))"
    (tmp_path / "dist").mkdir()
    out = subprocess.run([sys.executable, "-c", code], cwd=src, capture_output=True, text=True, check=True)
    assert "absent from the `packages`" not in out.stdout + out.stderr
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "comfyui_animeinterp/weights_manifest.json" in names
    assert any(n.startswith("comfyui_animeinterp/example_workflows/") for n in names)
    assert not any(n.startswith("comfyui_animeinterp/tests/") for n in names)
