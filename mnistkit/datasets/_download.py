"""Fetch one file from a list of mirrors, safely.

This private module is the network layer of :mod:`mnistkit.datasets`. It
knows nothing about MNIST: it takes a file name, a list of base URLs and a
directory, and leaves either a complete, verified file in that directory or
nothing at all.

How a download proceeds
-----------------------
For each mirror, in order, the file is streamed with :mod:`urllib.request`
into the temporary file that :func:`mnistkit._io.atomic_path` creates beside
the destination (hidden, ``.<filename>.<random>.tmp``). The body is rejected
if it is shorter than its ``Content-Length``, longer than the caller's
``max_bytes`` (reading stops there, so an endless or oversized body costs at
most that much), empty, or an HTML page (a captive portal or a mirror's error
page), and then handed to the caller's ``verify`` callback. Only a file that
passes all of this is flushed to disk and moved over the destination with
:func:`os.replace`, which is atomic on the same file system; so an existing
destination file is replaced only by a verified one, and left untouched when
every mirror fails. The temporary file is removed whatever happens. Two
processes downloading the same file at once each write their own temporary
file, and the destination ends as one complete copy.

A failure of one mirror is logged at ``WARNING`` and the next one is tried;
when none delivers, :class:`~mnistkit.exceptions.DownloadError` lists every
URL with its reason and explains how to supply the file by hand.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import math
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from tqdm.auto import tqdm

from mnistkit._io import atomic_path
from mnistkit._validation import check_int
from mnistkit._version import __version__
from mnistkit.exceptions import ConfigError, CorruptFileError, DownloadError

__all__ = ["download_file", "md5sum", "sha256sum"]

_LOGGER = logging.getLogger(__name__)

_CHUNK_SIZE = 1 << 16  # 64 KiB: large enough for throughput, small enough for a smooth bar
_HTML_SNIFF_BYTES = 512
_HTML_REASON = "got an HTML page instead of the file"
_HTML_CONTENT_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_HTML_PREFIXES = (b"<!doctype", b"<html")


_USER_AGENT = f"mnistkit/{__version__}"


class _MirrorError(Exception):
    """One mirror did not deliver a usable file; ``str(self)`` is the reason."""


def md5sum(path: str | os.PathLike[str], *, chunk_size: int = 1 << 20) -> str:
    """Return the hexadecimal MD5 digest of a file.

    MD5 is used only to recognise the published archives (their checksums are
    given as MD5), never for security.

    Parameters
    ----------
    path : str or os.PathLike
        File to hash.
    chunk_size : int, default=1048576
        Bytes read at a time, so large files never sit in memory whole.

    Returns
    -------
    str
        32 lowercase hexadecimal digits.
    """
    return _hash_file(hashlib.md5(usedforsecurity=False), path, chunk_size)


def sha256sum(path: str | os.PathLike[str], *, chunk_size: int = 1 << 20) -> str:
    """Return the hexadecimal SHA-256 digest of a file.

    Parameters
    ----------
    path : str or os.PathLike
        File to hash.
    chunk_size : int, default=1048576
        Bytes read at a time, so large files never sit in memory whole.

    Returns
    -------
    str
        64 lowercase hexadecimal digits.
    """
    return _hash_file(hashlib.sha256(), path, chunk_size)


def _hash_file(hasher: Any, path: str | os.PathLike[str], chunk_size: int) -> str:
    # ``hasher`` is a hashlib object; its class is private, hence ``Any``.
    if chunk_size < 1:
        raise ConfigError(f"Argument 'chunk_size' must be a positive int but got {chunk_size!r}.")
    with open(path, "rb") as stream:
        while chunk := stream.read(chunk_size):
            hasher.update(chunk)
    digest: str = hasher.hexdigest()
    return digest


def download_file(
    filename: str,
    mirrors: Sequence[str],
    dest_dir: str | os.PathLike[str],
    *,
    verify: Callable[[Path], None] | None = None,
    progress: bool = True,
    timeout: float = 30.0,
    max_bytes: int | None = None,
) -> Path:
    """Download ``filename`` from the first mirror that delivers a good copy.

    Mirrors are tried in order; the URL of the file on a mirror is
    ``mirror.rstrip("/") + "/" + filename``. Each attempt streams into a
    temporary file in ``dest_dir`` that is always removed afterwards, so an
    interrupted or failed download never leaves a partial file behind.

    The destination is always downloaded afresh: whether an existing copy is
    good enough is the caller's decision. If ``dest_dir / filename`` already
    exists it is replaced atomically, and only by a file that passed every
    check; when all mirrors fail it is left exactly as it was.

    Parameters
    ----------
    filename : str
        Plain file name (no directory part), appended to every mirror.
    mirrors : Sequence of str
        Base URLs, tried in order. At least one is required.
    dest_dir : str or os.PathLike
        Directory that receives the file; created (with parents) if missing.
    verify : callable, default=None
        Called with the path of the complete temporary file before it is moved
        into place; it raises :class:`~mnistkit.exceptions.CorruptFileError`
        to reject the file, and the next mirror is tried. Any other exception
        it raises is treated as a bug and propagates (after clean-up).
    progress : bool, default=True
        Show a tqdm progress bar in bytes on standard error.
    timeout : float, default=30.0
        Seconds to wait for a connection or for each read from the socket.
    max_bytes : int, optional
        Largest body accepted. A mirror whose ``Content-Length`` announces
        more, or whose body runs past it, fails with "body exceeds N bytes"
        as soon as that is known, and the next mirror is tried. ``None``
        accepts any size.

    Returns
    -------
    pathlib.Path
        Path of the downloaded file, ``Path(dest_dir) / filename``.

    Raises
    ------
    ConfigError
        ``filename`` is not a plain file name, ``mirrors`` is empty or a
        single string, ``timeout`` is not a positive number, ``max_bytes`` is
        not a positive integer, or the destination path is an existing
        directory.
    DownloadError
        Every mirror failed; the message lists each URL with its reason.
    OSError
        ``dest_dir`` cannot be created, no temporary file can be created in
        it, or the verified file cannot be moved into place (a local problem
        that another mirror would not fix).
    """
    _check_arguments(filename, mirrors, timeout)
    if max_bytes is not None:
        max_bytes = check_int(max_bytes, "max_bytes", who="download_file")
    directory = Path(dest_dir)
    destination = directory / filename
    if destination.is_dir():
        raise ConfigError(
            f"Cannot download {filename!r}: the destination {str(destination)!r} is a directory."
        )
    directory.mkdir(parents=True, exist_ok=True)

    failures: list[tuple[str, str]] = []
    for mirror in mirrors:
        url = f"{mirror.rstrip('/')}/{filename}"
        _LOGGER.info("Downloading %s to %s", url, destination)
        try:
            _fetch_into_place(
                url,
                destination,
                verify=verify,
                progress=progress,
                timeout=timeout,
                max_bytes=max_bytes,
            )
        except _MirrorError as failure:
            reason = str(failure)
            _LOGGER.warning("Could not download %s: %s", url, reason)
            failures.append((url, reason))
        else:
            _LOGGER.info("Saved %s", destination)
            return destination

    raise DownloadError(_failure_message(filename, directory, failures))


def _check_arguments(filename: str, mirrors: Sequence[str], timeout: float) -> None:
    if (
        not isinstance(filename, str)
        or not filename
        or filename in {".", ".."}
        or Path(filename).name != filename
        or "/" in filename
        or "\\" in filename
    ):
        raise ConfigError(
            f"Argument 'filename' must be a plain file name such as "
            f"'train-images-idx3-ubyte.gz' but got {filename!r}."
        )
    if isinstance(mirrors, (str, bytes)):
        # A lone string is a Sequence of one-character "mirrors"; catch the slip.
        raise ConfigError(
            f"Argument 'mirrors' must be a sequence of base URLs but got the single "
            f"string {mirrors!r}; wrap it in a list."
        )
    if len(mirrors) == 0:
        raise ConfigError(
            f"Argument 'mirrors' must contain at least one base URL to download "
            f"{filename!r} from, but it is empty."
        )
    bad = [mirror for mirror in mirrors if not isinstance(mirror, str) or not mirror]
    if bad:
        raise ConfigError(
            f"Argument 'mirrors' must contain non-empty URL strings but got {bad[0]!r}."
        )
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        raise ConfigError(f"Argument 'timeout' must be a positive number but got {timeout!r}.")


def _fetch_into_place(
    url: str,
    destination: Path,
    *,
    verify: Callable[[Path], None] | None,
    progress: bool,
    timeout: float,
    max_bytes: int | None,
) -> None:
    """Download ``url``, check it, move it to ``destination``; else raise _MirrorError.

    Everything happens inside :func:`atomic_path`, so any exception leaves ``destination``
    as it was and no temporary file behind. Errors of the network, or of writing the body,
    fail this mirror; creating, syncing or renaming the temporary file is a local problem
    that propagates as :class:`OSError`.
    """
    with atomic_path(destination) as tmp_path:
        try:
            with tmp_path.open("wb") as stream:
                _stream_url(
                    url,
                    stream,
                    desc=destination.name,
                    progress=progress,
                    timeout=timeout,
                    max_bytes=max_bytes,
                )
            _reject_html_body(tmp_path)
        except (OSError, http.client.HTTPException) as error:
            raise _MirrorError(_describe(error, timeout)) from error
        if verify is not None:
            try:
                verify(tmp_path)
            except CorruptFileError as error:
                raise _MirrorError(f"failed verification: {error}") from error


def _stream_url(
    url: str,
    stream: IO[bytes],
    *,
    desc: str,
    progress: bool,
    timeout: float,
    max_bytes: int | None,
) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        error.close()
        raise _MirrorError(f"HTTP {error.code} {error.reason}") from error
    except ValueError as error:
        # urllib's complaint about a malformed URL, e.g. no scheme.
        raise _MirrorError(f"invalid URL ({error})") from error

    with response:
        status = getattr(response, "status", None)  # None for file: URLs
        if status is not None and status != 200:
            raise _MirrorError(f"unexpected HTTP status {status}")
        content_type = response.headers.get("Content-Type", "")
        if content_type.split(";", 1)[0].strip().lower() in _HTML_CONTENT_TYPES:
            raise _MirrorError(_HTML_REASON)
        expected = _content_length(response.headers.get("Content-Length"))
        if max_bytes is not None and expected is not None and expected > max_bytes:
            raise _MirrorError(
                f"body exceeds {max_bytes} bytes: the server announces {expected} (Content-Length)"
            )

        received = 0
        with tqdm(
            total=expected,
            desc=desc,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            disable=not progress,
        ) as bar:
            while chunk := response.read(_CHUNK_SIZE):
                received += len(chunk)
                if max_bytes is not None and received > max_bytes:
                    # Closing the response (leaving the with block) drops the connection,
                    # so an endless body costs no more than this.
                    raise _MirrorError(
                        f"body exceeds {max_bytes} bytes: stopped reading after {received}"
                    )
                stream.write(chunk)
                bar.update(len(chunk))

    # http.client returns a short body silently when the peer closes early.
    if expected is not None and received != expected:
        raise _MirrorError(
            f"truncated download: received {received} of {expected} bytes (Content-Length)"
        )
    if received == 0:
        raise _MirrorError("the server sent an empty file")


def _content_length(header: str | None) -> int | None:
    if header is None:
        return None
    try:
        length = int(header.strip())
    except ValueError:
        return None
    return length if length >= 0 else None


def _reject_html_body(path: Path) -> None:
    # Some mirrors and captive portals serve an error page with a binary
    # Content-Type; no real data file starts like HTML.
    with open(path, "rb") as stream:
        head = stream.read(_HTML_SNIFF_BYTES).lstrip().lower()
    if head.startswith(_HTML_PREFIXES):
        raise _MirrorError(_HTML_REASON)


def _describe(error: BaseException, timeout: float) -> str:
    """Turn a network or disk error into a short reason for the log and message."""
    if isinstance(error, urllib.error.URLError):
        inner = error.reason
        if isinstance(inner, BaseException):
            return _describe(inner, timeout)
        return f"connection failed: {inner}"
    if isinstance(error, TimeoutError):
        return f"timed out after {timeout:g} s"
    if isinstance(error, http.client.IncompleteRead):
        return f"connection closed early: received {len(error.partial)} more bytes then stopped"
    if isinstance(error, http.client.RemoteDisconnected):
        return f"connection closed by the server: {error}"
    if isinstance(error, ConnectionError):
        return f"connection error: {error.strerror or type(error).__name__}"
    return f"{type(error).__name__}: {error}"


def _failure_message(filename: str, directory: Path, failures: list[tuple[str, str]]) -> str:
    lines = [f"Could not download {filename!r} from any of {len(failures)} mirror(s):"]
    lines.extend(f"  - {url}: {reason}" for url, reason in failures)
    lines.append(
        f"To supply it by hand, download {filename} yourself and place it in {directory}, "
        f"or pass root= (or set the MNISTKIT_DATA_DIR environment variable) to a directory "
        f"that already holds the data set's files."
    )
    return "\n".join(lines)
