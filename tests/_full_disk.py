"""A full disk without filling one: mnistkit's temporary files refuse their writes.

:func:`fill_disk` makes every write to a temporary file of :mod:`mnistkit._io` (named
``.<name>.<hex>.tmp``, opened with :meth:`pathlib.Path.open`) fail with ``ENOSPC`` once
``room`` bytes were written, as :func:`os.write` does on a full file system. The writers
above it (``torch.save``, safetensors' bytes, JSON, figures) meet the error exactly where
they would meet a real one.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

NO_SPACE = os.strerror(errno.ENOSPC)


class _FullFile:
    """A file object whose writes fail once ``room`` bytes are in it."""

    def __init__(self, handle: Any, room: int) -> None:
        self._handle, self._room, self._written = handle, room, 0

    def write(self, data: Any) -> int:
        if self._written + len(data) > self._room:
            raise OSError(errno.ENOSPC, NO_SPACE)
        self._written += len(data)
        return int(self._handle.write(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)

    def __enter__(self) -> _FullFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()


def fill_disk(monkeypatch: pytest.MonkeyPatch, room: int = 0) -> None:
    """From now on (until ``monkeypatch`` undoes it), temporary files hold ``room`` bytes."""
    real_open = Path.open

    def open_(self: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        handle = real_open(self, mode, *args, **kwargs)
        if self.name.endswith(".tmp") and ("w" in mode or "a" in mode):
            return _FullFile(handle, room)
        return handle

    monkeypatch.setattr(Path, "open", open_)
