"""Repository rules that keep the pack installable and the core ComfyUI-free."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

REPO = Path(__file__).resolve().parents[2]


def test_core_library_never_imports_comfyui():
    offenders = []
    for path in (REPO / "pinpoint").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                root = name.split(".")[0]
                if root in {
                    "comfy",
                    "comfy_api",
                    "comfy_execution",
                    "folder_paths",
                    "nodes",
                    "server",
                    "node_helpers",
                }:
                    offenders.append(f"{path.relative_to(REPO)} imports {name}")
    assert offenders == []


def test_importing_pinpoint_needs_no_comfyui_and_no_heavy_model_libraries():
    code = (
        "import sys, pinpoint, pinpoint.loading, pinpoint.regions, pinpoint.cli;"
        "heavy = ('comfy', 'folder_paths', 'diffusers', 'transformers');"
        "bad = [m for m in heavy if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_requirements_and_pyproject_agree():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    listed = [
        line.strip()
        for line in (REPO / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert project["project"]["dependencies"] == listed
    assert not any(
        line.split("=")[0].split(">")[0].strip() in {"torch", "torchvision"} for line in listed
    )
    assert project["tool"]["comfy"]["requires-comfyui"]


@pytest.mark.skipif(
    shutil.which("ruff") is None and not (Path(sys.executable).parent / "ruff").exists(),
    reason="ruff is not installed (pip install -r requirements-dev.txt)",
)
def test_ruff_is_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    done = subprocess.run(
        [ruff, "check", "."], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
