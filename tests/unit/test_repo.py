"""Repository rules that keep the pack installable and the core ComfyUI-free."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

REPO = Path(__file__).resolve().parents[2]


LAYOUT = ("__init__.py", "nodes", "js", "requirements.txt", "workflows", "tests", "README.md")
LAYOUT += ("pyproject.toml", "pinpoint")
"""The top level the pack promises: the ComfyUI entry, the node adapters, the frontend, the
requirements, the example graphs, the tests, the README, the project file and the core."""


def test_the_top_level_is_the_promised_layout():
    missing = [name for name in LAYOUT if not (REPO / name).exists()]
    assert missing == []
    assert (REPO / "nodes" / "__init__.py").is_file()
    packages = {path.parent.name for path in REPO.glob("*/__init__.py")}
    assert packages == {"nodes", "pinpoint"}  # no second home for the adapters


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


def _texts(path: Path) -> list[str]:
    """The source of ``path`` and each of its string literals (implicit concatenations joined,
    an f-string's fields as ``{}``), with runs of whitespace made single spaces."""
    source = path.read_text()
    texts = [source]
    for node in ast.walk(ast.parse(source, filename=str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            texts.append(node.value)
        elif isinstance(node, ast.JoinedStr):
            texts.append(
                "".join(
                    part.value if isinstance(part, ast.Constant) else "{}" for part in node.values
                )
            )
    return [" ".join(text.split()) for text in texts]


def node_titles() -> set[str]:
    """Every node title the adapters spell: the string literals in nodes/*.py ending in
    "(Pinpoint)" (read from the source; ComfyUI is not imported)."""
    return {
        text
        for path in (REPO / "nodes").glob("*.py")
        for text in _texts(path)[1:]
        if text.endswith("(Pinpoint)")
    }


def test_the_core_names_no_node():
    """Core messages and docstrings serve the nodes and the CLI alike: the caller names the
    place (``reported_as``), the core never names a node."""
    titles = node_titles()
    assert {"Load Perceptual Network (Pinpoint)", "CLIP Guidance (Pinpoint)"} <= titles
    offenders = sorted(
        f"{path.relative_to(REPO)}: {needle}"
        for path in (REPO / "pinpoint").rglob("*.py")
        for needle in (*titles, "(Pinpoint)")
        if any(needle in text for text in _texts(path))
    )
    assert offenders == []


def core_imports() -> dict[str, set[str]]:
    """Module of ``pinpoint/`` → the modules of ``pinpoint/`` it imports anywhere: at module
    level, inside functions, under ``if TYPE_CHECKING`` (``from . import x`` counts as ``x``)."""
    modules = {}
    for path in (REPO / "pinpoint").rglob("*.py"):
        parts = path.relative_to(REPO).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        imported = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    above = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*above, *([node.module] if node.module else [])])
                for alias in node.names:
                    submodule = f"{base}.{alias.name}"
                    imported.add(submodule if submodule in modules else base)
        graph[name] = {target for target in imported if target in modules and target != name}
    return graph


def import_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or ``[]`` when there is none."""
    done: set[str] = set()
    path: list[str] = []

    def visit(module: str) -> list[str]:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return []
        path.append(module)
        for target in sorted(graph[module]):
            if cycle := visit(target):
                return cycle
        path.pop()
        done.add(module)
        return []

    for module in sorted(graph):
        if cycle := visit(module):
            return cycle
    return []


def test_import_cycle_finds_a_cycle_and_only_a_cycle():
    assert import_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert import_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_the_core_has_no_import_cycle():
    """Imports inside ``pinpoint/`` go one way: no module imports one that (through others)
    imports it, not even inside a function."""
    graph = core_imports()
    assert "pinpoint.loading.kinds" in graph["pinpoint.loading.transformers_folder"]
    assert " -> ".join(import_cycle(graph)) == ""


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


def requirement_names(path: Path) -> set[str]:
    """The package names a requirements file lists (``-r`` includes and comments skipped)."""
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0].strip().lower())
    return names


def test_dev_requirements_install_the_scipy_oracle():
    """test_mask_ops checks fill/drop against scipy.ndimage (imported, never skipped): CI must
    install it."""
    assert "scipy" in requirement_names(REPO / "requirements-dev.txt")


def test_comfy_registry_metadata_has_no_empty_icon():
    """The registry refuses (or shows a broken image for) an empty Icon: set one or leave it out."""
    comfy = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["comfy"]
    assert str(comfy.get("Icon", "<absent>")).strip(), "pyproject [tool.comfy] has an empty Icon"


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
