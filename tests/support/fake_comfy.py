"""A minimal stand-in for the ComfyUI modules the nodes use, for tests.

``install_fake_comfy(tmp_path)`` puts ``comfy``, ``comfy.utils``, ``comfy.model_management`` and
``folder_paths`` into ``sys.modules`` and returns a handle to inspect progress updates and to
press "Cancel". Use it through the ``fake_comfy`` fixture, which removes them afterwards.
"""
from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

import torch


class InterruptProcessingException(Exception):
    pass


@dataclass
class FakeComfy:
    models_dir: Path
    progress: list[tuple[int, int]] = field(default_factory=list)
    interrupt_after: int | None = None  # raise at the n-th interruption check
    checks: int = 0
    unloads: list = field(default_factory=list)  # what ComfyUI's unload / free-memory calls asked
    free_bytes: int = 1 << 40  # what get_free_memory reports

    def cancel_now(self) -> None:
        self.interrupt_after = self.checks


def install_fake_comfy(root: Path) -> FakeComfy:
    state = FakeComfy(models_dir=root / "models")
    (state.models_dir / "animeinterp").mkdir(parents=True, exist_ok=True)

    comfy = types.ModuleType("comfy")
    utils = types.ModuleType("comfy.utils")
    mm = types.ModuleType("comfy.model_management")
    fp = types.ModuleType("folder_paths")

    class ProgressBar:
        def __init__(self, total, node_id=None):
            self.total, self.current = total, 0

        def update_absolute(self, value, total=None, preview=None):
            if total is not None:
                self.total = total
            self.current = min(value, self.total)
            state.progress.append((self.current, self.total))

        def update(self, value):
            self.update_absolute(self.current + value)

    utils.ProgressBar = ProgressBar

    def throw_exception_if_processing_interrupted():
        state.checks += 1
        if state.interrupt_after is not None and state.checks > state.interrupt_after:
            raise InterruptProcessingException()

    mm.InterruptProcessingException = InterruptProcessingException
    mm.throw_exception_if_processing_interrupted = throw_exception_if_processing_interrupted
    mm.processing_interrupted = lambda: state.interrupt_after is not None and state.checks >= state.interrupt_after
    mm.get_torch_device = lambda: torch.device("cpu")
    mm.intermediate_device = lambda: torch.device("cpu")
    mm.soft_empty_cache = lambda force=False: None
    mm.unload_all_models = lambda: state.unloads.append("all")
    mm.free_memory = lambda memory_required, device, keep_loaded=(): state.unloads.append(memory_required)
    mm.get_free_memory = lambda device=None, torch_free_too=False: state.free_bytes

    fp.models_dir = str(state.models_dir)
    (root / "input").mkdir(exist_ok=True)
    fp.get_input_directory = lambda: str(root / "input")
    fp.folder_names_and_paths = {}

    def get_folder_paths(name):
        return list(fp.folder_names_and_paths[name][0])

    def get_filename_list(name):
        paths, exts = fp.folder_names_and_paths[name]
        out = []
        for p in paths:
            base = Path(p)
            if base.is_dir():
                out += [str(f.relative_to(base)) for f in base.rglob("*") if f.is_file() and f.suffix in exts]
        return sorted(out)

    def get_full_path(name, filename):
        for p in fp.folder_names_and_paths.get(name, ([], set()))[0]:
            f = Path(p) / filename
            if f.is_file():
                return str(f)
        return None

    fp.get_folder_paths = get_folder_paths
    fp.get_filename_list = get_filename_list
    fp.get_full_path = get_full_path

    comfy.utils = utils
    comfy.model_management = mm
    sys.modules.update({"comfy": comfy, "comfy.utils": utils, "comfy.model_management": mm, "folder_paths": fp})
    return state


def uninstall_fake_comfy() -> None:
    for name in ("comfy", "comfy.utils", "comfy.model_management", "folder_paths"):
        sys.modules.pop(name, None)
