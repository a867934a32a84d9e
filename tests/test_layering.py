"""The package's layering: what ``import mnistkit`` loads, and what plotting may import.

Imports are checked in a fresh interpreter, since this test session has long loaded
Matplotlib through other test modules.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLOTTING = ROOT / "mnistkit" / "plotting"


def _python(code: str) -> str:
    """Run ``code`` in a new interpreter on this checkout; return what it printed."""
    env = dict(os.environ, MPLBACKEND="Agg")
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


#: Heavy or optional libraries that ``import mnistkit`` must leave unloaded: pyplot and its
#: backend until a figure is drawn, and the optional extras until a feature needs them.
LAZY = ("matplotlib.pyplot", "torch.utils.tensorboard", "tensorboard", "captum", "optuna")


def test_import_mnistkit_does_not_load_pyplot_or_the_extras() -> None:
    out = _python(
        "import sys, mnistkit\n"
        "print(mnistkit.__file__)\n"
        f"print(*[name in sys.modules for name in {LAZY!r}])\n"
        "mnistkit.plotting.plot_probabilities([0.25, 0.75])\n"
        "print('matplotlib.pyplot' in sys.modules)\n"
    )
    location, *before, after = out.split()
    assert Path(location).resolve().is_relative_to(ROOT)  # this checkout, not an installed copy
    # import mnistkit leaves pyplot (and its backend), TensorBoard, Captum and Optuna alone
    assert dict(zip(LAZY, before, strict=True)) == dict.fromkeys(LAZY, "False")
    assert after == "True"  # drawing a figure loads it


def test_plotting_does_not_import_captum() -> None:
    # plot_attributions draws tensors; only mnistkit.explain talks to Captum
    for path in sorted(PLOTTING.glob("*.py")):
        assert not any(n.startswith("captum") for n in _imported_modules(path)), path.name


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_plotting_does_not_import_the_trainer_or_the_cli() -> None:
    # plotting takes tensors, reports and histories, never a Trainer (ARCHITECTURE.md)
    forbidden = ("mnistkit.trainer", "mnistkit.cli")
    files = sorted(PLOTTING.glob("*.py"))
    assert files
    for path in files:
        bad = sorted(
            name
            for name in _imported_modules(path)
            if any(name == f or name.startswith(f + ".") for f in forbidden)
        )
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


PACKAGE = ROOT / "mnistkit"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level_imports(path: Path, modules: set[str]) -> set[str]:
    """The package modules ``path`` imports when it is imported: module-level statements
    only, leaving out ``if TYPE_CHECKING:`` blocks and imports inside functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, ast.If):
                test = node.test
                if isinstance(test, ast.Name) and test.id == "TYPE_CHECKING":
                    continue
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name in modules)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    found.add(full if full in modules else node.module)

    visit(tree.body)
    return {name for name in found if name in modules and name != "mnistkit"}


def test_no_import_cycles_between_modules() -> None:
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(paths)
    graph = {name: _top_level_imports(path, modules) for name, path in paths.items()}
    # A package's __init__ re-exports its modules; its own imports may not loop back to it.
    state: dict[str, str] = {}

    def walk(name: str, trail: list[str]) -> None:
        state[name] = "open"
        for target in sorted(graph[name]):
            if state.get(target) == "open":
                cycle = [*trail[trail.index(target) :], target] if target in trail else [target]
                raise AssertionError(f"import cycle: {' -> '.join(cycle)}")
            if target not in state:
                walk(target, [*trail, target])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            walk(name, [name])
    # the walk saw the layers named in ARCHITECTURE.md, lowest first
    assert "mnistkit.trainer" in graph["mnistkit.run"]
    assert "mnistkit.trainer" not in graph["mnistkit.callbacks"]
    assert "mnistkit.checkpoints" not in graph["mnistkit.models._registry"]
    # checkpoints is a package: the training state knows the callbacks only as types
    assert "mnistkit.callbacks" not in graph["mnistkit.checkpoints.training_state"]
    assert "mnistkit.trainer" not in graph["mnistkit.checkpoints.training_state"]


def test_the_checkpoints_package_is_used_through_its_public_names() -> None:
    # the ensemble's resume check once reached into a private name of checkpoints; the rule
    # of what may change on a resume is now public (resume_conflicts), and lives once
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.parent.name == "checkpoints":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "mnistkit.checkpoints"
            ):
                names = [a.name for a in node.names]
                if node.module != "mnistkit.checkpoints" or any(n.startswith("_") for n in names):
                    bad.append(f"{path.relative_to(ROOT)}: from {node.module} import {names}")
    assert not bad, bad
