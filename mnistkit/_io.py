"""Atomic file writes: the one way mnistkit writes a file (private).

Every file mnistkit writes (models, training states, metrics, histories, figures,
downloads) goes through :func:`atomic_path`: the content is written to a temporary file in
the destination's folder, flushed to disk with ``fsync``, and renamed over the destination
with :func:`os.replace`, which is atomic on one file system. A reader therefore sees the old
file or the new one, never half of one, and a failure (an exception, Ctrl-C) leaves the
destination as it was and no temporary file behind.

A write that the operating system refuses (a full disk, a read-only folder, a denied
permission) raises :class:`~mnistkit.exceptions.WriteError`, one line naming the file, in
place of the writer's own error: an :class:`OSError`, or an error of a library that wraps
one (:func:`torch.save` reports a failed write as ``RuntimeError: [enforce fail at
inline_container.cc...] unexpected pos ...``, with the :class:`OSError` as its context).
Writers therefore hand their bytes to a Python file object (:func:`atomic_open`), so
that the operating system's error reaches Python.

The temporary file is created with mode ``0o666`` filtered by the process's umask, exactly
as :func:`open` creates a new file, so the result has the mode a normal file would have
(``0o644`` under the usual umask ``022``), not the ``0o600`` of :func:`tempfile.mkstemp`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from mnistkit.exceptions import FolderLockedError, MnistkitError, WriteError

_LOCK_NAME = ".mnistkit.lock"

__all__ = [
    "append_text",
    "atomic_open",
    "atomic_path",
    "locked_folder",
    "write_error",
    "write_json",
    "write_text",
]


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    # Makes the rename itself durable; not possible on every platform (e.g. Windows).
    with contextlib.suppress(OSError):
        _fsync(folder)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a new, empty temporary file beside ``path``; it replaces ``path`` on success.

    Write the content to the yielded path by name (for libraries that take a file name,
    such as :func:`safetensors.torch.save_file`). When the block ends normally the file is
    fsynced and renamed onto ``path``; when it raises, the temporary file is removed and
    ``path`` is untouched. Missing parent folders are created.
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: never follow or reuse somebody else's file; 0o666 & ~umask like open().
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except OSError as exc:
        raise write_error(target, exc) from exc
    mode = tmp.stat().st_mode & 0o777
    try:
        yield tmp
        # a writer may have replaced the file with one of its own (safetensors writes 0600)
        if tmp.stat().st_mode & 0o777 != mode:
            os.chmod(tmp, mode)
        _fsync(tmp)
        os.replace(tmp, target)
    except Exception as exc:
        cause = _os_error(exc)
        # only a refused write is the writer's to report; any other failure of the block
        # (a download's refused connection is an OSError too) stays the caller's
        if cause is None or cause.errno not in _WRITE_ERRNOS or isinstance(exc, MnistkitError):
            raise
        raise write_error(target, cause) from exc
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_folder(target.parent)


#: The operating system's reasons for refusing a write: a full disk or quota, a read-only
#: file system, no permission, an I/O error, a file over the size limit.
_WRITE_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO, errno.EFBIG}
)


def _os_error(error: BaseException) -> OSError | None:
    """The :class:`OSError` that ``error`` is, or that caused it (a library's own error
    around a failed write), if any."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, OSError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def write_error(path: str | os.PathLike[str], error: OSError) -> WriteError:
    """The :class:`~mnistkit.exceptions.WriteError` reporting that ``path`` could not be
    written because of ``error``: one line, with the operating system's reason."""
    reason = error.strerror or str(error) or type(error).__name__
    code = f"[Errno {error.errno}] " if error.errno is not None else ""
    mapped = WriteError(f"{path}: cannot write the file ({code}{reason}).")
    mapped.errno = error.errno  # not strerror or filename: str() would then ignore the message
    return mapped


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike[str], mode: str = "w", *, encoding: str | None = "utf-8"
) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing (``"w"`` or ``"wb"``); see
    :func:`atomic_path` for what happens when the block ends."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open: mode must be 'w' or 'wb', but got {mode!r}")
    with atomic_path(path) as tmp:
        if mode == "wb":
            with tmp.open("wb") as handle:
                yield handle
        else:
            with tmp.open("w", encoding=encoding, newline="") as handle:
                yield handle


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    with atomic_open(path, "w") as handle:
        handle.write(text)
    return Path(path)


def append_text(path: str | os.PathLike[str], text: str) -> Path:
    """Append ``text`` (UTF-8) to ``path``, creating it if needed; returns the path.

    Not atomic (a log grows line by line), but a refused write raises
    :class:`~mnistkit.exceptions.WriteError` like every other writer.
    """
    target = Path(path)
    try:
        with target.open("a", encoding="utf-8", newline="") as handle:
            handle.write(text)
    except OSError as exc:
        raise write_error(target, exc) from exc
    return target


def write_json(path: str | os.PathLike[str], data: Any, *, indent: int | None = 2) -> Path:
    """Write ``data`` as JSON (with a final newline) to ``path`` atomically; returns the path.

    The data is serialised before the file is touched, so an unserialisable value raises
    :class:`TypeError` and leaves no file behind.
    """
    return write_text(path, json.dumps(data, indent=indent) + "\n")


if sys.platform == "win32":  # pragma: no cover - lock the lock file's first byte
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True


@contextlib.contextmanager
def locked_folder(folder: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold an exclusive lock on an output folder while a run writes into it.

    The lock is an advisory ``flock`` on ``<folder>/.mnistkit.lock``: the operating system
    releases it when the process ends, however it ends, so a killed run never leaves a
    stale lock. The lock file is removed when the block ends, and so is the folder when this
    call created it and nothing else was written into it.

    Raises
    ------
    FolderLockedError
        At once, if another process (or another block in this one) holds the lock.
    """
    target = Path(folder)
    created = not target.exists()
    target.mkdir(parents=True, exist_ok=True)
    lock = target / _LOCK_NAME
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        if not _try_lock(fd):
            os.close(fd)
            if created:
                with contextlib.suppress(OSError):
                    target.rmdir()
            raise FolderLockedError(
                f"{target}: another mnistkit run is writing into this folder (it holds "
                f"{lock}); wait for it to finish, or write somewhere else (--out)."
            )
        # The holder before us may have removed the file between our open and our lock:
        # then we locked a file nobody else can see, and must lock the current one instead.
        try:
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        yield target
    finally:
        lock.unlink(missing_ok=True)
        os.close(fd)  # closing releases the lock
        if created:
            with contextlib.suppress(OSError):  # not empty: it holds the run's files
                target.rmdir()
