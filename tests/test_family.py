"""The MNIST family (KMNIST, QMNIST, EMNIST) on small synthetic files in each set's layout.

The real files of these data sets cannot be downloaded where the tests run, so each test
writes a few examples in the published layout (IDX headers and gzip members, QMNIST's int32
label tables and ``.xz`` NIST files, EMNIST's one zip with its ``gzip/`` folder and member
names, images stored transposed, letters labelled 1-26) and serves them from the local HTTP
server of ``tests/test_download.py``. The registry's published MD5 sums are swapped for those
of the synthetic files where a download must succeed, and kept where it must fail.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import lzma
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import torch
from conftest import idx_bytes, write_gzip_bomb
from packaging.version import Version
from test_download import _Server

import mnistkit
from mnistkit import datasets
from mnistkit.cli import main
from mnistkit.datasets import _registry, _stats
from mnistkit.models import Normalize

KMNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
EMNIST_VARIANTS = ("byclass", "bymerge", "balanced", "letters", "digits", "mnist")
QMNIST_TEST_ROWS = 60_000  # the real row count, so that test10k and test50k slice as published
PER_CLASS = {"train": 2, "test": 1}


def _pattern(label: int) -> npt.NDArray[np.uint8]:
    """An upright 28x28 image for ``label`` (< 64): a 3x3 block on an 8x8 grid plus a bar
    along the top rows, so that a transposed copy differs from it."""
    image = np.zeros((28, 28), dtype=np.uint8)
    row, col = 2 + 3 * (label // 8), 2 + 3 * (label % 8)
    image[row : row + 3, col : col + 3] = 255
    image[0, :20] = 128
    return image


def _split(classes: int, split: str) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    labels = np.repeat(np.arange(classes, dtype=np.uint8), PER_CLASS[split])
    images = np.stack([_pattern(int(k)) for k in labels])
    return images, labels


def _int32_table(table: npt.NDArray[np.int64]) -> bytes:
    """An ``idx2-int`` file: magic 0x00000C02, the two sizes, big-endian int32 rows."""
    dims = b"".join(int(n).to_bytes(4, "big") for n in table.shape)
    return b"\x00\x00\x0c\x02" + dims + table.astype(">i4").tobytes()


def _qmnist_table(labels: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    rows = len(labels)
    table = np.zeros((rows, 8), dtype=np.int64)
    table[:, 0] = labels
    table[:, 1] = np.where(np.arange(rows) % 2 == 0, 0, 4)  # NIST series
    table[:, 2] = 2100 + np.arange(rows) % 500  # writer id
    table[:, 4] = 30 + labels  # NIST class code
    table[:, 5] = np.arange(rows)  # global NIST index
    return table


def _write_kmnist(folder: Path) -> None:
    folder.mkdir(parents=True)
    for split, (images_stem, labels_stem) in zip(
        ("train", "test"), (KMNIST_FILES[:2], KMNIST_FILES[2:]), strict=True
    ):
        images, labels = _split(10, split)
        (folder / f"{images_stem}.gz").write_bytes(gzip.compress(idx_bytes(images), mtime=0))
        (folder / f"{labels_stem}.gz").write_bytes(gzip.compress(idx_bytes(labels), mtime=0))


def _write_qmnist(folder: Path) -> None:
    folder.mkdir(parents=True)
    images, labels = _split(10, "train")
    gz = {
        "qmnist-train-images-idx3-ubyte": idx_bytes(images),
        "qmnist-train-labels-idx2-int": _int32_table(_qmnist_table(labels.astype(np.int64))),
    }
    test_labels = (np.arange(QMNIST_TEST_ROWS) % 10).astype(np.int64)
    test_images = np.zeros((QMNIST_TEST_ROWS, 28, 28), dtype=np.uint8)
    test_images[:, 0, 0] = test_labels  # each image tells its class in one pixel
    gz["qmnist-test-images-idx3-ubyte"] = idx_bytes(test_images)
    gz["qmnist-test-labels-idx2-int"] = _int32_table(_qmnist_table(test_labels))
    for stem, content in gz.items():
        (folder / f"{stem}.gz").write_bytes(gzip.compress(content, compresslevel=1, mtime=0))
    nist_images, nist_labels = _split(6, "train")
    (folder / "xnist-images-idx3-ubyte.xz").write_bytes(lzma.compress(idx_bytes(nist_images)))
    table = _int32_table(_qmnist_table(nist_labels.astype(np.int64)))
    (folder / "xnist-labels-idx2-int.xz").write_bytes(lzma.compress(table))


def _emnist_members() -> dict[str, bytes]:
    """EMNIST's archive content: gzip members under ``gzip/``, images stored transposed."""
    members: dict[str, bytes] = {}
    for variant in EMNIST_VARIANTS:
        info = datasets.get_info(f"emnist-{variant}")
        for split in ("train", "test"):
            images, labels = _split(len(info.classes), split)
            stored = np.ascontiguousarray(images.transpose(0, 2, 1))
            files = info.files[split]
            members[f"gzip/{files.images}.gz"] = gzip.compress(idx_bytes(stored), mtime=0)
            members[f"gzip/{files.labels}.gz"] = gzip.compress(
                idx_bytes((labels + info.label_offset).astype(np.uint8)), mtime=0
            )
        members[f"gzip/emnist-{variant}-mapping.txt"] = b"0 48\n"
    return members


def _write_zip(path: Path, members: dict[str, bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)


@pytest.fixture(scope="module")
def family_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder holding the synthetic kmnist/, qmnist/ and emnist/gzip.zip."""
    root = tmp_path_factory.mktemp("family")
    _write_kmnist(root / "kmnist")
    _write_qmnist(root / "qmnist")
    _write_zip(root / "emnist" / "gzip.zip", _emnist_members())
    return root


@pytest.fixture
def forget_measurements(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start without the statistics other tests measured in this process."""
    monkeypatch.setattr(_stats, "_MEASURED", {})


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def _patch(monkeypatch: pytest.MonkeyPatch, name: str, **changes: object) -> None:
    info = datasets.get_info(name)
    monkeypatch.setitem(_registry._REGISTRY, name, dataclasses.replace(info, **changes))  # type: ignore[arg-type]


def _synthetic_md5s(monkeypatch: pytest.MonkeyPatch, name: str, folder: Path) -> None:
    """Let the registry publish the synthetic files' MD5s instead of the real ones."""
    md5 = {
        path.name.removesuffix(".gz").removesuffix(".xz"): _md5(path)
        for path in folder.iterdir()
        if path.is_file()
    }
    _patch(monkeypatch, name, md5=md5)


@pytest.fixture
def serve(family_root: Path) -> Iterator[str]:
    """Base URL of a local server of ``family_root``'s data set folders: ``<base>/good/<file>``
    serves ``family_root/<folder>/<file>``; ``missing`` answers 404."""
    servers = []
    bases = {}
    for folder in ("kmnist", "qmnist", "emnist"):
        httpd = _Server(family_root / folder)
        thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        servers.append((httpd, thread))
        host, port = httpd.server_address[:2]
        bases[folder] = f"http://{host!s}:{port}"
    try:
        yield json.dumps(bases)
    finally:
        for httpd, thread in servers:
            httpd.release.set()
            httpd.shutdown()
            httpd.server_close()
            thread.join(timeout=5.0)


# ------------------------------------------------------------------------------ the registry
def test_the_family_is_registered_with_class_names_licences_and_citations() -> None:
    expected = {
        "kmnist": 10,
        "qmnist": 10,
        "emnist-byclass": 62,
        "emnist-bymerge": 47,
        "emnist-balanced": 47,
        "emnist-letters": 26,
        "emnist-digits": 10,
        "emnist-mnist": 10,
    }
    for name, count in expected.items():
        info = datasets.get_info(name)
        assert len(info.classes) == count == len(set(info.classes)), name
        assert info.licence and info.citation and info.homepage and info.purpose, name
        assert not info.checked_on_real_files and info.sha256 == {}, name  # none invented
        assert info.mean is None and info.std is None, name  # measured, not typed in
    assert datasets.get_info("emnist-letters").classes[:2] == ("A/a", "B/b")
    assert datasets.get_info("emnist-letters").label_offset == 1
    merged = datasets.get_info("emnist-balanced").classes
    assert merged[10:13] == ("A", "B", "C/c") and merged[-3:] == ("q", "r", "t")
    assert datasets.get_info("qmnist").splits == ("train", "test", "test10k", "test50k", "nist")
    assert datasets.get_info("mnist").checked_on_real_files


def test_the_registry_agrees_with_torchvisions_family() -> None:
    # The published checksums, addresses and class names are torchvision's (0.29), kept as
    # data; this keeps the copy honest without the library importing torchvision. Older
    # releases (the minimum-versions environment) may list addresses since moved.
    import torchvision
    import torchvision.datasets as tv

    current = Version(torchvision.__version__.split("+")[0]) >= Version("0.29")
    kmnist = datasets.get_info("kmnist")
    assert {f"{s}.gz": m for s, m in kmnist.md5.items()} == dict(tv.KMNIST.resources)
    assert list(kmnist.classes) == tv.KMNIST.classes
    if current:
        assert kmnist.mirrors[0] == tv.KMNIST.mirrors[0]

    qmnist = datasets.get_info("qmnist")
    for resources in tv.QMNIST.resources.values():
        for url, md5 in resources:
            base, _, file = url.rpartition("/")
            assert qmnist.md5[file.removesuffix(".gz").removesuffix(".xz")] == md5
            if current:
                assert base + "/" == qmnist.mirrors[0]

    base, _, file = tv.EMNIST.url.rpartition("/")
    for variant in tv.EMNIST.splits:
        info = datasets.get_info(f"emnist-{variant}")
        assert info.archive == file and info.md5 == {file: tv.EMNIST.md5}
        if current:
            assert info.mirrors[0] == base + "/"
        theirs = tv.EMNIST.classes_split_dict[variant][info.label_offset :]
        if variant == "letters":  # torchvision keeps "N/A" at label 0 and lower case
            assert [c.split("/")[1] for c in info.classes] == theirs
        else:  # the merged classes are named "C/c" here, "C" there
            assert [c.split("/")[0] for c in info.classes] == theirs


# ------------------------------------------------------------------ download, verify, read
def test_kmnist_downloads_from_the_next_mirror_verified_and_reads(
    serve: str, family_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = json.loads(serve)["kmnist"]
    mirrors = [f"{base}/missing", f"{base}/good"]
    # the real published MD5s: the synthetic files are refused, naming both sums
    with pytest.raises(mnistkit.DownloadError) as caught:
        datasets.load("kmnist", root=tmp_path, mirrors=mirrors, progress=False)
    published = datasets.get_info("kmnist").md5["train-images-idx3-ubyte"]
    served = _md5(family_root / "kmnist" / "train-images-idx3-ubyte.gz")
    assert f"wrong checksum: MD5 {served} but Kuzushiji-MNIST" in str(caught.value)
    assert f"publishes {published}" in str(caught.value)
    assert "knows no content hash" in str(caught.value)
    assert not any((tmp_path / "kmnist").iterdir())  # nothing refused is kept

    _synthetic_md5s(monkeypatch, "kmnist", family_root / "kmnist")
    loaded = datasets.load("kmnist", root=tmp_path, mirrors=mirrors, progress=False, verify=False)
    assert sorted(p.name for p in (tmp_path / "kmnist").iterdir()) == sorted(
        f"{s}.gz" for s in KMNIST_FILES
    )
    assert loaded.train.class_counts().tolist() == [2] * 10
    assert loaded.classes == ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")
    assert torch.equal(loaded.test.images[3], torch.from_numpy(_pattern(3)))
    # verify=True holds the files to the registry's sizes: 60,000 training images
    with pytest.raises(mnistkit.CorruptFileError, match="has 60000 images but the file holds 20"):
        datasets.load("kmnist", root=tmp_path, download=False)


def test_emnist_is_read_member_by_member_upright_with_letters_from_zero(
    serve: str, family_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = json.loads(serve)["emnist"]
    mirrors = [f"{base}/missing", f"{base}/good"]
    with pytest.raises(mnistkit.DownloadError, match="gzip.zip: wrong checksum"):
        datasets.load("emnist-letters", root=tmp_path, mirrors=mirrors, progress=False)
    for variant in EMNIST_VARIANTS:
        _patch(
            monkeypatch,
            f"emnist-{variant}",
            md5={"gzip.zip": _md5(family_root / "emnist" / "gzip.zip")},
        )
    letters = datasets.load(
        "emnist-letters", root=tmp_path, mirrors=mirrors, progress=False, verify=False
    )
    # the archive is kept whole: nothing unpacked beside it
    assert [p.name for p in (tmp_path / "emnist").iterdir()] == ["gzip.zip"]
    # labels 1-26 in the file, 0-25 here; images stored transposed, read upright
    assert letters.train.labels.tolist() == np.repeat(np.arange(26), 2).tolist()
    assert letters.classes[0] == "A/a" and letters.info.label_offset == 1
    for index in (0, 7, 51):
        label = int(letters.train.labels[index])
        assert torch.equal(letters.train.images[index], torch.from_numpy(_pattern(label)))
    # a second variant comes from the same archive, with no second download
    byclass = datasets.load(
        "emnist-byclass", root=tmp_path, mirrors=["http://127.0.0.1:9/"], verify=False
    )
    assert len(byclass.classes) == 62
    assert int(byclass.test.labels.max()) == 61 and byclass.classes[61] == "z"
    # the files are held to the registry's sizes when verified
    with pytest.raises(mnistkit.CorruptFileError, match="has 697932 images"):
        datasets.load("emnist-byclass", root=tmp_path, download=False)


def test_an_archive_bomb_is_refused_without_unpacking(tmp_path: Path) -> None:
    info = datasets.get_info("emnist-letters")
    members = _emnist_members()
    bomb = tmp_path / "bomb.gz"
    # a valid header declaring the 2 x 26 training labels, then 256 MiB of zeros
    write_gzip_bomb(bomb, b"\x00\x00\x08\x01" + (52).to_bytes(4, "big"), 1 << 28)
    member = f"gzip/{info.files['train'].labels}.gz"
    members[member] = bomb.read_bytes()
    _write_zip(tmp_path / "emnist" / "gzip.zip", members)
    # unverified: the member's size is admitted, its content stops one byte past the header's
    with pytest.raises(mnistkit.CorruptFileError, match="has trailing bytes") as caught:
        datasets.load("emnist-letters", root=tmp_path, download=False, verify=False)
    assert member in str(caught.value) and "gzip.zip" in str(caught.value)
    # verified: the archive declares more than the member can be, refused before reading
    with pytest.raises(mnistkit.CorruptFileError, match="the archive declares"):
        datasets.load("emnist-letters", root=tmp_path, download=False)
    assert [p.name for p in (tmp_path / "emnist").iterdir()] == ["gzip.zip"]
    # an archive without the member, and a file that is no archive, are named
    _write_zip(tmp_path / "emnist" / "gzip.zip", {"gzip/other.txt": b"x"})
    with pytest.raises(mnistkit.CorruptFileError, match="has no member 'gzip/emnist-letters"):
        datasets.load("emnist-letters", root=tmp_path, download=False, verify=False)
    (tmp_path / "emnist" / "gzip.zip").write_bytes(b"PK not really")
    with pytest.raises(mnistkit.CorruptFileError, match="not a zip archive"):
        datasets.load("emnist-letters", root=tmp_path, download=False, verify=False)


def test_qmnist_splits_label_table_and_nist_xz(
    serve: str, family_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _synthetic_md5s(monkeypatch, "qmnist", family_root / "qmnist")
    base = json.loads(serve)["qmnist"]
    lost = datasets.load_split(
        "qmnist", "test50k", root=tmp_path, mirrors=[f"{base}/good"], progress=False
    )
    # only the test files were needed, and fetched
    assert sorted(p.name for p in (tmp_path / "qmnist").iterdir()) == [
        "qmnist-test-images-idx3-ubyte.gz",
        "qmnist-test-labels-idx2-int.gz",
    ]
    assert len(lost) == 50_000 and lost.name == "qmnist/test50k"
    assert lost.labels[:3].tolist() == [0, 1, 2]  # row 10,000 onwards of the test files
    assert torch.equal(lost.images[:, 0, 0].long(), lost.labels)
    table = lost.label_columns
    assert list(table) == list(datasets.get_info("qmnist").label_columns)
    assert table["nist_index"][0] == 10_000 and table["writer_id"][0] == 2100 + 10_000 % 500
    assert torch.equal(table["class"], lost.labels)
    assert torch.equal(table["nist_class_code"], lost.labels + 30)
    part = lost.subset([5, 2])
    assert part.label_columns["nist_index"].tolist() == [10_005, 10_002]
    first = datasets.load_split("qmnist", "test10k", root=tmp_path, download=False)
    assert len(first) == 10_000 and int(first.label_columns["nist_index"][-1]) == 9_999
    # the NIST digits come as .xz files
    nist = datasets.load_split(
        "qmnist", "nist", root=tmp_path, mirrors=[f"{base}/good"], progress=False, verify=False
    )
    assert len(nist) == 12 and nist.label_columns["class"].max() == 5
    with pytest.raises(mnistkit.ConfigError, match="'test50k', 'nist' for qmnist but got 'test5'"):
        datasets.load_split("qmnist", "test5", root=tmp_path)


# ----------------------------------------------------------------- normalising, measured
def test_the_normalisation_is_measured_on_first_load_and_stored(
    family_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forget_measurements: None
) -> None:
    with pytest.raises(mnistkit.DatasetNotFoundError, match="measured on its training images"):
        datasets.normalization("kmnist", root=tmp_path)
    assert datasets.normalization("mnist", root=tmp_path) == (0.1307, 0.3081)  # published
    # the synthetic files pass verification once the registry has their sizes
    _patch(monkeypatch, "kmnist", sizes={"train": 20, "test": 10})
    loaded = datasets.load("kmnist", root=family_root, download=False)
    images = np.stack([_pattern(k) for k in range(10)]).astype(np.float64) / 255
    expected = (round(float(images.mean()), 4), round(float(images.std()), 4))
    assert (loaded.info.mean, loaded.info.std) == expected
    stored = json.loads((family_root / "kmnist-normalization.json").read_text())
    assert (stored["mean"], stored["std"], stored["verified"]) == (*expected, True)
    layer = mnistkit.get_model("linear", dataset="kmnist").normalize
    assert isinstance(layer, Normalize)
    assert (layer.mean.item(), layer.std.item()) == pytest.approx(expected)
    # a new process reads them from the file, without reading the images again
    monkeypatch.setattr(_stats, "_MEASURED", {})
    assert datasets.normalization("kmnist", root=family_root) == expected
    monkeypatch.setenv("MNISTKIT_DATA_DIR", str(family_root))
    assert Normalize.for_dataset("kmnist").mean.item() == pytest.approx(expected[0])


# ------------------------------------------------- training, reports, export, the CLI
def test_train_evaluate_and_export_with_47_classes_then_qmnist_test50k(
    family_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    forget_measurements: None,
) -> None:
    sizes = {"train": 2 * 47, "test": 47}
    _patch(monkeypatch, "emnist-balanced", sizes=sizes)
    out = tmp_path / "run"
    argv = ["train", "--dataset", "emnist-balanced", "--model", "linear", "--epochs", "1"]
    argv += ["--batch-size", "32", "--val-fraction", "0", "--data-dir", str(family_root)]
    assert main([*argv, "--no-download", "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dataset"] == "emnist-balanced"
    for figure in ("confusion_matrix.png", "misclassified.png", "predictions.png"):
        assert (out / figure).stat().st_size > 0
    loaded = mnistkit.load_model(out / "model.safetensors")
    assert len(loaded.metadata.classes) == 47 and loaded.metadata.classes[12] == "C/c"
    assert main(["evaluate", str(out / "model.safetensors"), "--data-dir", str(family_root)]) == 0
    report = capsys.readouterr().out
    assert "on emnist-balanced test (47 images)" in report and "C/c" in report

    from mnistkit import deploy

    split = datasets.load_split("emnist-balanced", root=family_root, download=False)
    exported = tmp_path / "m.pt2"
    result = deploy.export(out / "model.safetensors", exported, check_images=split.images)
    assert result.check is not None
    written = deploy.read_pt2_metadata(exported)["classes"]
    assert json.loads(written) == list(loaded.metadata.classes)

    # a ten-class model on QMNIST's lost digits
    _patch(monkeypatch, "emnist-digits", sizes={"train": 20, "test": 10})
    ten = tmp_path / "digits"
    argv = ["train", "--dataset", "emnist-digits", "--model", "linear", "--epochs", "1"]
    argv += ["--val-fraction", "0", "--data-dir", str(family_root), "--no-download"]
    assert main([*argv, "--out", str(ten), "--quiet"]) == 0
    capsys.readouterr()
    args = ["evaluate", str(ten / "model.safetensors"), "--dataset", "qmnist"]
    assert main([*args, "--split", "test50k", "--data-dir", str(family_root), "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert (facts["dataset"], facts["split"]) == ("qmnist", "test50k")
    # the 50,000 lost digits, 5,000 of each class in the synthetic files
    assert [sum(row) for row in facts["confusion_matrix"]] == [5_000] * 10


def test_every_model_takes_26_47_and_62_classes(
    family_root: Path, monkeypatch: pytest.MonkeyPatch, forget_measurements: None
) -> None:
    monkeypatch.setattr(_stats, "_MEASURED", {"emnist-letters": (0.2, 0.3)})
    x = torch.rand(2, 1, 28, 28)
    for name in mnistkit.list_models():
        for classes in (26, 47, 62):
            model = mnistkit.get_model(name, num_classes=classes, dataset="emnist-letters")
            assert model.eval()(x).shape == (2, classes), (name, classes)
    for recipe in mnistkit.recipes.list_recipes():
        model = mnistkit.recipes.get_recipe(recipe).build_model("emnist-letters", num_classes=26)
        assert model.eval()(x).shape == (2, 26), recipe


def test_datasets_list_shows_every_member(
    family_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["datasets", "list", "--data-dir", str(family_root)]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert sorted(lines) == datasets.list_datasets()
    assert "62 classes  697,932 train + 116,323 test" in lines["emnist-byclass"]
    assert "50,000 test50k" in lines["qmnist"]
    assert lines["mnist"].endswith(f"not downloaded  {family_root / 'mnist'}")
    # present (the synthetic files are not the published ones, which verification says)
    for name in ("kmnist", "qmnist", "emnist-letters"):
        assert "not downloaded" not in lines[name] and "damaged" in lines[name], lines[name]
