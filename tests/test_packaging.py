"""The release artefacts: ``python -m build`` gives a wheel and an sdist that install and import
in a clean virtual environment.

The clean venv gets only the built wheel; its dependencies (torch alone is several GB) are
borrowed from the running interpreter's site-packages through a ``.pth`` path line, which adds
the folder to ``sys.path`` after the venv's own site-packages without running any of its
``.pth`` hooks, so the editable install of the checkout stays out of sight.
"""

from __future__ import annotations

import re
import subprocess
import sys
import sysconfig
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# the version the built artefacts must carry, as pyproject.toml declares it
VERSION = re.search(
    r'^version = "([^"]+)"$', (ROOT / "pyproject.toml").read_text(encoding="utf-8"), re.M
).group(1)  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return out


def test_wheel_contents(dist: Path) -> None:
    (wheel,) = dist.glob("mnistkit-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(info).decode()
        entry_points = archive.read(info.replace("METADATA", "entry_points.txt")).decode()
    assert "mnistkit/py.typed" in names
    assert {"mnistkit/__init__.py", "mnistkit/models/networks.py"} <= names
    assert "mnistkit/cli/__init__.py" in names  # the console script's module
    # the MIT licence travels with the wheel (PEP 639: License-File, under .dist-info/licenses/)
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "License-Expression: MIT\n" in metadata and "License-File: LICENSE\n" in metadata
    # user extras are the ecosystem features; development tools are dependency groups
    extras = set(re.findall(r"^Provides-Extra: (.+)$", metadata, re.M))
    assert extras == {"tensorboard", "explain", "tune", "notebook", "export", "mlflow", "sklearn"}
    assert not any(n.startswith(("tests/", "docs/", "examples/", "benchmarks/")) for n in names)
    assert f"Version: {VERSION}\n" in metadata
    assert "Requires-Dist: torch>=2.4.1" in metadata
    assert "Requires-Python: >=3.10" in metadata
    assert "mnistkit = mnistkit.cli:main" in entry_points


def test_sdist_contents(dist: Path) -> None:
    (sdist,) = dist.glob("mnistkit-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"pyproject.toml", "README.md", "LICENSE", "mnistkit/py.typed"} <= names
    assert "mnistkit/__init__.py" in names


def test_wheel_installs_and_imports_in_a_clean_venv(dist: Path, tmp_path: Path) -> None:
    (wheel,) = dist.glob("mnistkit-*.whl")
    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env)
    python = env / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(site) / "_borrowed_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    probe = (
        "import mnistkit, mnistkit.plotting, pathlib; "
        "print(mnistkit.__version__); print(pathlib.Path(mnistkit.__file__).resolve())"
    )
    result = subprocess.run(  # not from the checkout, whose mnistkit/ would shadow the wheel
        [str(python), "-c", probe],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    version, location = result.stdout.split()
    assert version == VERSION
    assert Path(location).is_relative_to(env.resolve())
    cli = subprocess.run(
        [str(env / "bin" / "mnistkit"), "--version"], capture_output=True, text=True, timeout=300
    )
    assert cli.returncode == 0
    assert cli.stdout.strip() == f"mnistkit {VERSION}"
