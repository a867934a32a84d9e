"""mnistkit.datasets on the real files: counts, histograms, constants, bad files, downloads."""

from __future__ import annotations

import gzip
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from packaging.version import Version

import mnistkit
from mnistkit import datasets
from mnistkit.datasets import DatasetSplits

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


FAMILY = [
    "emnist-balanced",
    "emnist-byclass",
    "emnist-bymerge",
    "emnist-digits",
    "emnist-letters",
    "emnist-mnist",
    "fashion-mnist",
    "kmnist",
    "mnist",
    "qmnist",
]


def test_list_datasets() -> None:
    assert datasets.list_datasets() == FAMILY
    assert mnistkit.list_datasets() == FAMILY


def test_mnist_counts_and_types(mnist: DatasetSplits) -> None:
    assert len(mnist.train) == 60_000
    assert len(mnist.test) == 10_000
    assert mnist.train.images.shape == (60_000, 28, 28)
    assert mnist.train.images.dtype == torch.uint8
    assert mnist.train.labels.dtype == torch.int64
    assert mnist.train.classes == tuple("0123456789")
    assert mnist.train.class_counts().tolist() == MNIST_TRAIN_COUNTS
    assert mnist.test.class_counts().tolist() == MNIST_TEST_COUNTS


def test_fashion_counts_and_classes(fashion: DatasetSplits) -> None:
    assert len(fashion.train) == 60_000
    assert len(fashion.test) == 10_000
    assert fashion.train.class_counts().tolist() == [6000] * 10
    assert fashion.test.class_counts().tolist() == [1000] * 10
    assert fashion.classes[0] == "T-shirt/top"
    assert fashion.classes[9] == "Ankle boot"


def test_normalisation_constants(mnist: DatasetSplits, fashion: DatasetSplits) -> None:
    pixels = mnist.train.images.to(torch.float64) / 255
    assert pixels.mean().item() == pytest.approx(0.1307, abs=5e-5)
    assert pixels.std().item() == pytest.approx(0.3081, abs=5e-5)
    assert (mnist.info.mean, mnist.info.std) == (0.1307, 0.3081)
    fpixels = fashion.train.images.to(torch.float64) / 255
    assert fpixels.mean().item() == pytest.approx(fashion.info.mean, abs=5e-5)
    assert fpixels.std().item() == pytest.approx(fashion.info.std, abs=5e-5)
    # the registry's numbers are what the models normalise with
    for splits in (mnist, fashion):
        layer = mnistkit.get_model("mlp", dataset=splits.name).normalize
        assert layer.mean.item() == pytest.approx(splits.info.mean)
        assert layer.std.item() == pytest.approx(splits.info.std)
        measured = mnistkit.Normalize.from_images(splits.train.images)
        assert measured.mean.item() == pytest.approx(splits.info.mean, abs=5e-5)


def test_split_is_a_torch_dataset(mnist: DatasetSplits) -> None:
    image, label = mnist.test[0]
    assert image.shape == (1, 28, 28)
    assert image.dtype == torch.float32
    assert image.min().item() >= 0.0 and image.max().item() == 1.0
    assert label == 7  # the first MNIST test digit is a 7
    loader = torch.utils.data.DataLoader(mnist.test, batch_size=32)
    images, labels = next(iter(loader))
    assert images.shape == (32, 1, 28, 28)
    assert labels.tolist() == mnist.test.labels[:32].tolist()


def test_subset_copies(mnist: DatasetSplits) -> None:
    part = mnist.test.subset(slice(0, 100))
    assert len(part) == 100
    part.images[0].zero_()
    assert mnist.test.images[0].sum() > 0
    picked = mnist.test.subset([3, 1, 2])
    assert picked.labels.tolist() == mnist.test.labels[[3, 1, 2]].tolist()


def test_uncompressed_files_and_root_argument(data_root: Path, tmp_path: Path) -> None:
    folder = tmp_path / "mnist"
    folder.mkdir()
    for stem in FILES:
        (folder / stem).write_bytes(
            gzip.decompress((data_root / "mnist" / f"{stem}.gz").read_bytes())
        )
    loaded = datasets.load("mnist", root=tmp_path, download=False)
    assert loaded.test.class_counts().tolist() == MNIST_TEST_COUNTS


def test_env_variable_is_used(data_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MNISTKIT_DATA_DIR", str(data_root))
    assert datasets.data_dir() == data_root
    assert datasets.load("mnist", download=False).root == data_root
    monkeypatch.delenv("MNISTKIT_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", "/somewhere")
    assert datasets.data_dir() == Path("/somewhere/mnistkit")
    # without either, the per-user cache under the home folder
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", "/home/learner")
    assert datasets.data_dir() == Path("/home/learner/.cache/mnistkit")


def test_unknown_name() -> None:
    with pytest.raises(mnistkit.ConfigError, match="'fashion-mnist', 'kmnist', 'mnist', 'qmnist'"):
        datasets.load("cifar10")
    with pytest.raises(mnistkit.ConfigError, match="but got 3"):
        datasets.get_info(3)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", [" MNIST ", "Fashion_MNIST", "fashion", "FASHION"])
def test_names_are_forgiving(name: str) -> None:
    expected = "mnist" if "mnist" in name.lower() and "fashion" not in name.lower() else None
    assert datasets.get_info(name).name == (expected or "fashion-mnist")


def test_missing_files_without_download(tmp_path: Path) -> None:
    with pytest.raises(mnistkit.DatasetNotFoundError, match="download=True"):
        datasets.load("mnist", root=tmp_path, download=False)
    (tmp_path / "mnist").mkdir()
    with pytest.raises(mnistkit.DatasetNotFoundError, match="train-images-idx3-ubyte"):
        datasets.load("mnist", root=tmp_path, download=False)


# --------------------------------------------------------------------------- bad files
def _copy_mnist(data_root: Path, dest: Path) -> Path:
    folder = dest / "mnist"
    shutil.copytree(data_root / "mnist", folder)
    return folder


def _rewrite(path: Path, transform: object) -> None:
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(transform(raw)))  # type: ignore[operator]


@pytest.mark.parametrize(
    ("stem", "transform", "match"),
    [
        ("t10k-labels-idx1-ubyte", lambda b: b[:-10], "truncated"),
        ("t10k-labels-idx1-ubyte", lambda b: b"\x00\x00\x07\x01" + b[4:], "wrong magic number"),
        (
            "t10k-labels-idx1-ubyte",
            lambda b: b + b"\x00",
            "has trailing bytes: the header declares shape \\(10000,\\) \\(10000 bytes of "
            "data\\) but the file holds more than that",
        ),
        ("t10k-labels-idx1-ubyte", lambda b: b[:2], "too short"),
        # one flipped pixel: well-formed, but not the original content
        ("t10k-images-idx3-ubyte", lambda b: b[:1000] + bytes([b[1000] ^ 1]) + b[1001:], "SHA-256"),
    ],
)
def test_bad_files_are_clear_errors(
    data_root: Path, tmp_path: Path, stem: str, transform: object, match: str
) -> None:
    folder = _copy_mnist(data_root, tmp_path)
    target = folder / f"{stem}.gz"
    _rewrite(target, transform)
    with pytest.raises(mnistkit.CorruptFileError, match=match) as info:
        datasets.load("mnist", root=tmp_path, download=False)
    assert str(target) in str(info.value) or "t10k-images" in str(info.value)
    assert isinstance(info.value, mnistkit.MnistkitError)


def test_count_mismatch_without_sha_check(data_root: Path, tmp_path: Path) -> None:
    folder = _copy_mnist(data_root, tmp_path)
    _rewrite(
        folder / "t10k-labels-idx1-ubyte.gz", lambda b: b[:4] + (9999).to_bytes(4, "big") + b[8:-1]
    )
    with pytest.raises(mnistkit.CorruptFileError, match="counts must agree") as info:
        datasets.load("mnist", root=tmp_path, download=False, verify=False)
    assert "t10k-labels-idx1-ubyte.gz" in str(info.value)


def test_empty_and_truncated_gzip(data_root: Path, tmp_path: Path) -> None:
    folder = _copy_mnist(data_root, tmp_path)
    target = folder / "train-labels-idx1-ubyte.gz"
    target.write_bytes(b"")
    with pytest.raises(mnistkit.CorruptFileError, match="empty") as info:
        datasets.load("mnist", root=tmp_path, download=False)
    assert str(target) in str(info.value)
    raw = (data_root / "mnist" / "train-labels-idx1-ubyte.gz").read_bytes()
    target.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(mnistkit.CorruptFileError, match="gzip") as info:
        datasets.load("mnist", root=tmp_path, download=False)
    assert str(target) in str(info.value)


@pytest.mark.parametrize("steps", [None, (7, 5)], ids=["default steps", "tiny steps"])
def test_gzip_members_padding_and_damage(
    data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, steps: tuple[int, int] | None
) -> None:
    # mnistkit's own gzip reading (long zlib calls): real labels split into two members
    # with zero padding between and after them read as Python's gzip module reads them;
    # a flipped byte of the compressed data or of a CRC, or a cut, is a CorruptFileError
    if steps is not None:  # every boundary of input and output falls inside a member
        monkeypatch.setattr("mnistkit.datasets.idx._INPUT_STEP", steps[0])
        monkeypatch.setattr("mnistkit.datasets.idx._READ_STEP", steps[1])
    content = gzip.decompress((data_root / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes())
    first, second = gzip.compress(content[:5000], mtime=0), gzip.compress(content[5000:], mtime=0)
    target = tmp_path / "labels.gz"
    joined = first + b"\0" * 9 + second + b"\0" * 3
    target.write_bytes(joined)
    assert gzip.decompress(joined) == content
    labels = datasets.read_idx(target)
    assert labels.shape == (10000,)
    assert labels.tobytes() == content[8:]
    crc = len(first) - 8  # each member ends with its CRC-32 and length
    for damaged in (
        joined[:crc] + bytes([joined[crc] ^ 1]) + joined[crc + 1 :],
        joined[:100] + bytes([joined[100] ^ 0xFF]) + joined[101:],
        first + second[: len(second) // 2],
    ):
        target.write_bytes(damaged)
        with pytest.raises(mnistkit.CorruptFileError, match="not a complete gzip file") as info:
            datasets.read_idx(target)
        assert str(target) in str(info.value)


def test_file_not_gzip(tmp_path: Path) -> None:
    target = tmp_path / "t10k-labels-idx1-ubyte.gz"
    target.write_bytes(b"\x00\x00\x08\x01" + (3).to_bytes(4, "big") + b"\x01\x02\x03")
    with pytest.raises(mnistkit.CorruptFileError, match="not a complete gzip file") as info:
        datasets.read_idx(target)
    assert str(target) in str(info.value)


def test_gzip_bomb_is_rejected(gzip_bomb: Path) -> None:
    with pytest.raises(mnistkit.CorruptFileError, match="trailing bytes") as info:
        datasets.read_idx(gzip_bomb)
    assert str(gzip_bomb) in str(info.value)
    assert "(60000,)" in str(info.value)


def test_gzip_bomb_in_a_data_set(data_root: Path, tmp_path: Path, gzip_bomb: Path) -> None:
    folder = _copy_mnist(data_root, tmp_path)
    target = folder / "train-labels-idx1-ubyte.gz"
    target.unlink()
    shutil.copyfile(gzip_bomb, target)
    with pytest.raises(mnistkit.CorruptFileError, match="trailing bytes") as info:
        datasets.load("mnist", root=tmp_path, download=False)
    assert str(target) in str(info.value)


# Reads the files named on the command line, reporting for each the growth of the peak
# resident memory it caused (ru_maxrss: KiB on Linux, bytes on macOS) and the error, if any.
_MEASURE_READS = """
import json, resource, sys
from mnistkit import CorruptFileError, datasets
unit = 1 if sys.platform == "darwin" else 1024
def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * unit
results = []
for name in sys.argv[1:]:
    before = peak()
    try:
        datasets.read_idx(name)
        error = None
    except CorruptFileError as exc:
        error = str(exc)
    results.append({"growth": peak() - before, "error": error})
print(json.dumps(results))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="the resource module is POSIX only")
def test_reading_stays_within_bounded_memory(data_root: Path, gzip_bomb: Path) -> None:
    # A fresh process: the test session's own peak (real data sets loaded) would hide growth.
    # The bomb is read first, so the real file's growth is measured above the bomb's peak.
    real = data_root / "mnist" / "train-images-idx3-ubyte.gz"
    # The child imports the mnistkit under test, wherever it lies.
    paths = [str(Path(mnistkit.__file__).parents[1]), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, paths))}
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE_READS, str(gzip_bomb), str(real)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        env=env,
    )
    bomb, legit = json.loads(done.stdout.splitlines()[-1])
    assert bomb["error"] is not None and "trailing bytes" in bomb["error"]
    assert bomb["growth"] < 100 * 2**20  # it decompresses to 1 GiB; we read 60,001 bytes of it
    assert legit["error"] is None
    assert legit["growth"] < 3 * 47_040_016  # "a few times" the 47 MB file, never more


def test_header_declaring_more_than_max_bytes(tmp_path: Path) -> None:
    # 2**32 - 1 images of 65535×65535 pixels: refused before anything is allocated.
    dims = b"".join(n.to_bytes(4, "big") for n in (2**32 - 1, 65535, 65535))
    target = tmp_path / "huge-idx3-ubyte"
    target.write_bytes(b"\x00\x00\x08\x03" + dims + bytes(100))
    with pytest.raises(mnistkit.CorruptFileError, match=f"at most {2**30} bytes") as info:
        datasets.read_idx(target)
    assert str(target) in str(info.value)
    assert "(4294967295, 65535, 65535)" in str(info.value)
    small = tmp_path / "labels-idx1-ubyte"
    small.write_bytes(b"\x00\x00\x08\x01" + (3).to_bytes(4, "big") + b"\x01\x02\x03")
    assert datasets.read_idx(small, max_bytes=11).tolist() == [1, 2, 3]
    with pytest.raises(mnistkit.CorruptFileError, match="a file of 11 bytes, but at most 10"):
        datasets.read_idx(small, max_bytes=10)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "1"])
def test_read_idx_rejects_bad_max_bytes(data_root: Path, bad: object) -> None:
    with pytest.raises(
        mnistkit.ConfigError, match="^read_idx: argument 'max_bytes' must be a positive integer"
    ):
        datasets.read_idx(data_root / "mnist" / "t10k-labels-idx1-ubyte.gz", max_bytes=bad)  # type: ignore[arg-type]


def test_known_data_set_files_are_held_to_their_size(data_root: Path, tmp_path: Path) -> None:
    # 70,000 test images declared: more than MNIST's test file can hold, refused at the
    # header. verify=False lifts the registry's sizes (and then the data runs short).
    folder = _copy_mnist(data_root, tmp_path)
    target = folder / "t10k-images-idx3-ubyte.gz"
    dims = b"".join(n.to_bytes(4, "big") for n in (70_000, 28, 28))
    target.write_bytes(gzip.compress(b"\x00\x00\x08\x03" + dims + bytes(1000)))
    with pytest.raises(mnistkit.CorruptFileError, match="at most 7840016 bytes") as info:
        datasets.load("mnist", root=tmp_path, download=False)
    assert str(target) in str(info.value)
    with pytest.raises(mnistkit.CorruptFileError, match="truncated"):
        datasets.load("mnist", root=tmp_path, download=False, verify=False)


def test_big_endian_types_are_read_in_native_order(tmp_path: Path) -> None:
    values = np.array([[1, -2], [300, -40000]], dtype=">i4")
    target = tmp_path / "ints-idx2-int.gz"
    target.write_bytes(
        gzip.compress(b"\x00\x00\x0c\x02" + b"\x00\x00\x00\x02" * 2 + values.tobytes())
    )
    array = datasets.read_idx(target)
    assert array.dtype == np.dtype("=i4")
    assert array.tolist() == [[1, -2], [300, -40000]]


def test_read_idx_returns_declared_shape(data_root: Path) -> None:
    labels = datasets.read_idx(data_root / "mnist" / "t10k-labels-idx1-ubyte.gz")
    assert labels.shape == (10_000,)
    assert labels.dtype == np.uint8
    assert np.bincount(labels).tolist() == MNIST_TEST_COUNTS


def test_verify_reports_each_file(data_root: Path) -> None:
    result = datasets.verify("fashion-mnist", root=data_root)
    assert sorted(Path(p).name for p in result) == sorted(f"{s}.gz" for s in FILES)
    assert set(result.values()) == {"ok"}


# --------------------------------------------------------------------------- downloads
class _MirrorHandler(http.server.BaseHTTPRequestHandler):
    """``/good/<file>`` serves the real file; ``/html/...`` an error page; ``/wrong/...`` the
    test-labels file whatever was asked (a checksum failure); ``/bomb/...`` the gzip bomb
    whatever was asked; ``/endless/...`` zeros until the client hangs up (or 100 MB)."""

    root: Path
    bomb: Path

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        route, _, name = self.path.strip("/").partition("/")
        real = self.root / name
        if route == "good" and real.is_file():
            body, kind = real.read_bytes(), "application/octet-stream"
        elif route == "html":
            body, kind = b"<html><body>Moved</body></html>", "text/html"
        elif route == "wrong":
            body, kind = (self.root / "t10k-labels-idx1-ubyte.gz").read_bytes(), "application/gzip"
        elif route == "bomb":
            body, kind = self.bomb.read_bytes(), "application/gzip"
        elif route == "endless":
            self._send_endless()
            return
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_endless(self) -> None:
        # No Content-Length: over HTTP/1.0 the body runs until the connection closes.
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        chunk = bytes(1 << 16)
        try:
            for _ in range(100 * 2**20 // len(chunk)):
                self.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading, as it should
        self.close_connection = True


@pytest.fixture
def mirror(data_root: Path, gzip_bomb: Path) -> Iterator[str]:
    handler = type("Handler", (_MirrorHandler,), {"root": data_root / "mnist", "bomb": gzip_bomb})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_download_falls_through_to_a_working_mirror(
    mirror: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The served files are recompressed copies: their MD5 is not the canonical one, so they
    # are accepted on the SHA-256 of their content; "wrong" fails both checks.
    mirrors = [f"{mirror}/missing", f"{mirror}/html", f"{mirror}/wrong", f"{mirror}/good"]
    loaded = datasets.load("mnist", root=tmp_path, mirrors=mirrors, progress=False)
    assert loaded.train.class_counts().tolist() == MNIST_TRAIN_COUNTS
    names = sorted(p.name for p in (tmp_path / "mnist").iterdir())
    assert names == sorted(f"{s}.gz" for s in FILES)  # nothing half-written left behind
    assert "HTML page" in caplog.text
    assert "404" in caplog.text


def test_download_all_mirrors_fail(mirror: str, tmp_path: Path) -> None:
    mirrors = [f"{mirror}/missing", f"{mirror}/wrong"]
    with pytest.raises(mnistkit.DownloadError) as info:
        datasets.load("mnist", root=tmp_path, mirrors=mirrors, progress=False)
    message = str(info.value)
    assert f"{mirror}/missing/train-images-idx3-ubyte.gz" in message
    assert f"{mirror}/wrong/train-images-idx3-ubyte.gz" in message
    assert "MNISTKIT_DATA_DIR" in message
    assert list((tmp_path / "mnist").iterdir()) == []


def test_download_cuts_off_endless_bodies_and_gzip_bombs(
    mirror: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Each file's limits come from the registry: its decompressed size plus 64 KiB (gzip's
    # overhead) for the download, its decompressed size for the content of a recompressed copy.
    mirrors = [f"{mirror}/endless", f"{mirror}/bomb", f"{mirror}/good"]
    loaded = datasets.load("mnist", root=tmp_path, mirrors=mirrors, progress=False)
    assert loaded.test.class_counts().tolist() == MNIST_TEST_COUNTS
    names = sorted(p.name for p in (tmp_path / "mnist").iterdir())
    assert names == sorted(f"{s}.gz" for s in FILES)
    for stem in FILES:
        assert f"{mirror}/endless/{stem}.gz: body exceeds" in caplog.text
    # The bomb (about 1 MB) is over the download limit of the label files...
    assert f"body exceeds {10_008 + 65_536} bytes: the server announces" in caplog.text
    # ...and within that of the image files, whose content check stops it.
    assert "t10k-images-idx3-ubyte.gz: decompresses to more than 7840016 bytes" in caplog.text
    assert "train-images-idx3-ubyte.gz: decompresses to more than 47040016 bytes" in caplog.text


# --- displays (what mutation testing found unpinned; tests/README.md) ----------------------------


def test_reprs_and_html_displays_hold_what_they_name(mnist: DatasetSplits) -> None:
    from mnistkit import _html

    test = mnist.test
    assert repr(test) == (f"Split(name={test.name!r}, n=10000, image_shape=(28, 28), classes=10)")
    assert repr(mnist) == (
        f"DatasetSplits(name='mnist', train=60000, test=10000, root={str(mnist.root)!r})"
    )
    title = f"Split {test.name!r}"
    facts = [
        ("images", 10_000),
        ("image shape", "28 × 28"),
        ("classes", "10: " + ", ".join(mnist.classes)),
    ]
    strip = _html.digit_strip(
        test.images[:12], test.labels[:12], mnist.classes, alt=f"{title}: first digits"
    )
    assert test._repr_html_() == f"<div>{_html.table(facts, caption=title)}{strip}</div>"
    three = test.subset(slice(0, 3))
    three.name = ""
    assert "<caption>Split</caption>" in three._repr_html_()
    assert three._repr_html_(shown=2).count("</span>") == 2
    whole = mnist._repr_html_()
    table = _html.table(
        [
            ("train", 60_000),
            ("test", 10_000),
            ("classes", ", ".join(mnist.classes)),
            ("folder", str(mnist.root)),
        ],
        caption=f"{mnist.info.title} ('mnist')",
    )
    assert whole.startswith("<div>" + table + '<div style="font-size:smaller">train: the first')
    for label, split in (("train", mnist.train), ("test", test)):
        strip = _html.digit_strip(
            split.images[:12], split.labels[:12], mnist.classes, alt=f"{split.name}: first digits"
        )
        assert f'<div style="font-size:smaller">{label}: the first digits</div>{strip}' in whole
    assert whole.endswith("</div>")


@pytest.mark.parametrize(("name", "cls"), [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_the_registry_agrees_with_torchvision(name: str, cls: str) -> None:
    # The registry holds torchvision's mirrors, MD5 sums and class names as data, so that
    # mnistkit need not import torchvision; this keeps the copy honest.
    import torchvision.datasets

    source = getattr(torchvision.datasets, cls)
    info = datasets.get_info(name)
    assert info.md5 == {file.removesuffix(".gz"): md5 for file, md5 in source.resources}
    assert sorted(info.md5) == sorted(FILES)
    # torchvision's mirrors first, in its order; then mnistkit's own fallbacks. The copy was
    # taken from torchvision 0.29; older releases (the minimum-versions environment) still
    # list the original site, which no longer serves the files.
    if Version(torchvision.__version__.split("+")[0]) >= Version("0.29"):
        assert info.mirrors[: len(source.mirrors)] == tuple(source.mirrors)
        assert len(info.mirrors) == len(source.mirrors) + 1
    if name == "fashion-mnist":
        assert info.classes == tuple(source.classes)


def test_split_checks_and_defaults(mnist: DatasetSplits) -> None:
    images, labels = mnist.test.images[:20], mnist.test.labels[:20]
    split = datasets.Split(images, labels, mnist.classes)
    assert split.name == "" and split.dataset is None
    for bad in (images.float(), images[0]):  # wrong dtype; wrong number of dimensions
        with pytest.raises(mnistkit.ConfigError, match="'images'"):
            datasets.Split(bad, labels if bad.ndim == 3 else labels[:1], mnist.classes)
    no_nines = mnist.test.subset(torch.nonzero(mnist.test.labels != 9).flatten()[:50])
    assert no_nines.name == mnist.test.name
    assert (no_nines.dataset, mnist.test.subset(slice(0, 5)).dataset) == ("mnist", "mnist")
    with pytest.raises(mnistkit.ConfigError) as caught:
        datasets.Split(images, labels, mnist.classes, dataset=3)  # type: ignore[arg-type]
    assert str(caught.value) == (
        "Argument 'dataset' must be a data set name (str) or None but got 3."
    )
    counts = no_nines.class_counts()
    assert len(counts) == 10 and int(counts[9]) == 0


def test_a_partly_downloaded_folder_gets_the_rest(
    mirror: str, data_root: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "mnist"
    folder.mkdir()
    shutil.copy(data_root / "mnist" / "train-images-idx3-ubyte.gz", folder)  # the first file
    loaded = datasets.load("mnist", root=tmp_path, mirrors=[f"{mirror}/good"], progress=False)
    assert loaded.test.class_counts().tolist() == MNIST_TEST_COUNTS
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{s}.gz" for s in FILES)


def test_a_wrong_download_names_both_checksums(
    mirror: str, data_root: Path, tmp_path: Path
) -> None:
    import hashlib

    with pytest.raises(mnistkit.DownloadError) as info:
        datasets.load("mnist", root=tmp_path, mirrors=[f"{mirror}/wrong"], progress=False)
    served = (data_root / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes()  # for every file
    md5, content = hashlib.md5(served).hexdigest(), hashlib.sha256(gzip.decompress(served))
    stem, known = "train-images-idx3-ubyte", datasets.get_info("mnist")
    assert (
        f"{stem}.gz: wrong checksum: MD5 {md5} (expected {known.md5[stem]}) and content "
        f"SHA-256 {content.hexdigest()} (expected {known.sha256[stem]})."
    ) in str(info.value)


def test_verify_defaults_and_checks_the_content(data_root: Path, tmp_path: Path) -> None:
    assert len(datasets.verify()) == 4  # mnist, in MNISTKIT_DATA_DIR
    folder = _copy_mnist(data_root, tmp_path)
    target = folder / "t10k-labels-idx1-ubyte.gz"  # one label changed: well-formed, not MNIST
    _rewrite(target, lambda b: b[:100] + bytes([b[100] ^ 1]) + b[101:])
    with pytest.raises(mnistkit.CorruptFileError, match="SHA-256"):
        datasets.verify("mnist", root=tmp_path)


def test_split_checks_its_labels(mnist: DatasetSplits) -> None:
    images, labels = mnist.test.images[:20], mnist.test.labels[:20]
    with pytest.raises(mnistkit.ConfigError) as caught:
        datasets.Split(images, labels[:19], mnist.classes)  # 1-D, one short
    assert "one label per image (20) but got shape (19,)" in str(caught.value)
    out_of_range = labels.clone()
    for low, high in ((-1, 3), (0, 10)):
        out_of_range[0], out_of_range[1] = low, high
        with pytest.raises(mnistkit.ConfigError) as caught:
            datasets.Split(images, out_of_range, mnist.classes)
        assert f"must lie in [0, 10) for 10 classes but ranges over [{low}, " in str(caught.value)
    small = datasets.Split(images, labels.to(torch.uint8), mnist.classes)
    assert small.labels.dtype == torch.int64 and torch.equal(small.labels, labels)


def test_loaded_splits_are_named_and_fashion_shows_its_class_names(
    data_root: Path, fashion: DatasetSplits
) -> None:
    from mnistkit import _html

    mnist = datasets.load(root=data_root, download=False)  # MNIST by default; not the fixture
    assert (mnist.train.name, mnist.test.name) == ("mnist/train", "mnist/test")
    assert fashion.test.name == "fashion-mnist/test"
    # the data set's registry name is a field, not something to parse out of the label
    assert (mnist.train.dataset, mnist.test.dataset) == ("mnist", "mnist")
    assert (fashion.train.dataset, fashion.test.dataset) == ("fashion-mnist", "fashion-mnist")
    # the strips under the tables label each picture with its class name, not its number
    for split in (fashion.train, fashion.test):
        images, labels = split.images[:12], split.labels[:12]
        alt = f"{split.name}: first digits"
        named = _html.digit_strip(images, labels, fashion.classes, alt=alt)
        assert named != _html.digit_strip(images, labels, alt=alt)
        assert named in fashion._repr_html_()
    test = fashion.test
    alt = f"Split {test.name!r}: first digits"
    named = _html.digit_strip(test.images[:12], test.labels[:12], fashion.classes, alt=alt)
    assert named in test._repr_html_()


def test_verify_false_skips_the_checksums_not_the_structure(
    data_root: Path, tmp_path: Path
) -> None:
    folder = _copy_mnist(data_root, tmp_path)
    # one training label changed to another valid label: well-formed, not the original
    _rewrite(
        folder / "train-labels-idx1-ubyte.gz", lambda b: b[:8] + bytes([(b[8] + 1) % 10]) + b[9:]
    )
    loaded = datasets.load("mnist", root=tmp_path, download=False, verify=False)
    assert int(loaded.train.labels[0]) == (5 + 1) % 10  # MNIST's first training digit is a 5
    with pytest.raises(mnistkit.CorruptFileError, match="train-labels-idx1-ubyte.*SHA-256"):
        datasets.load("mnist", root=tmp_path, download=False, verify=True)


def _idx(type_code: int, shape: tuple[int, ...], payload: bytes) -> bytes:
    dims = b"".join(n.to_bytes(4, "big") for n in shape)
    return b"\x00\x00" + bytes([type_code, len(shape)]) + dims + payload


@pytest.mark.parametrize(
    ("stem", "content", "message"),
    [
        (
            "t10k-images-idx3-ubyte",
            _idx(0x0D, (10_000, 28, 28), bytes(4 * 28 * 28 * 10_000)),
            "expected uint8 images of shape (N, rows, cols) but the header declares float32 of "
            "shape (10000, 28, 28)",
        ),
        (
            "t10k-labels-idx1-ubyte",
            _idx(0x08, (10_000, 1), bytes(10_000)),
            "expected a 1-D label file but the header declares shape (10000, 1)",
        ),
        (
            "t10k-labels-idx1-ubyte",
            _idx(0x08, (10_000,), bytes(9_999) + bytes([10])),
            "label 10 is out of range for 10 classes",
        ),
        (
            "t10k-labels-idx1-ubyte",
            _idx(0x08, (9_000,), bytes(9_000)),
            "holds 10000 images but",
        ),
    ],
)
def test_well_formed_files_of_the_wrong_kind_are_named(
    data_root: Path, tmp_path: Path, stem: str, content: bytes, message: str
) -> None:
    folder = _copy_mnist(data_root, tmp_path)
    (folder / f"{stem}.gz").write_bytes(gzip.compress(content))
    with pytest.raises(mnistkit.CorruptFileError) as caught:
        datasets.load("mnist", root=tmp_path, download=False, verify=False)
    assert message in str(caught.value), str(caught.value)


def test_a_header_cut_inside_its_sizes_says_so(tmp_path: Path) -> None:
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x03" + (28).to_bytes(4, "big") + b"\x00"))
    with pytest.raises(mnistkit.CorruptFileError) as caught:
        datasets.read_idx(path)
    assert str(caught.value) == f"{path}: truncated inside the header of 3 dimension sizes."


# --- synthetic files (the quick tier: no real data needed) ---------------------------------------


def test_synthetic_files_load_unverified_and_verify_refuses_them(
    synthetic_data_root: Path, tmp_path: Path
) -> None:
    # Well-formed IDX files that are not the registry's: verify=False reads them with their
    # own sizes; verify=True (the default) and verify() refuse them on their content hash.
    loaded = datasets.load("mnist", root=synthetic_data_root, download=False, verify=False)
    assert (len(loaded.train), len(loaded.test)) == (400, 100)
    assert loaded.train.class_counts().tolist() == [40] * 10
    assert (loaded.test.name, loaded.test.dataset) == ("mnist/test", "mnist")
    assert loaded.root == synthetic_data_root and loaded.classes == tuple("0123456789")
    images = synthetic_data_root / "mnist" / "train-images-idx3-ubyte.gz"
    with pytest.raises(mnistkit.CorruptFileError) as caught:
        datasets.load("mnist", root=synthetic_data_root, download=False)
    assert str(caught.value).startswith(f"{images}: content SHA-256 is ")
    with pytest.raises(mnistkit.CorruptFileError, match="SHA-256"):
        datasets.verify("fashion-mnist", root=synthetic_data_root)
    fashion = datasets.load("fashion", root=synthetic_data_root, download=False, verify=False)
    assert fashion.test.dataset == "fashion-mnist" and fashion.classes[9] == "Ankle boot"
    # the same files uncompressed read the same
    plain = tmp_path / "mnist"
    plain.mkdir()
    for stem in FILES:
        source = synthetic_data_root / "mnist" / f"{stem}.gz"
        (plain / stem).write_bytes(gzip.decompress(source.read_bytes()))
    again = datasets.load("mnist", root=tmp_path, download=False, verify=False)
    assert torch.equal(again.train.images, loaded.train.images)
    assert torch.equal(again.test.labels, loaded.test.labels)


def test_a_split_indexes_to_the_shared_float_pixels(synthetic_mnist: DatasetSplits) -> None:
    test = synthetic_mnist.test
    image, label = test[7]
    assert image.shape == (1, 28, 28) and image.dtype == torch.float32
    assert torch.equal(image, test.images[7].unsqueeze(0).float() / 255)
    assert label == int(test.labels[7]) == 7
