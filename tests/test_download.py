"""Tests for mnistkit.datasets._download against a real HTTP server on 127.0.0.1.

The server serves the real MNIST archives from ``$MNISTKIT_DATA_DIR/mnist``
and, depending on the first path segment, misbehaves in one particular way.
"""

from __future__ import annotations

import hashlib
import http.server
import logging
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mnistkit.datasets._download import download_file, md5sum, sha256sum
from mnistkit.exceptions import ConfigError, CorruptFileError, DownloadError

LABELS = "train-labels-idx1-ubyte.gz"
OTHER_LABELS = "t10k-labels-idx1-ubyte.gz"
IMAGES = "t10k-images-idx3-ubyte.gz"

# Routes whose failure is always the same, with a phrase the reason must contain.
DETERMINISTIC_FAILURES = {
    "missing": "HTTP 404",
    "html": "got an HTML page instead of the file",
    "html-body": "got an HTML page instead of the file",
    "truncated": "truncated download",
    "wrong": "failed verification",
    "empty": "empty file",
}
# Routes that reset the TCP connection; the exact error depends on timing.
RESET_FAILURES = ("reset", "reset-body")
ALL_FAILURES = (*DETERMINISTIC_FAILURES, *RESET_FAILURES)

ENDLESS_CAP = 100 * 2**20

HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>404 - not here</title></head>"
    b"<body><p>This mirror has moved.</p></body></html>\n"
)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, data_dir: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.data_dir = data_dir
        self.release = threading.Event()  # lets a "slow" handler finish at teardown
        self.user_agents: list[str] = []
        self.endless_sent: list[int] = []  # bytes each "endless" response got out

    def handle_error(self, request: object, client_address: object) -> None:
        # Resets are deliberate; don't print their tracebacks to stderr.
        pass


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep stderr clean for the capsys test

    def do_GET(self) -> None:
        self.server.user_agents.append(self.headers.get("User-Agent", ""))
        parts = self.path.strip("/").split("/")
        if len(parts) != 2:
            self.send_error(400)
            return
        route, name = parts
        real = self.server.data_dir / name
        if route == "missing" or not real.is_file():
            self.send_error(404, "Not Found")
        elif route == "good":
            self._send(real.read_bytes())
        elif route == "wrong":
            other = OTHER_LABELS if name != OTHER_LABELS else LABELS
            self._send((self.server.data_dir / other).read_bytes())
        elif route == "html":
            self._send(HTML_PAGE, content_type="text/html; charset=utf-8")
        elif route == "html-body":
            # An error page mislabelled as binary, behind some whitespace.
            self._send(b"\r\n  \n" + HTML_PAGE)
        elif route == "empty":
            self._send(b"")
        elif route == "truncated":
            body = real.read_bytes()
            self._send(body[: len(body) // 2], length=len(body))
            self.close_connection = True
        elif route == "reset":
            self._reset()
        elif route == "reset-body":
            body = real.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[:1000])
            self._reset()
        elif route == "slow":
            self.server.release.wait(5.0)
            self.close_connection = True
        elif route == "endless":
            self._send_endless()
        elif route == "huge":
            # Announces a terabyte; sends the real file, were anyone to read on.
            self._send(real.read_bytes(), length=10**12)
            self.close_connection = True
        else:
            self.send_error(400)

    def _send(
        self,
        body: bytes,
        *,
        content_type: str = "application/octet-stream",
        length: int | None = None,
    ) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)

    def _send_endless(self) -> None:
        # No Content-Length: over HTTP/1.0 the body runs until the connection closes. The
        # test's own bound is 100 MB, far past any limit the tests set.
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        chunk, sent = bytes(1 << 16), 0
        try:
            while sent < ENDLESS_CAP:
                self.wfile.write(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client hung up, as it should
        finally:
            self.server.endless_sent.append(sent)
        self.close_connection = True

    def _reset(self) -> None:
        # SO_LINGER with a zero timeout makes close() send RST, not FIN.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True


@pytest.fixture(scope="module")
def data_dir(data_root: Path) -> Path:
    """The real MNIST archives' folder (``data_root``, from conftest, marks the tests ``data``)."""
    mnist = data_root / "mnist"
    missing = [name for name in (LABELS, OTHER_LABELS, IMAGES) if not (mnist / name).is_file()]
    if missing:
        pytest.fail(
            f"MNISTKIT_DATA_DIR={str(data_root)!r} lacks {', '.join(missing)} under {mnist}."
        )
    return mnist


@pytest.fixture
def server(data_dir: Path) -> Iterator[_Server]:
    httpd = _Server(data_dir)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield httpd
    finally:
        httpd.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5.0)


@pytest.fixture
def base(server: _Server) -> str:
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}"


def _md5_verifier(expected_file: Path) -> Callable[[Path], None]:
    expected = hashlib.md5(expected_file.read_bytes(), usedforsecurity=False).hexdigest()

    def verify(path: Path) -> None:
        actual = md5sum(path)
        if actual != expected:
            raise CorruptFileError(f"MD5 {actual} does not match the expected {expected}")

    return verify


def _names(directory: Path) -> set[str]:
    return {entry.name for entry in directory.iterdir()}


@pytest.mark.parametrize("route", ALL_FAILURES)
def test_falls_back_to_next_mirror(
    route: str,
    base: str,
    data_dir: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="mnistkit.datasets._download")
    dest = tmp_path / "dest"

    result = download_file(
        LABELS,
        [f"{base}/{route}/", f"{base}/good"],
        dest,
        verify=_md5_verifier(data_dir / LABELS),
        progress=False,
        timeout=5.0,
    )

    assert result == dest / LABELS
    assert result.read_bytes() == (data_dir / LABELS).read_bytes()
    assert _names(dest) == {LABELS}  # no *.part left over
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert f"{base}/{route}/{LABELS}" in warnings[0]
    if route in DETERMINISTIC_FAILURES:
        assert DETERMINISTIC_FAILURES[route] in warnings[0]


def test_all_mirrors_fail(base: str, data_dir: Path, tmp_path: Path) -> None:
    mirrors = [f"{base}/{route}" for route in ALL_FAILURES]

    with pytest.raises(DownloadError) as info:
        download_file(
            LABELS,
            mirrors,
            tmp_path,
            verify=_md5_verifier(data_dir / LABELS),
            progress=False,
            timeout=5.0,
        )

    message = str(info.value)
    lines = message.splitlines()
    for route in ALL_FAILURES:
        url = f"{base}/{route}/{LABELS}"
        (line,) = [line for line in lines if f"{url}:" in line]
        if route in DETERMINISTIC_FAILURES:
            assert DETERMINISTIC_FAILURES[route] in line
    assert f"download {LABELS} yourself and place it in {tmp_path}" in message
    assert "root=" in message
    assert "MNISTKIT_DATA_DIR" in message
    assert not (tmp_path / LABELS).exists()
    assert _names(tmp_path) == set()


def test_unreachable_mirror(tmp_path: Path) -> None:
    # A port that was just free: nothing listens there, so the connection is refused.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/good"

    with pytest.raises(DownloadError, match="Connection refused") as info:
        download_file(LABELS, [url], tmp_path, progress=False, timeout=5.0)

    assert f"{url}/{LABELS}" in str(info.value)
    assert _names(tmp_path) == set()


def test_timeout_is_a_mirror_failure(base: str, data_dir: Path, tmp_path: Path) -> None:
    result = download_file(
        LABELS,
        [f"{base}/slow", f"{base}/good"],
        tmp_path,
        progress=False,
        timeout=0.3,
    )
    assert result.read_bytes() == (data_dir / LABELS).read_bytes()

    with pytest.raises(DownloadError, match=r"timed out after 0\.3 s"):
        download_file(LABELS, [f"{base}/slow"], tmp_path / "t", progress=False, timeout=0.3)
    assert _names(tmp_path / "t") == set()


def test_existing_file_kept_when_all_mirrors_fail(base: str, tmp_path: Path) -> None:
    existing = tmp_path / LABELS
    existing.write_bytes(b"junk that a previous run left")
    inode = existing.stat().st_ino

    with pytest.raises(DownloadError):
        download_file(
            LABELS,
            [f"{base}/missing", f"{base}/truncated"],
            tmp_path,
            progress=False,
        )

    assert existing.read_bytes() == b"junk that a previous run left"
    assert existing.stat().st_ino == inode
    assert _names(tmp_path) == {LABELS}


def test_existing_file_replaced_on_success(base: str, data_dir: Path, tmp_path: Path) -> None:
    existing = tmp_path / LABELS
    existing.write_bytes(b"junk")

    download_file(
        LABELS,
        [f"{base}/good"],
        tmp_path,
        verify=_md5_verifier(data_dir / LABELS),
        progress=False,
    )

    assert existing.read_bytes() == (data_dir / LABELS).read_bytes()
    assert _names(tmp_path) == {LABELS}


def test_image_file_and_nested_dest_dir(base: str, data_dir: Path, tmp_path: Path) -> None:
    dest = tmp_path / "a" / "b" / "c"

    result = download_file(
        IMAGES,
        (f"{base}/good",),
        str(dest),
        verify=_md5_verifier(data_dir / IMAGES),
        progress=False,
    )

    assert result == dest / IMAGES
    assert sha256sum(result) == sha256sum(data_dir / IMAGES)
    assert _names(dest) == {IMAGES}


def test_file_mode_follows_umask(base: str, tmp_path: Path) -> None:
    if os.name != "posix":
        pytest.skip("POSIX permission bits only")
    old = os.umask(0o022)
    try:
        result = download_file(LABELS, [f"{base}/good"], tmp_path, progress=False)
    finally:
        os.umask(old)
    assert result.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize(("umask", "mode"), [(0o077, 0o600), (0o027, 0o640)])
def test_file_mode_follows_other_umasks(base: str, tmp_path: Path, umask: int, mode: int) -> None:
    if os.name != "posix":
        pytest.skip("POSIX permission bits only")
    old = os.umask(umask)
    try:
        result = download_file(LABELS, [f"{base}/good"], tmp_path, progress=False)
    finally:
        os.umask(old)
    assert result.stat().st_mode & 0o777 == mode


def test_endless_body_is_cut_off(
    server: _Server, base: str, data_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="mnistkit.datasets._download")
    limit = 1 << 20

    result = download_file(
        LABELS,
        [f"{base}/endless", f"{base}/good"],
        tmp_path,
        verify=_md5_verifier(data_dir / LABELS),
        progress=False,
        timeout=5.0,
        max_bytes=limit,
    )

    assert result.read_bytes() == (data_dir / LABELS).read_bytes()
    assert _names(tmp_path) == {LABELS}
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert f"{base}/endless/{LABELS}" in warning
    assert f"body exceeds {limit} bytes" in warning
    # The server saw the connection close long before its own 100 MB bound.
    deadline = time.monotonic() + 5.0
    while not server.endless_sent and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.endless_sent and server.endless_sent[0] < ENDLESS_CAP


def test_announced_size_over_the_limit(base: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError) as info:
        download_file(
            LABELS, [f"{base}/huge", f"{base}/endless"], tmp_path, progress=False, max_bytes=1000
        )
    message = str(info.value)
    assert f"{base}/huge/{LABELS}: body exceeds 1000 bytes: the server announces 10" in message
    assert f"{base}/endless/{LABELS}: body exceeds 1000 bytes: stopped reading" in message
    assert _names(tmp_path) == set()


def test_file_at_exactly_the_limit_is_accepted(base: str, data_dir: Path, tmp_path: Path) -> None:
    size = (data_dir / LABELS).stat().st_size
    result = download_file(LABELS, [f"{base}/good"], tmp_path, progress=False, max_bytes=size)
    assert result.stat().st_size == size
    with pytest.raises(DownloadError, match=f"body exceeds {size - 1} bytes"):
        download_file(LABELS, [f"{base}/good"], tmp_path / "t", progress=False, max_bytes=size - 1)


def test_concurrent_downloads_end_with_one_good_copy(
    base: str, data_dir: Path, tmp_path: Path
) -> None:
    # Two downloads of the same file into the same folder, held at the verification step
    # until both have a complete temporary file: both then rename onto the destination.
    together = threading.Barrier(2, timeout=10.0)
    check = _md5_verifier(data_dir / LABELS)
    temp_files: list[Path] = []
    results: list[Path] = []
    errors: list[BaseException] = []

    def verify(path: Path) -> None:
        check(path)
        temp_files.append(path)
        together.wait()

    def download() -> None:
        try:
            results.append(
                download_file(LABELS, [f"{base}/good"], tmp_path, verify=verify, progress=False)
            )
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=download) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30.0)

    assert errors == []
    assert results == [tmp_path / LABELS] * 2
    assert len(set(temp_files)) == 2  # each wrote its own temporary file
    assert md5sum(tmp_path / LABELS) == md5sum(data_dir / LABELS)
    assert _names(tmp_path) == {LABELS}  # and none is left behind


def test_user_agent(server: _Server, base: str, tmp_path: Path) -> None:
    download_file(LABELS, [f"{base}/good"], tmp_path, progress=False)
    assert len(server.user_agents) == 1
    assert server.user_agents[0].startswith("mnistkit/")


def test_progress_false_is_silent(
    base: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    download_file(LABELS, [f"{base}/missing", f"{base}/good"], tmp_path, progress=False)
    captured = capsys.readouterr()
    assert captured.err == ""
    assert captured.out == ""


def test_progress_true_draws_a_bar(
    base: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    download_file(LABELS, [f"{base}/good"], tmp_path, progress=True)
    captured = capsys.readouterr()
    assert LABELS in captured.err
    assert captured.out == ""


def test_verify_bug_propagates_and_cleans_up(base: str, tmp_path: Path) -> None:
    def broken(path: Path) -> None:
        raise RuntimeError("bug in the verifier")

    with pytest.raises(RuntimeError, match="bug in the verifier"):
        download_file(LABELS, [f"{base}/good", f"{base}/good"], tmp_path, verify=broken)
    assert _names(tmp_path) == set()


def test_verify_sees_the_complete_temp_file(base: str, data_dir: Path, tmp_path: Path) -> None:
    seen: list[Path] = []

    def record(path: Path) -> None:
        seen.append(path)
        assert path.parent == tmp_path
        assert path.name.startswith(f".{LABELS}.")
        assert path.name.endswith(".tmp")
        assert path.read_bytes() == (data_dir / LABELS).read_bytes()

    download_file(LABELS, [f"{base}/good"], tmp_path, verify=record, progress=False)
    assert len(seen) == 1
    assert not seen[0].exists()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mirrors": []}, "at least one base URL"),
        ({"mirrors": "http://127.0.0.1/good"}, "single string"),
        ({"mirrors": [""]}, "non-empty URL"),
        ({"filename": ""}, "plain file name"),
        ({"filename": "../evil.gz"}, "plain file name"),
        ({"filename": "sub/file.gz"}, "plain file name"),
        ({"timeout": 0}, "positive number"),
        ({"timeout": float("nan")}, "positive number"),
        ({"max_bytes": 0}, "'max_bytes' must be a positive integer"),
        ({"max_bytes": 1.5}, "'max_bytes' must be a positive integer"),
        ({"max_bytes": True}, "'max_bytes' must be a positive integer"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], match: str, tmp_path: Path) -> None:
    arguments: dict[str, object] = {
        "filename": LABELS,
        "mirrors": ["http://127.0.0.1:9/good"],
        "dest_dir": tmp_path / "never",
    }
    arguments.update(kwargs)
    with pytest.raises(ConfigError, match=match):
        download_file(**arguments)  # type: ignore[arg-type]
    assert not (tmp_path / "never").exists()


def test_destination_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / LABELS).mkdir()
    with pytest.raises(ConfigError, match="is a directory"):
        download_file(LABELS, ["http://127.0.0.1:9/good"], tmp_path)


def test_hash_helpers_match_hashlib(data_dir: Path) -> None:
    path = data_dir / OTHER_LABELS
    content = path.read_bytes()
    assert md5sum(path) == hashlib.md5(content, usedforsecurity=False).hexdigest()
    assert sha256sum(str(path), chunk_size=7) == hashlib.sha256(content).hexdigest()
