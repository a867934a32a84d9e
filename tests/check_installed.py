"""Check the environment ``tox -e mindeps`` built: the declared lower bounds are installed.

Usage: ``python tests/check_installed.py --minimum tests/minimum-versions.txt``. Exits 1,
naming each difference, when an installed version is not the pinned one, when a declared
dependency is not pinned at the lower bound ``pyproject.toml`` declares for it (more pins
may serve the tests), or when ``mnistkit`` is imported from a source tree instead of the
installed wheel.
"""

from __future__ import annotations

import argparse
import re
import sys
from importlib import metadata
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.strip().lower()] = version.strip()
    return pins


def _declared() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    bounds = {}
    for requirement in project["dependencies"]:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9.]+)", requirement.replace(" ", ""))
        if match is None:
            raise SystemExit(f"pyproject.toml: {requirement!r} has no plain '>=' lower bound")
        bounds[match[1].lower()] = match[2]
    return bounds


def _same(a: str, b: str) -> bool:
    # 3.10 and 3.10.0 are the same release
    def parts(v: str) -> list[int]:
        numbers = [int(p) for p in v.split(".")]
        while numbers and numbers[-1] == 0:
            numbers.pop()
        return numbers

    return parts(a) == parts(b)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minimum", type=Path, required=True)
    args = parser.parse_args()
    pins, declared = _pins(args.minimum), _declared()
    problems = []
    # every declared dependency is pinned at its bound (more pins may serve the tests)
    if set(declared) - set(pins):
        problems.append(f"pyproject.toml declares {sorted(set(declared) - set(pins))} unpinned")
    for name, version in sorted(pins.items()):
        installed = metadata.version(name).split("+")[0]
        if installed != version:
            problems.append(f"{name}: installed {installed}, pinned {version}")
        if name in declared and not _same(declared[name], version):
            problems.append(
                f"{name}: pinned {version}, but pyproject.toml declares >={declared[name]}"
            )
    import mnistkit

    location = Path(mnistkit.__file__).resolve()
    if location.is_relative_to(ROOT / "mnistkit"):  # (the tox environment may be under ROOT)
        problems.append(f"mnistkit imported from the source tree ({location}), not the wheel")
    for problem in problems:
        print(f"check_installed: {problem}", file=sys.stderr)
    if not problems:
        print(f"check_installed: {', '.join(f'{n} {v}' for n, v in sorted(pins.items()))}")
        print(f"check_installed: mnistkit {mnistkit.__version__} from {location.parent}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
