"""The one atomic writer every file mnistkit writes goes through."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mnistkit import get_model, save_model
from mnistkit._io import atomic_open, atomic_path, write_json, write_text


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def test_new_files_get_the_mode_of_a_normal_file(tmp_path: Path, umask_022: None) -> None:
    text = write_text(tmp_path / "a" / "b.txt", "hello")  # missing folders are created
    model = save_model(get_model("linear"), tmp_path / "m.safetensors")
    assert text.read_text() == "hello"
    for path in (text, model):
        assert path.stat().st_mode & 0o777 == 0o644, path
    os.umask(0o077)  # a private umask is respected too
    private = write_json(tmp_path / "p.json", {"x": 1})
    assert private.stat().st_mode & 0o777 == 0o600
    assert private.read_text() == '{\n  "x": 1\n}\n'


def test_a_failure_leaves_the_old_file_and_no_temporary_file(tmp_path: Path) -> None:
    target = write_text(tmp_path / "metrics.json", "old")

    def interrupted_write() -> None:
        with atomic_open(target, "w") as handle:
            handle.write("half of the new cont")
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        interrupted_write()
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]
    with pytest.raises(TypeError):  # not serialisable: nothing is written at all
        write_json(tmp_path / "bad.json", {"x": object()})
    assert not (tmp_path / "bad.json").exists()


def test_the_temporary_file_is_beside_the_target_and_renamed(tmp_path: Path) -> None:
    target = tmp_path / "state.pt"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".state.pt.")
        assert tmp.exists() and not target.exists()
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new" and not tmp.exists()
    with pytest.raises(ValueError, match="mode"), atomic_open(target, "a"):
        pass  # pragma: no cover - never entered
