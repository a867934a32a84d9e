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

import pytest

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
LAZY = (
    "matplotlib.pyplot",
    "torch.utils.tensorboard",
    "tensorboard",
    "captum",
    "optuna",
    "mlflow",
    "sklearn",
)


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
    # import mnistkit leaves pyplot (and its backend) and the optional extras alone
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
    assert "mnistkit.trainer" in graph["mnistkit.run._single"]
    assert "mnistkit.trainer" not in graph["mnistkit.callbacks"]
    assert "mnistkit.checkpoints" not in graph["mnistkit.models._registry"]


def test_public_names_are_imported_lazily_and_all_resolve() -> None:
    # ``import mnistkit`` alone loads neither PyTorch nor any feature module (PEP 562);
    # each name in __all__ then resolves to the object of the module the table names
    out = _python(
        "import sys, mnistkit\n"
        "print('torch' in sys.modules, 'mnistkit.trainer' in sys.modules)\n"
        "import importlib\n"
        "homes = {**{n: m for m, ns in mnistkit._NAMES.items() for n in ns}}\n"
        "bad = [n for n in mnistkit.__all__ if n in homes and getattr(mnistkit, n) is not "
        "getattr(importlib.import_module(homes[n]), n)]\n"
        "missing = [n for n in mnistkit.__all__ if not hasattr(mnistkit, n)]\n"
        "print(bad, missing)\n"
    )
    assert out.split("\n")[:2] == ["False False", "[] []"]


def test_lazy_table_and_type_checking_imports_agree() -> None:
    # the names editors and mypy see (the ``if TYPE_CHECKING:`` imports) are the names the
    # lazy table serves, and both are exactly ``__all__`` less the eager ones
    import mnistkit

    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    block = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name)
        if node.test.id == "TYPE_CHECKING"
    )
    typed = {
        alias.asname or alias.name
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    lazy = set(mnistkit._SUBMODULES) | set(mnistkit._HOME)
    assert typed == lazy
    eager = {"__version__"} | {n for n in mnistkit.__all__ if n.endswith(("Error", "Warning"))}
    assert lazy == set(mnistkit.__all__) - eager
    assert not lazy & eager


def test_import_mnistkit_does_not_load_torchvision() -> None:
    # The data sets' mirrors and checksums are data in mnistkit.datasets._registry; importing
    # torchvision for them cost seconds at every start (tests/test_datasets.py checks that the
    # copies still agree with torchvision's).
    out = _python(
        "import sys, mnistkit, mnistkit.datasets\n"
        "mnistkit.datasets.get_info('fashion-mnist')\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] == 'torchvision'))\n"
    )
    assert out.strip() == "[]"


def test_pixels_are_converted_in_one_ground_module() -> None:
    # uint8 -> [0, 1] floats lives in mnistkit._pixels, which imports no other mnistkit module,
    # so the data sets, the loaders and inference can all use it
    pixels = PACKAGE / "_pixels.py"
    assert not any(name.startswith("mnistkit") for name in _imported_modules(pixels))
    users = ("datasets/split.py", "loaders.py", "inference.py")
    for path in users:
        assert "mnistkit._pixels" in _imported_modules(PACKAGE / path), path


def _run_time_imports(path: Path, modules: set[str]) -> set[str]:
    """The package modules ``path`` may import at run time: module-level statements and
    imports inside functions and methods, leaving out ``if TYPE_CHECKING:`` blocks only."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If):
            test = node.test
            if isinstance(test, ast.Name) and test.id == "TYPE_CHECKING":
                for statement in node.orelse:
                    visit(statement)
                return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in modules else node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {name for name in found if name in modules and name != "mnistkit"}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (module -> modules it imports) as a path, or ``None``."""
    state: dict[str, str] = {}

    def walk(name: str, trail: list[str]) -> list[str] | None:
        state[name] = "open"
        for target in sorted(graph[name]):
            if state.get(target) == "open":
                return [*trail[trail.index(target) :], target]
            if target not in state and (found := walk(target, [*trail, target])):
                return found
        state[name] = "done"
        return None

    for name in sorted(graph):
        if name not in state and (found := walk(name, [name])):
            return found
    return None


def test_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert _cycle(graph) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles_at_run_time_counting_imports_inside_functions() -> None:
    # An import inside a function runs when the function is called; an import circle that
    # goes through one works only while every module finishes loading first, so none is kept.
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(paths)
    graph = {name: _run_time_imports(path, modules) for name, path in paths.items()}
    cycle = _cycle(graph)
    assert cycle is None, f"import cycle at run time: {' -> '.join(cycle or [])}"
    # the tools of issue 28 sit below the trainer and the recipes, beside tensorboard
    for module in ("mnistkit.tune._lr_find", "mnistkit.tune._search", "mnistkit.sklearn"):
        assert "mnistkit.cli" not in graph[module] and "mnistkit.run" not in graph[module]
    assert "mnistkit.trainer" in graph["mnistkit.tune._search"]
    assert "mnistkit.callbacks" in graph["mnistkit.mlflow"]
    assert "mnistkit.mlflow" in graph["mnistkit.cli._commands"]
    assert "mnistkit.mlflow" not in _top_level_imports(paths["mnistkit.cli._commands"], modules)
    # the imports inside functions are in the graph: TensorBoard logging draws figures lazily
    assert "mnistkit.plotting" in graph["mnistkit.tensorboard"]
    assert "mnistkit.plotting" not in _top_level_imports(paths["mnistkit.tensorboard"], modules)
    # one registration path: the registry knows no model module, the models register themselves
    models = {name for name in modules if name.startswith("mnistkit.models")}
    assert not graph["mnistkit.models._registry"] & models
    assert "mnistkit.models._registry" in graph["mnistkit.models.networks"]
    assert "mnistkit.models._registry" in graph["mnistkit.models.ensemble"]
    # augment owns the Augment protocol; the loaders take it from there
    assert "mnistkit.augment" in graph["mnistkit.loaders"]
    assert "mnistkit.loaders" not in graph["mnistkit.augment"]
    # the synthetic non-digits sit in the data row beside augment: ground modules only, and
    # the trainer draws them (outlier exposure)
    assert graph["mnistkit.outliers"] <= {"mnistkit._validation", "mnistkit.exceptions"}
    assert "mnistkit.outliers" in graph["mnistkit.trainer"]

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


@pytest.mark.parametrize(
    "argv",
    [["--version"], ["--help"], ["predict", "--help"], ["lr-find", "--help"], ["tune", "--help"]],
)
def test_the_command_line_answers_without_torch(argv: list[str]) -> None:
    # `mnistkit --version` and `--help` build the parser (TrainConfig's flags and their
    # checks) without loading PyTorch or NumPy (issue 30: they took 6.5 s)
    out = _python(
        "import contextlib, io, sys\n"
        "from mnistkit.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        f"    main({argv!r})\n"
        "print('torch' in sys.modules, 'numpy' in sys.modules)\n"
    )
    assert out.split() == ["False", "False"]


#: Libraries the tests check the statistics against; the library computes them itself.
REFERENCE_LIBRARIES = ("scipy", "statsmodels", "sklearn")


def test_metrics_compute_their_statistics_without_scipy_statsmodels_or_sklearn() -> None:
    metrics = ROOT / "mnistkit" / "metrics"
    for path in sorted(metrics.glob("*.py")):
        imported = _imported_modules(path)
        assert not any(n.split(".")[0] in REFERENCE_LIBRARIES for n in imported), path.name
    out = _python(
        "import sys\n"
        "from mnistkit import metrics\n"
        "metrics.compare({'a': [0, 1, 1], 'b': [0, 0, 1]}, [0, 1, 1])\n"
        "metrics.ood_report(metrics.ood_scores([[2.0, 0.0], [0.1, 0.0]]), [0.5])\n"
        "metrics.Report.from_predictions([0, 1], [0, 1]).to_dict()\n"
        f"print(*[name in sys.modules for name in {REFERENCE_LIBRARIES!r}])\n"
    )
    assert out.split() == ["False"] * len(REFERENCE_LIBRARIES)
