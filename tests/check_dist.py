"""Check the release artefacts as ``tox -e dist`` runs it: ``python tests/check_dist.py OUT``.

Builds the sdist and the wheel from this checkout into OUT, then: ``twine check --strict``
on both, ``check-wheel-contents`` on the wheel, the wheel's files (py.typed, LICENSE, the
bundled models and their manifest; no tests, docs, benchmarks or examples), and the wheel
built again from the sdist alone must hold the same files with the same bytes. Exits 1 with
one line per problem.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*argv: str) -> None:
    print("+", " ".join(argv), flush=True)
    subprocess.run(argv, check=True)


def _contents(wheel: Path) -> dict[str, str]:
    with zipfile.ZipFile(wheel) as archive:
        return {
            name: hashlib.sha256(archive.read(name)).hexdigest()
            for name in archive.namelist()
            if not name.endswith(".dist-info/RECORD")  # lists the others' sums, in any order
        }


def main() -> int:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("mnistkit-*"):
        old.unlink()
    _run(sys.executable, "-m", "build", "--outdir", str(out), str(ROOT))
    (wheel,) = out.glob("mnistkit-*.whl")
    (sdist,) = out.glob("mnistkit-*.tar.gz")
    _run(sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist))
    _run(sys.executable, "-m", "check_wheel_contents", str(wheel))
    problems = []
    files = _contents(wheel)
    needed = ["mnistkit/py.typed", "mnistkit/pretrained/manifest.json"]
    problems += [f"the wheel lacks {name}" for name in needed if name not in files]
    if not any(name.endswith(".dist-info/licenses/LICENSE") for name in files):
        problems.append("the wheel lacks its LICENSE (.dist-info/licenses/LICENSE)")
    if not any(n.startswith("mnistkit/pretrained/") and n.endswith(".safetensors") for n in files):
        problems.append("the wheel holds no bundled model (mnistkit/pretrained/*.safetensors)")
    stray = sorted(
        n for n in files if n.split("/")[0] in {"tests", "docs", "benchmarks", "examples"}
    )
    problems += [f"the wheel should not hold {name}" for name in stray]
    size = wheel.stat().st_size
    if size > 10_000_000:
        problems.append(f"the wheel is {size / 1e6:.1f} MB, over the 10 MB limit")
    with tarfile.open(sdist) as archive:
        names = {m.name.split("/", 1)[-1] for m in archive.getmembers()}
    problems += [f"the sdist lacks {n}" for n in ("LICENSE", "README.md") if n not in names]
    with tempfile.TemporaryDirectory() as tmp:
        # the wheel again, from the unpacked sdist alone (what a packager downstream does)
        with tarfile.open(sdist) as archive:
            archive.extractall(tmp, filter="data")
        (tree,) = Path(tmp).iterdir()
        _run(sys.executable, "-m", "build", "--wheel", "--outdir", f"{tmp}/again", str(tree))
        (again,) = Path(tmp, "again").glob("*.whl")
        rebuilt = _contents(again)
        for name in sorted(set(files) | set(rebuilt)):
            if files.get(name) != rebuilt.get(name):
                where = "differs" if name in files and name in rebuilt else "is in only one"
                problems.append(f"{name} {where} between the wheel and the wheel from the sdist")
    for problem in problems:
        print(f"check_dist: {problem}", file=sys.stderr)
    if not problems:
        summary = f"{wheel.name} ({size / 1e6:.2f} MB, {len(files)} files) and {sdist.name}"
        print(f"check_dist: {summary} OK")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
