"""The one atomic writer every file mnistkit writes goes through."""

from __future__ import annotations

import errno
import os
import urllib.error
from collections.abc import Iterator
from pathlib import Path

import pytest
from _full_disk import NO_SPACE, fill_disk

from mnistkit import ConfigError, get_model, save_model
from mnistkit._io import append_text, atomic_open, atomic_path, write_json, write_text
from mnistkit.exceptions import MnistkitError, WriteError


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


def test_a_refused_write_is_one_write_error_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = write_json(tmp_path / "metrics.json", {"old": True})
    fill_disk(monkeypatch, room=3)
    with pytest.raises(WriteError) as caught:
        write_json(target, {"new": True})
    error = caught.value
    assert str(error) == f"{target}: cannot write the file ([Errno 28] {NO_SPACE})."
    assert isinstance(error, MnistkitError) and isinstance(error, OSError)
    assert error.errno == errno.ENOSPC and isinstance(error.__cause__, OSError)
    assert target.read_text() == '{\n  "old": true\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_only_errors_of_the_operating_system_become_write_errors(tmp_path: Path) -> None:
    target = tmp_path / "f.bin"

    def wrapped() -> None:  # a library's own error around a refused write, as torch.save's
        with atomic_path(target):
            try:
                raise OSError(errno.EROFS, os.strerror(errno.EROFS))
            except OSError:
                raise RuntimeError("[enforce fail] unexpected pos") from None

    with pytest.raises(WriteError, match=rf"^{target}: cannot write the file \(\[Errno 30\] "):
        wrapped()
    with pytest.raises(ConfigError), atomic_path(target):  # mnistkit's own errors pass
        raise ConfigError("bad value")
    with pytest.raises(KeyError), atomic_path(target):
        raise KeyError("x")
    # an OSError that is no refused write (a download's refused connection) is the caller's
    with pytest.raises(urllib.error.URLError), atomic_path(target):
        raise urllib.error.URLError(ConnectionRefusedError(errno.ECONNREFUSED, "refused"))
    with pytest.raises(ConnectionResetError), atomic_path(target):
        raise ConnectionResetError(errno.ECONNRESET, os.strerror(errno.ECONNRESET))
    target.touch()
    under_a_file = target / "a.txt"  # its folder cannot be made: a file is in the way
    with pytest.raises(WriteError) as caught:
        write_text(under_a_file, "x")
    assert str(caught.value).startswith(f"{under_a_file}: cannot write the file ([Errno ")
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_append_text_appends_and_reports_a_refused_write(tmp_path: Path) -> None:
    log = append_text(tmp_path / "log.txt", "a\n")
    append_text(log, "b\n")
    assert log.read_text() == "a\nb\n"
    with pytest.raises(WriteError, match=rf"^{tmp_path}: cannot write the file \(\[Errno 21\] "):
        append_text(tmp_path, "c")  # a folder
