"""DeviceLoader and train_val_split on real MNIST (and a few on synthetic files)."""

from __future__ import annotations

import pytest
import torch

import mnistkit
from mnistkit.datasets import DatasetSplits, Split
from mnistkit.inference import as_image_batch
from mnistkit.loaders import DeviceLoader, train_val_split
from mnistkit.models import get_model


def test_batches_cover_the_split_once(mnist: DatasetSplits) -> None:
    gen = torch.Generator().manual_seed(1)
    loader = DeviceLoader(mnist.test, batch_size=64, shuffle=True, generator=gen)
    assert len(loader) == 157  # ceil(10000 / 64)
    seen = []
    for images, labels in loader:
        assert images.dtype == torch.float32 and images.shape[1:] == (1, 28, 28)
        assert labels.dtype == torch.int64 and len(labels) == len(images)
        seen.append(labels)
    labels = torch.cat(seen)
    assert len(labels) == 10_000
    assert torch.bincount(labels).tolist() == mnist.test.class_counts().tolist()
    assert not torch.equal(labels, mnist.test.labels)  # shuffled


def test_batches_are_pixels_and_the_model_normalises_like_torchvision(
    mnist: DatasetSplits,
) -> None:
    from torchvision.transforms import functional as TF

    loader = DeviceLoader(mnist.test, batch_size=8)
    images, labels = next(iter(loader))
    # the loader gives what ToTensor gives: float pixels in [0, 1]
    torch.testing.assert_close(images, mnist.test.images[:8].unsqueeze(1).float() / 255)
    assert labels.tolist() == mnist.test.labels[:8].tolist()
    # the model's first layer then does what Normalize((0.1307,), (0.3081,)) does
    normalize = get_model("cnn").normalize
    expected = TF.normalize(images, [0.1307], [0.3081])
    torch.testing.assert_close(normalize(images), expected)
    # and the whole training split normalises to mean 0, std 1
    train = DeviceLoader(mnist.train, batch_size=60_000)
    batch, _ = next(iter(train))
    assert normalize(batch).mean().item() == pytest.approx(0.0, abs=1e-3)
    assert normalize(batch).std().item() == pytest.approx(1.0, abs=1e-3)


def test_seeded_order_is_reproducible(mnist: DatasetSplits) -> None:
    def first_labels(seed: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(seed)
        return next(iter(DeviceLoader(mnist.test, batch_size=32, shuffle=True, generator=gen)))[1]

    assert torch.equal(first_labels(5), first_labels(5))
    assert not torch.equal(first_labels(5), first_labels(6))


def test_drop_last_and_augment(mnist: DatasetSplits) -> None:
    calls = []

    def flip(batch: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        calls.append(batch.shape[0])
        return batch.flip(-1)

    loader = DeviceLoader(mnist.test, batch_size=3000, drop_last=True, augment=flip)
    sizes = [len(labels) for _, labels in loader]
    assert sizes == [3000, 3000, 3000] and len(loader) == 3
    assert calls == [3000, 3000, 3000]
    plain = next(iter(DeviceLoader(mnist.test, batch_size=4)))[0]
    flipped = next(iter(DeviceLoader(mnist.test, batch_size=4, augment=flip)))[0]
    torch.testing.assert_close(flipped, plain.flip(-1))


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True])
def test_bad_batch_size(mnist: DatasetSplits, batch_size: object) -> None:
    with pytest.raises(mnistkit.ConfigError, match="'batch_size'"):
        DeviceLoader(mnist.test, batch_size=batch_size)  # type: ignore[arg-type]


def test_train_val_split_is_stratified_and_disjoint(mnist: DatasetSplits) -> None:
    train, val = train_val_split(mnist.train, val_fraction=0.1, seed=0)
    assert len(train) + len(val) == 60_000
    assert len(val) == pytest.approx(6_000, abs=10)
    ratio = val.class_counts().double() / mnist.train.class_counts().double()
    assert torch.allclose(ratio, torch.full((10,), 0.1, dtype=torch.float64), atol=1e-3)
    _again_train, again_val = train_val_split(mnist.train, val_fraction=0.1, seed=0)
    assert torch.equal(val.labels, again_val.labels)
    # disjoint: no validation image is also in the training part
    train_keys = {row.tobytes() for row in train.images.numpy()}
    overlap = sum(row.tobytes() in train_keys for row in val.images.numpy())
    assert overlap == 0


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 2])
def test_bad_val_fraction(mnist: DatasetSplits, fraction: float) -> None:
    with pytest.raises(mnistkit.ConfigError, match="val_fraction"):
        train_val_split(mnist.test, val_fraction=fraction)


# --- edges that mutation testing found unpinned (tests/README.md) --------------------------------


def test_defaults_order_and_repr(mnist: DatasetSplits) -> None:
    few = mnist.test.subset(slice(0, 300))
    loader = DeviceLoader(few)
    assert [len(labels) for _, labels in loader] == [128, 128, 44]  # batch_size=128
    assert loader.last_order is not None and torch.equal(loader.last_order, torch.arange(300))
    assert repr(loader) == "DeviceLoader(n=300, batch_size=128, device='cpu', shuffle=False)"
    shard = DeviceLoader(few, batch_size=10, num_replicas=2, rank=1)
    assert repr(shard) == (
        "DeviceLoader(n=300, batch_size=10, device='cpu', shuffle=False, rank=1/2)"
    )
    assert (loader.global_batch_size(2), loader.global_batch_size(3)) == (44, 0)
    dropped = DeviceLoader(few, batch_size=128, drop_last=True)
    list(dropped)
    assert dropped.last_order is not None and torch.equal(dropped.last_order, torch.arange(256))


def test_last_order_is_the_order_drawn(mnist: DatasetSplits) -> None:
    few = mnist.test.subset(slice(0, 300))
    loader = DeviceLoader(few, batch_size=64, shuffle=True, drop_last=True)
    assert loader.last_order is None
    labels = torch.cat([labels for _, labels in loader])
    assert loader.last_order is not None and len(loader.last_order) == 256
    assert torch.equal(few.labels[loader.last_order], labels)


def test_augmentation_draws_from_the_loader_generator(mnist: DatasetSplits) -> None:
    seen: list[torch.Generator] = []

    def record(batch: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        seen.append(gen)
        return batch

    generator = torch.Generator().manual_seed(3)
    loader = DeviceLoader(
        mnist.test.subset(slice(0, 100)), batch_size=50, generator=generator, augment=record
    )
    list(loader)
    assert seen == [generator, generator]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"num_replicas": 0}, "Argument 'num_replicas' must be a positive integer, but got 0"),
        ({"rank": -1}, "Argument 'rank' must be an integer >= 0, but got -1"),
        (
            {"num_replicas": 2, "rank": 2},
            "Argument 'rank' must be in [0, num_replicas=2), but got 2",
        ),
        ({"shuffle": 1}, "Argument 'shuffle' must be True or False, but got 1"),
        ({"drop_last": "no"}, "Argument 'drop_last' must be True or False, but got 'no'"),
    ],
)
def test_bad_replicas_and_rank_are_named(
    mnist: DatasetSplits, changes: dict[str, int], message: str
) -> None:
    with pytest.raises(mnistkit.ConfigError) as caught:
        DeviceLoader(mnist.test, **changes)  # type: ignore[arg-type]
    assert str(caught.value) == message


def test_the_default_generator_is_seeded_with_0(mnist: DatasetSplits) -> None:
    few = mnist.test.subset(slice(0, 200))
    default = DeviceLoader(few, batch_size=200, shuffle=True)
    seeded = DeviceLoader(
        few, batch_size=200, shuffle=True, generator=torch.Generator().manual_seed(0)
    )
    assert torch.equal(next(iter(default))[1], next(iter(seeded))[1])
    assert default.split is few and default.classes == few.classes


@pytest.mark.parametrize("fraction", [0.0, 1.0, 1.5])
def test_val_fraction_must_be_below_one(mnist: DatasetSplits, fraction: float) -> None:
    with pytest.raises(mnistkit.ConfigError) as caught:
        train_val_split(mnist.test, val_fraction=fraction)
    assert str(caught.value).startswith("Argument 'val_fraction' must be")


def test_train_val_split_defaults_names_and_empty_parts(mnist: DatasetSplits) -> None:
    test = mnist.test
    train, val = train_val_split(test)
    again_train, again_val = train_val_split(test, val_fraction=0.1, seed=0)
    assert torch.equal(val.labels, again_val.labels) and len(train) == len(again_train)
    assert (train.name, val.name) == (f"{test.name}[train]", f"{test.name}[val]")
    assert (train.dataset, val.dataset) == ("mnist", "mnist")  # the field, kept
    zeros = test.subset(torch.nonzero(test.labels == 0).flatten()[:2])
    one, other = train_val_split(zeros, val_fraction=0.5)  # one example each: not empty
    assert (len(one), len(other)) == (1, 1)
    with pytest.raises(mnistkit.ConfigError) as caught:
        train_val_split(zeros, val_fraction=0.2)  # rounds to no validation example
    assert str(caught.value) == (
        "val_fraction=0.2 leaves an empty part for a split of 2 examples; use a fraction "
        "nearer 0.5 or a larger split."
    )


def test_shards_take_their_part_of_each_batch_and_augment_apart(mnist: DatasetSplits) -> None:
    few = mnist.test.subset(slice(0, 250))
    first_draw = int(torch.randint(2**62, (), generator=torch.Generator().manual_seed(7)))
    shared_states = []
    for rank in range(3):
        draws: list[float] = []

        def augment(
            batch: torch.Tensor, gen: torch.Generator, seen: list[float] = draws
        ) -> torch.Tensor:
            seen.append(float(torch.rand((), generator=gen)))
            return batch.flip(-1)

        loader = DeviceLoader(
            few,
            batch_size=64,
            drop_last=True,
            augment=augment,
            num_replicas=3,
            rank=rank,
            generator=torch.Generator().manual_seed(7),
        )
        batches = list(loader)
        # without shuffling, rank r takes the r-th third of each of the 3 full batches
        assert loader.last_order is not None
        parts = [torch.arange(s, s + 64).tensor_split(3)[rank] for s in (0, 64, 128)]
        assert torch.equal(loader.last_order, torch.cat(parts))
        images = torch.cat([images for images, _ in batches])
        expected = DeviceLoader.to_float(few.images[loader.last_order]).flip(-1)
        assert torch.equal(images, expected)
        assert torch.equal(
            torch.cat([labels for _, labels in batches]), few.labels[loader.last_order]
        )
        # each rank augments with its own generator, seeded from the shared one plus its rank
        mine = torch.Generator().manual_seed(first_draw + rank)
        assert draws == [float(torch.rand((), generator=mine)) for _ in batches]
        shared_states.append(loader.generator.get_state())
    assert all(torch.equal(state, shared_states[0]) for state in shared_states)


def test_a_shard_of_too_few_examples_for_a_batch_is_empty(mnist: DatasetSplits) -> None:
    few = mnist.test.subset(slice(0, 50))
    loader = DeviceLoader(few, batch_size=64, drop_last=True, num_replicas=2, rank=1)
    assert list(loader) == [] and len(loader) == 0
    assert loader.last_order is not None and len(loader.last_order) == 0
    assert loader.global_batch_size(0) == 50 and loader.global_batch_size(1) == 0


# --- synthetic data (the quick tier) -------------------------------------------------------------


def test_every_path_turns_uint8_into_the_same_floats() -> None:
    # all 256 levels: a Split's items, the loader's batches and inference's input are the
    # same float32 values, each level divided by 255 (what torchvision's ToTensor gives)
    levels = torch.arange(256, dtype=torch.uint8).reshape(1, 16, 16).repeat(3, 1, 1)
    split = Split(levels, torch.tensor([0, 1, 2]), tuple("abc"))
    expected = torch.arange(256, dtype=torch.float32).div(255).reshape(1, 1, 16, 16)
    batch, _ = next(iter(DeviceLoader(split, batch_size=3)))
    assert torch.equal(batch, expected.expand(3, 1, 16, 16))
    assert torch.equal(split[1][0], expected[0])
    assert torch.equal(as_image_batch(levels), expected.expand(3, 1, 16, 16))
    assert torch.equal(DeviceLoader.to_float(levels), batch)


def test_loader_and_split_on_synthetic_files(synthetic_mnist: DatasetSplits) -> None:
    train = synthetic_mnist.train
    loader = DeviceLoader(train, batch_size=64, shuffle=True)
    labels = torch.cat([labels for _, labels in loader])
    assert len(loader) == 7 and torch.bincount(labels).tolist() == [40] * 10
    assert loader.last_order is not None and torch.equal(train.labels[loader.last_order], labels)
    part, held = train_val_split(train, val_fraction=0.25, seed=1)
    assert (len(part), len(held)) == (300, 100)
    assert held.class_counts().tolist() == [10] * 10
    assert (part.dataset, held.dataset) == ("mnist", "mnist")
    assert (part.name, held.name) == ("mnist/train[train]", "mnist/train[val]")
