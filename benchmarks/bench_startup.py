"""How long the command line makes a user wait, around the training and without it (issue 30).

One run measures, each in a fresh process, repeated (``--repeats``, median reported) and
interleaved so that a busy moment spreads over all of them:

* ``python -c pass``, ``import torch``, ``import mnistkit``;
* ``mnistkit --version``, ``mnistkit --help`` and every command's ``--help`` (the commands
  are read from the parser, so new ones are measured too);
* ``mnistkit predict pretrained:default IMAGE`` on one picture (a test digit, enlarged);
* ``mnistkit train --recipe fast --val-fraction 0`` (``--train-repeats`` times): its wall time
  against the training time its ``metrics.json`` records.

Both wall-clock and CPU seconds (user + system, of the process) are recorded: on a busy
machine the CPU seconds move less. The table compares each with the issue's targets
(``--help`` <= 0.3 s; ``import mnistkit`` <= ``import torch`` + 0.3 s; ``predict`` <=
``import torch`` + 0.7 s; ``train`` <= training + 4 s). ``--reference`` adds
``compare_reference.py --quick --methods reference fast`` (minutes) for the ratio of the
times to 99%.

Usage::

    MNISTKIT_DATA_DIR=/path/to/data python benchmarks/bench_startup.py
    python benchmarks/bench_startup.py --repeats 3 --train-repeats 0     # no training
    python benchmarks/bench_startup.py --reference                        # + fast vs reference
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _common import RESULTS_DIR, environment, format_table, median, resolve_data_root, write_json

ROOT = Path(__file__).resolve().parents[1]

#: The issue's targets: (what, compared with, most seconds more).
TARGETS: dict[str, tuple[str | None, float]] = {
    "import mnistkit": ("import torch", 0.3),
    "predict one image": ("import torch", 0.7),
    "train fast (wall)": ("train fast (training)", 4.0),
}
HELP_LIMIT = 0.3

_LIST_COMMANDS = """
import argparse, json
from mnistkit.cli._parser import build_parser

def commands(parser, path):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield [*path, name]
                yield from commands(sub, [*path, name])

print(json.dumps(list(commands(build_parser(), []))))
"""


def _environ(data_root: Path) -> dict[str, str]:
    # this checkout's mnistkit, whatever is installed
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, PYTHONPATH=path, MNISTKIT_DATA_DIR=str(data_root), MPLBACKEND="Agg")
    # compiled modules cached as an installed wheel has them (pip compiles at install);
    # with PYTHONDONTWRITEBYTECODE set, every start of a checkout compiles mnistkit anew
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def timed(command: Sequence[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall-clock and CPU seconds (user + system) of one run of ``command``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed (exit {done.returncode}):\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _digit_picture(data_root: Path, folder: Path) -> Path:
    """The first MNIST test digit, dark on white and enlarged to 200x200, as a PNG."""
    from PIL import Image

    with gzip.open(data_root / "mnist" / "t10k-images-idx3-ubyte.gz", "rb") as handle:
        pixels = handle.read(16 + 28 * 28)[16:]
    image = Image.frombytes("L", (28, 28), bytes(255 - p for p in pixels))
    path = folder / "digit.png"
    image.resize((200, 200), Image.Resampling.BILINEAR).save(path)
    return path


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--repeats", type=int, default=5, help="runs of each short command")
    parser.add_argument("--train-repeats", type=int, default=1, help="runs of train fast")
    parser.add_argument(
        "--reference",
        action="store_true",
        help="also run compare_reference.py --quick --methods reference fast",
    )
    parser.add_argument("--data-dir", default=None, help="folder holding mnist/")
    parser.add_argument("--json", type=Path, default=RESULTS_DIR / "bench_startup.json")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    data_root = resolve_data_root(args.data_dir)
    env = _environ(data_root)
    env_before = environment()
    print(f"load average {env_before['load_average']}", flush=True)
    python = sys.executable
    listed = subprocess.run(
        [python, "-c", _LIST_COMMANDS], env=env, cwd=ROOT, capture_output=True, text=True
    )
    commands: list[list[str]] = json.loads(listed.stdout)
    measured: dict[str, list[tuple[float, float]]] = {}
    train_runs: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="mnistkit-bench-") as tmp:
        picture = _digit_picture(data_root, Path(tmp))
        short: dict[str, list[str]] = {
            "python -c pass": [python, "-c", "pass"],
            "import torch": [python, "-c", "import torch"],
            "import mnistkit": [python, "-c", "import mnistkit"],
            "mnistkit --version": [python, "-m", "mnistkit", "--version"],
            "mnistkit --help": [python, "-m", "mnistkit", "--help"],
            **{
                f"mnistkit {' '.join(c)} --help": [python, "-m", "mnistkit", *c, "--help"]
                for c in commands
            },
            "predict one image": [python, "-m", "mnistkit", "predict", str(picture)],
        }
        for repeat in range(args.repeats):
            print(f"repeat {repeat + 1}/{args.repeats} ...", flush=True)
            for name, command in short.items():
                measured.setdefault(name, []).append(timed(command, env, Path(tmp)))
        for repeat in range(args.train_repeats):
            print(f"train fast {repeat + 1}/{args.train_repeats} ...", flush=True)
            out = Path(tmp) / f"run{repeat}"
            command = [python, "-m", "mnistkit", "train", "--recipe", "fast", "--quiet"]
            command += ["--val-fraction", "0", "--no-download", "--out", str(out)]
            wall, cpu = timed(command, env, Path(tmp))
            metrics = json.loads((out / "metrics.json").read_text())
            train_runs.append(
                {
                    "wall_seconds": wall,
                    "cpu_seconds": cpu,
                    "train_seconds": metrics["train_seconds"],
                    "test_accuracy": metrics["test_accuracy"],
                    "threads": metrics["threads"],
                    "precision": metrics["precision"],
                }
            )
    results: dict[str, dict[str, Any]] = {
        name: {
            "wall_seconds": median([w for w, _ in runs]),
            "cpu_seconds": median([c for _, c in runs]),
            "runs": [list(run) for run in runs],
        }
        for name, runs in measured.items()
    }
    if train_runs:
        results["train fast (wall)"] = {
            "wall_seconds": median([r["wall_seconds"] for r in train_runs]),
            "cpu_seconds": median([r["cpu_seconds"] for r in train_runs]),
            "runs": train_runs,
        }
        train_s = median([r["train_seconds"] for r in train_runs])
        results["train fast (training)"] = {"wall_seconds": train_s, "cpu_seconds": None}

    rows = []
    for name, record in results.items():
        target = ""
        base, extra = TARGETS.get(name, (None, 0.0))
        if name.endswith("--help") or name == "mnistkit --version":
            met = record["wall_seconds"] <= HELP_LIMIT
            record["target"] = {"seconds": HELP_LIMIT, "met": met}
            target = f"<= {HELP_LIMIT:.1f} s: {'yes' if met else 'NO'}"
        elif base is not None and base in results:
            more = record["wall_seconds"] - results[base]["wall_seconds"]
            if name == "train fast (wall)":  # each run's own wall - training, then the median
                more = median([r["wall_seconds"] - r["train_seconds"] for r in train_runs])
            base_cpu, cpu = results[base]["cpu_seconds"], record["cpu_seconds"]
            more_cpu = None if base_cpu is None or cpu is None else cpu - base_cpu
            met = more <= extra
            record["target"] = {
                "than": base,
                "more_seconds": more,
                "more_cpu_seconds": more_cpu,
                "at_most": extra,
                "met": met,
            }
            shown_cpu = "" if more_cpu is None else f" (cpu {more_cpu:+.2f})"
            target = f"{base} {more:+.2f}{shown_cpu} <= +{extra:.1f}: {'yes' if met else 'NO'}"
        cpu = record["cpu_seconds"]
        rows.append(
            [name, f"{record['wall_seconds']:.2f}", "—" if cpu is None else f"{cpu:.2f}", target]
        )
    print()
    print(f"median of {args.repeats} runs (train: {args.train_repeats}); seconds")
    print(format_table(["what", "wall s", "cpu s", "target"], rows))

    reference: dict[str, Any] | None = None
    if args.reference:
        compare_json = Path(args.json).with_name("bench_startup_compare.json")
        command = [python, str(Path(__file__).with_name("compare_reference.py")), "--quick"]
        command += ["--methods", "reference", "fast", "--json", str(compare_json)]
        if args.data_dir:
            command += ["--data-dir", args.data_dir]
        subprocess.run(command, env=env, cwd=ROOT, check=True)
        compared = json.loads(compare_json.read_text())
        by_method = {r["method"]: r for r in compared["results"]}
        ref_s = by_method["reference"]["seconds_to_target"]
        fast_s = by_method["fast"]["seconds_to_target"]
        ratio = ref_s / fast_s if ref_s and fast_s else None
        reference = {"reference_s_to_99": ref_s, "fast_s_to_99": fast_s, "ratio": ratio}
        shown = "—" if ratio is None else f"{ratio:.1f}x"
        print(f"fast to 99%: {fast_s} s; reference: {ref_s} s; fast is {shown} faster (>= 30)")

    env_after = environment()
    print(f"load average before {env_before['load_average']}, after {env_after['load_average']}")
    payload = {
        "benchmark": "bench_startup",
        "command": " ".join(["python", "benchmarks/bench_startup.py", *(argv or sys.argv[1:])]),
        "settings": {"repeats": args.repeats, "train_repeats": args.train_repeats},
        "results": results,
        "fast_vs_reference": reference,
        "environment_before": env_before,
        "environment_after": env_after,
    }
    print(f"wrote {write_json(args.json, payload)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
