"""Mutation testing of the core modules with mutmut, each against its own fast tests.

Run it through tox (``tox -e mutation``, not part of the default run: it is slow) or
directly from the repository root::

    python tests/mutation.py                      # every core module
    python tests/mutation.py metrics optim        # some of them
    python tests/mutation.py --list               # the modules and the tests each one runs

Each module is mutated in its own work folder (``build/mutation/<module>/``, a copy of
``mnistkit/``, ``tests/`` and ``pyproject.toml`` with a ``setup.cfg`` saying what mutmut
mutates and which tests it may run). mutmut first runs that module's test selection once
to record which tests call which function, then runs each mutant against only the selected
tests that call the mutated function, in a process forked from one that has already
imported torch, so a mutant costs about the time of its tests.

What it writes: ``build/mutation/report.md`` (killed / survived / timeout / no tests per
module, the score, and the diff of every mutant not killed) and ``build/mutation/report.json``.
A module's result stays in its folder, so running one module updates its part of the
report and keeps the others'.

mutmut mutates code inside functions and methods only: module-level statements (such as
the entries of ``mnistkit.optim.OPTIMIZERS``) are not mutated, and tests pin them directly.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Target:
    """One core module: the files to mutate and the pytest arguments that select its tests."""

    files: tuple[str, ...]
    tests: tuple[str, ...]


#: The core modules. Each selection is the fast tests that exercise the module (seconds in
#: all); the slow accuracy tests are left out: they train for minutes and check far less
#: per second than these.
TARGETS: dict[str, Target] = {
    "metrics": Target(("mnistkit/metrics/*",), ("tests/test_metrics.py",)),
    "optim": Target(
        ("mnistkit/optim.py",),
        (
            "tests/test_optim.py",
            "tests/test_options.py",
            "tests/test_trainer.py",
            "-k",
            "test_optim or optimizer or schedule or resume or interrupted or momentum "
            "or weight_decay or lr",
        ),
    ),
    "imaging": Target(("mnistkit/imaging.py",), ("tests/test_imaging.py",)),
    "checkpoints": Target(
        ("mnistkit/checkpoints/model_file.py", "mnistkit/checkpoints/training_state.py"),
        (
            "tests/test_checkpoints.py",
            "tests/test_fuzz_model_files.py",
            "tests/test_roundtrip.py",
            "tests/test_notebooks.py::test_model_metadata_html_lists_the_fields",
            "tests/test_trainer.py::test_interrupted_then_resumed_equals_uninterrupted",
            "tests/test_trainer.py::test_resume_refuses_a_different_configuration",
            "tests/test_reliability.py::test_divergence_keeps_the_last_good_state",
        ),
    ),
    "loaders": Target(
        ("mnistkit/loaders.py",),
        (
            "tests/test_loaders.py",
            "tests/test_options.py::test_drop_last_drops_the_short_batch",
            "tests/test_distributed.py::test_shards_see_every_example_once_per_epoch",
            "tests/test_distributed.py::test_loader_checks_rank",
        ),
    ),
    "datasets": Target(
        (
            "mnistkit/datasets/__init__.py",
            "mnistkit/datasets/_cache.py",
            "mnistkit/datasets/_registry.py",
            "mnistkit/datasets/idx.py",
            "mnistkit/datasets/split.py",
        ),
        (
            "tests/test_datasets.py",
            "-k",
            "not bounded_memory and not normalisation_constants",
        ),
    ),
    "callbacks": Target(
        ("mnistkit/callbacks.py",),
        (
            "tests/test_callbacks.py",
            "tests/test_options.py",
            "tests/test_trainer.py::test_custom_module_and_callbacks",
            "tests/test_trainer.py::test_early_stopping_stops",
            "tests/test_trainer.py::test_early_stopping_needs_the_monitored_key",
            "tests/test_trainer.py::test_progress_bar_draws_each_epoch",
            "tests/test_trainer.py::test_fit_learns_and_history_is_complete",
            "tests/test_trainer.py::test_interrupted_then_resumed_equals_uninterrupted",
            "tests/test_reliability.py::test_divergence_keeps_the_last_good_state",
            "tests/test_reliability.py::test_divergence_stops_with_the_step_and_writes_nothing",
        ),
    ),
    "trainer": Target(
        ("mnistkit/trainer.py",),
        (
            "tests/test_trainer.py",
            "tests/test_options.py",
            "tests/test_reliability.py",
            "tests/test_accuracy.py::test_ema_weights_are_what_is_evaluated_and_saved",
            "tests/test_accuracy.py::test_resume_continues_the_weight_average",
            "tests/test_accuracy.py::test_ema_follows_its_formula_step_by_step",
            "tests/test_accuracy.py::test_validation_reads_the_weight_average",
            "tests/test_distributed.py::test_a_one_process_group_trains_as_no_group",
            "-m",
            "not slow",
            "-k",
            "not documented_accuracy and not compiled and not same_seed and not locked_folder",
        ),
    ),
}

#: How mutmut names each result (its exit-code table), in report order.
STATUSES = (
    "killed",
    "timeout",
    "survived",
    "no tests",
    "suspicious",
    "segfault",
    "skipped",
    "not checked",
)


def _setup_cfg(target: Target) -> str:
    def block(name: str, values: tuple[str, ...]) -> str:
        return f"{name} =\n" + "".join(f"    {v}\n" for v in values)

    return (
        "[mutmut]\n"
        + block("source_paths", ("mnistkit",))
        + block("only_mutate", target.files)
        + block("pytest_add_cli_args_test_selection", target.tests)
        + block("pytest_add_cli_args", ("-p", "no:cacheprovider", "-p", "no:randomly"))
        # a mutant that loops forever is stopped after 5x its tests' time (+2 s)
        + "timeout_multiplier = 5\n"
        + "timeout_constant = 2\n"
        + "use_git_change_detection = false\n"
    )


def _copy_tree(name: str, work: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis", ".pytest_cache")
    shutil.copytree(ROOT / name, work / name, ignore=ignore, dirs_exist_ok=True)


def _prepare(module: str, work: Path, *, fresh: bool) -> None:
    if fresh and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    # copytree keeps modification times, so mutmut sees an unchanged source file as
    # already mutated and keeps its results when --keep reuses the folder
    _copy_tree("mnistkit", work)
    _copy_tree("tests", work)
    shutil.copy2(ROOT / "pyproject.toml", work / "pyproject.toml")
    (work / "setup.cfg").write_text(_setup_cfg(TARGETS[module]))


def _mutmut(work: Path, *args: str, capture: bool = False) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "from mutmut.__main__ import cli; cli()", *args]
    return subprocess.run(command, cwd=work, text=True, capture_output=capture, check=False)


def _results(work: Path) -> dict[str, str]:
    """mutant name → status, read from mutmut's ``.meta`` files."""
    from mutmut.stats import status_by_exit_code

    results: dict[str, str] = {}
    for meta in sorted((work / "mutants").rglob("*.py.meta")):
        data = json.loads(meta.read_text())
        for name, code in data["exit_code_by_key"].items():
            results[name] = status_by_exit_code[code]
    return results


#: Prints the diff of each mutant named on stdin, as JSON; run in a module's work folder
#: (one process for all of them: ``mutmut show`` would start one per mutant).
_SHOW = """
import json, sys
from mutmut.mutation.diff_apply import find_mutant, get_diff_for_mutant
names = json.load(sys.stdin)
print(json.dumps({n: get_diff_for_mutant(n, path=find_mutant(n).path) for n in names}))
"""


def _summarise(module: str, work: Path, seconds: float | None) -> dict[str, object]:
    results = _results(work)
    counts = Counter(results.values())
    total = len(results)
    left = {name: status for name, status in sorted(results.items()) if status != "killed"}
    shown = subprocess.run(
        [sys.executable, "-c", _SHOW],
        cwd=work,
        input=json.dumps(list(left)),
        text=True,
        capture_output=True,
        check=True,
    )
    diffs = {name: diff.strip() for name, diff in json.loads(shown.stdout).items()}
    summary: dict[str, object] = {
        "module": module,
        "files": list(TARGETS[module].files),
        "tests": list(TARGETS[module].tests),
        "total": total,
        "counts": {status: counts.get(status, 0) for status in STATUSES},
        # no score for a module whose run was cut short: the mutants run first are the
        # cheapest, not a sample
        "killed_percent": (
            round(100 * counts.get("killed", 0) / total, 1)
            if total and not counts.get("not checked")
            else None
        ),
        "seconds": round(seconds) if seconds is not None else None,
        "not_killed": left,
        "diffs": diffs,
    }
    (work / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _report(out: Path) -> None:
    summaries = [
        json.loads((out / m / "summary.json").read_text())
        for m in TARGETS
        if (out / m / "summary.json").is_file()
    ]
    (out / "report.json").write_text(json.dumps(summaries, indent=2) + "\n")
    lines = [
        "# Mutation testing report",
        "",
        "| module | mutants | killed | timeout | survived | no tests | other | killed % "
        "| last run |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in summaries:
        c = s["counts"]
        other = sum(c[k] for k in ("suspicious", "segfault", "skipped", "not checked"))
        lines.append(
            f"| {s['module']} | {s['total']} | {c['killed']} | {c['timeout']} | "
            f"{c['survived']} | {c['no tests']} | {other} | "
            f"{s['killed_percent'] if s['killed_percent'] is not None else 'incomplete'} | "
            f"{s['seconds']} s |"
        )
    for s in summaries:
        lines += ["", f"## {s['module']}", "", "Tests: `pytest " + " ".join(s["tests"]) + "`", ""]
        if not s["not_killed"]:
            lines.append("Every mutant was killed.")
        for name, status in s["not_killed"].items():
            lines += [f"### {name}: {status}", "", "```diff", s["diffs"][name], "```", ""]
    (out / "report.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", metavar="MODULE", help=", ".join(TARGETS))
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "mutation")
    parser.add_argument("--max-children", type=int, default=1, help="parallel mutants")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="reuse a module's folder: only mutants without a result (new or changed "
        "functions) run again; add --retest to rerun the ones not killed",
    )
    parser.add_argument("--retest", action="store_true", help="with --keep: rerun the survivors")
    parser.add_argument("--list", action="store_true", help="print each module's tests and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name, target in TARGETS.items():
            print(f"{name}: {' '.join(target.files)}\n    pytest {' '.join(target.tests)}")
        return 0
    unknown = sorted(set(args.modules) - set(TARGETS))
    if unknown:
        parser.error(f"unknown module(s) {unknown}; expected some of: {', '.join(TARGETS)}")
    status = 0
    for module in args.modules or list(TARGETS):
        work = args.out / module
        _prepare(module, work, fresh=not args.keep)
        names: list[str] = []
        if args.keep and args.retest and (work / "mutants").is_dir():
            names = [n for n, s in _results(work).items() if s != "killed"]
            # mutmut records which tests call each function for new tests only: forget it,
            # so that a test changed to call more functions is run for their mutants too
            (work / "mutants" / "mutmut-stats.json").unlink(missing_ok=True)
        print(f"== {module}: mutating {' '.join(TARGETS[module].files)}", flush=True)
        start = time.monotonic()
        run = _mutmut(work, "run", "--max-children", str(args.max_children), *names)
        if run.returncode == 0 and names and "not checked" in _results(work).values():
            # a changed test selection resets every result, not only the named ones
            run = _mutmut(work, "run", "--max-children", str(args.max_children))
        seconds = time.monotonic() - start
        if run.returncode != 0:
            print(f"mutmut failed on {module} (exit {run.returncode})", file=sys.stderr)
            status = 1
            continue
        summary = _summarise(module, work, seconds)
        print(f"== {module}: {summary['counts']} ({summary['killed_percent']}% killed)")
        _report(args.out)
    print(f"report: {args.out / 'report.md'}")
    return status


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
