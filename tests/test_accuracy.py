"""The accuracy recipes' parts: augmentation, weight averaging (EMA), ensembles, `best`/`fashion`.

Every test trains on a few hundred real images for one epoch: they check that the parts are
correct, not how accurate they make a model (``benchmarks/RESULTS.md`` records that).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import safetensors.torch
import torch

import mnistkit
from mnistkit import Trainer, datasets, get_model, get_recipe, load_model, predict_proba
from mnistkit.augment import (
    Compose,
    ElasticDistortion,
    RandomAffine,
    RandomCrop,
    RandomErasing,
    RandomHorizontalFlip,
    describe,
)
from mnistkit.cli import main
from mnistkit.datasets import DatasetSplits
from mnistkit.loaders import DeviceLoader
from mnistkit.models import ONE_PIXEL_SHIFTS, Ensemble, TestTimeAugmentation, shift_images
from mnistkit.run import run_ensemble, run_training

AUGMENTS = [
    RandomAffine(),
    RandomAffine(degrees=(-5, 15), translate=0.2, scale=(0.8, 1.2), shear=10),
    ElasticDistortion(alpha=6.0, sigma=2.5),
    RandomCrop(padding=3),
    RandomHorizontalFlip(),
    Compose(RandomHorizontalFlip(), RandomCrop(2)),
    RandomErasing(p=1.0),
    RandomErasing(p=0.5, value="random"),
]


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def batch(mnist: DatasetSplits) -> torch.Tensor:
    return DeviceLoader.to_float(mnist.train.images[:64])  # (64, 1, 28, 28) in [0, 1]


@pytest.mark.parametrize("augment", AUGMENTS, ids=repr)
def test_augment_keeps_shape_dtype_range_and_is_seeded(
    augment: RandomAffine, batch: torch.Tensor
) -> None:
    out = augment(batch, _generator(1))
    assert out.shape == batch.shape and out.dtype == batch.dtype and out.device == batch.device
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0 + 1e-6
    assert torch.equal(out, augment(batch, _generator(1)))  # same seed, same batch
    assert not torch.equal(out, augment(batch, _generator(2)))
    assert not torch.equal(out, batch)
    json.dumps(augment.to_dict())  # metrics.json records it


def test_affine_identity_and_a_quarter_turn(batch: torch.Tensor) -> None:
    identity = RandomAffine(degrees=0, translate=0, scale=(1, 1))
    torch.testing.assert_close(identity(batch, _generator(0)), batch, atol=1e-5, rtol=0)
    # 90 degrees maps the pixel centres of an even-sized image onto each other exactly
    turned = RandomAffine(degrees=(90, 90), translate=0, scale=(1, 1))(batch, _generator(0))
    assert any(
        torch.allclose(turned, torch.rot90(batch, k, dims=(2, 3)), atol=1e-5) for k in (1, -1)
    )


def test_crop_shifts_by_whole_pixels_and_flip_mirrors(batch: torch.Tensor) -> None:
    dot = torch.zeros(1, 1, 28, 28)
    dot[0, 0, 14, 10] = 1.0
    shifted = RandomCrop(padding=2)(dot.expand(16, 1, 28, 28), _generator(3))
    for image in shifted:
        (row, col) = torch.nonzero(image[0])[0].tolist()
        assert abs(row - 14) <= 2 and abs(col - 10) <= 2 and float(image.sum()) == 1.0
    assert torch.equal(RandomCrop(padding=0)(batch, _generator(0)), batch)
    assert torch.equal(RandomHorizontalFlip(1.0)(batch, _generator(0)), batch.flip(-1))
    assert torch.equal(RandomHorizontalFlip(0.0)(batch, _generator(0)), batch)


def test_random_erasing_blanks_one_rectangle_of_the_asked_size() -> None:
    ones = torch.ones(400, 1, 28, 28)
    erased = RandomErasing(p=1.0, scale=(0.05, 0.2), ratio=(0.5, 2.0))(ones, _generator(0))
    areas, ratios = [], []
    for image in erased[:, 0]:
        blank = image == 0
        rows, cols = blank.any(1).nonzero().flatten(), blank.any(0).nonzero().flatten()
        height, width = len(rows), len(cols)
        # one solid rectangle: its bounding box is all blank, everything else untouched
        assert int(blank.sum()) == height * width > 0
        assert rows.max() - rows.min() + 1 == height and cols.max() - cols.min() + 1 == width
        assert bool((image[~blank] == 1).all())
        areas.append(height * width / 784)
        ratios.append(height / width)
    # rounding the sides to whole pixels moves the area and ratio a little past the range
    assert min(areas) >= 0.04 and max(areas) <= 0.22
    assert min(areas) < 0.07 and max(areas) > 0.17  # the range is used, not a point of it
    assert min(ratios) >= 0.4 and max(ratios) <= 2.5
    # p: the share of images erased; value: the fill
    half = RandomErasing(p=0.5)(ones, _generator(1))
    share = float((half == 0).flatten(1).any(1).float().mean())
    assert 0.4 < share < 0.6
    grey = RandomErasing(p=1.0, value=0.5)(ones, _generator(2))
    assert set(torch.unique(grey).tolist()) == {0.5, 1.0}
    noisy = RandomErasing(p=1.0, value="random")(ones, _generator(3))
    changed = noisy != 1
    assert bool((noisy[changed] < 1).all()) and torch.unique(noisy[changed]).numel() > 100
    assert torch.equal(RandomErasing(p=0.0)(ones, _generator(4)), ones)
    assert describe(RandomErasing()) == {
        "name": "random_erasing",
        "p": 0.5,
        "scale": [0.02, 0.33],
        "ratio": [0.3, 3.3],
        "value": 0.0,
    }


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"value": "noise"}, "'value' must be a grey level in \\[0, 1\\] or \"random\""),
        ({"value": 1.5}, "'value'"),
        ({"scale": 0.2}, "'scale' must be a pair"),
        ({"scale": (0.0, 0.3)}, "'scale' must be a pair"),
        ({"scale": (0.1, 1.5)}, "'scale' must be a pair"),
        ({"ratio": (0.0, 2.0)}, "'ratio' must be a pair"),
        ({"ratio": (3.0, 1.0)}, "'ratio' must be a pair"),
        ({"p": 2}, "'p'"),
    ],
)
def test_random_erasing_arguments_are_checked(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(mnistkit.ConfigError, match=f"^RandomErasing: argument {match}"):
        RandomErasing(**kwargs)  # type: ignore[arg-type]


def test_augment_arguments_are_checked() -> None:
    with pytest.raises(mnistkit.ConfigError, match="'translate' must be a number in"):
        RandomAffine(translate=1.5)
    with pytest.raises(mnistkit.ConfigError, match="'scale' must be a pair"):
        RandomAffine(scale=1.1)  # type: ignore[arg-type]
    with pytest.raises(mnistkit.ConfigError, match="'degrees'.*low <= high"):
        RandomAffine(degrees=(10, -10))
    with pytest.raises(mnistkit.ConfigError, match="'padding' must be an integer >= 0"):
        RandomCrop(padding=-1)
    with pytest.raises(mnistkit.ConfigError, match="'p' must be a number in"):
        RandomHorizontalFlip(p=2)
    with pytest.raises(mnistkit.ConfigError, match="'sigma' must be a positive number"):
        ElasticDistortion(sigma=0)
    with pytest.raises(mnistkit.ConfigError, match=r"Compose: argument 'steps\[0\]'"):
        Compose("flip")  # type: ignore[arg-type]
    assert describe(None) is None and describe(torch.flip) == repr(torch.flip)  # type: ignore[arg-type]
    with pytest.raises(mnistkit.ConfigError, match="shape"):
        RandomAffine()(torch.rand(28, 28), _generator(0))


def test_augmentations_are_frozen_values_whose_repr_rebuilds_them() -> None:
    import dataclasses

    import mnistkit.augment
    import mnistkit.loaders

    # one Augment, defined with the steps and still importable from loaders
    assert mnistkit.loaders.Augment is mnistkit.augment.Augment
    namespace = vars(mnistkit.augment)
    for augment in AUGMENTS:
        assert eval(repr(augment), namespace) == augment  # the repr is the constructor call
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(augment, dataclasses.fields(augment)[0].name, 0.0)  # type: ignore[arg-type]
    # numbers are stored as the ranges they mean, and the records are read off the fields
    affine = RandomAffine(degrees=5, scale=[0.8, 1], shear=2)  # type: ignore[arg-type]
    assert repr(affine) == (
        "RandomAffine(degrees=(-5.0, 5.0), translate=0.1, scale=(0.8, 1.0), shear=(-2.0, 2.0))"
    )
    assert affine.to_dict() == {
        "name": "random_affine",
        "degrees": [-5.0, 5.0],
        "translate": 0.1,
        "scale": [0.8, 1.0],
        "shear": [-2.0, 2.0],
    }
    assert affine == RandomAffine(degrees=(-5, 5), scale=(0.8, 1.0), shear=(-2, 2))
    assert RandomErasing(0.3, (0.1, 0.2), (0.5, 2.0), "random") == RandomErasing(
        p=0.3, scale=(0.1, 0.2), ratio=(0.5, 2.0), value="random"
    )
    assert repr(ElasticDistortion(alpha=2, sigma=1)) == "ElasticDistortion(alpha=2.0, sigma=1.0)"
    nested = Compose(Compose(RandomCrop(1)), RandomHorizontalFlip(0.25))
    assert repr(nested) == "Compose(Compose(RandomCrop(padding=1)), RandomHorizontalFlip(p=0.25))"
    assert nested.to_dict() == {
        "name": "compose",
        "steps": [
            {"name": "compose", "steps": [{"name": "random_crop", "padding": 1}]},
            {"name": "random_horizontal_flip", "p": 0.25},
        ],
    }
    with pytest.raises(TypeError):
        RandomAffine(10)  # type: ignore[call-arg]  # keyword-only, as before


def test_augmented_batches_keep_their_labels(mnist: DatasetSplits) -> None:
    # each image is painted with its label's grey level: after a warp the centre pixel
    # still tells the label, so any reordering of images against labels would show
    split = mnist.train.subset(slice(0, 512))
    shade = (split.labels.to(torch.float32) * 25 + 10).to(torch.uint8)  # 10, 35, ..., 235
    split.images = shade.view(-1, 1, 1).expand(-1, 28, 28).contiguous()
    loader = DeviceLoader(
        split,
        batch_size=100,
        shuffle=True,
        generator=_generator(0),
        augment=RandomAffine(degrees=10, translate=0.05, scale=(0.95, 1.05)),
    )
    for images, labels in loader:
        centre = images[:, 0, 12:16, 12:16].mean((1, 2)) * 255
        assert torch.equal(((centre - 10) / 25).round().long(), labels)


# ------------------------------------------------------------------------------- ensemble
def test_ensemble_of_identical_members_equals_the_member(mnist: DatasetSplits) -> None:
    torch.manual_seed(0)
    member = get_model("cnn", channels=(8, 16), hidden=0).eval()
    images = mnist.test.images[:200]
    alone = predict_proba(member, images)
    together = predict_proba(Ensemble([member, copy.deepcopy(member), member]), images)
    torch.testing.assert_close(together, alone, atol=1e-6, rtol=1e-5)
    other = get_model("cnn", channels=(8, 16), hidden=0).eval()
    mixed = predict_proba(Ensemble([member, other]), images)
    torch.testing.assert_close(mixed, (alone + predict_proba(other, images)) / 2)
    with pytest.raises(mnistkit.ConfigError, match="'members'"):
        Ensemble([])


def test_ensemble_file_loads_like_a_model(mnist: DatasetSplits, tmp_path: Path) -> None:
    members = [get_model("linear"), get_model("cnn", channels=(4,), hidden=0)]
    ensemble = Ensemble(members).eval()
    path = mnistkit.save_model(ensemble, tmp_path / "e.safetensors", dataset="mnist")
    loaded = load_model(path)
    assert loaded.metadata.architecture == "ensemble" and isinstance(loaded.model, Ensemble)
    assert [m["name"] for m in loaded.metadata.config["members"]] == ["linear", "cnn"]
    images = mnist.test.images[:50]
    torch.testing.assert_close(predict_proba(loaded.model, images), predict_proba(ensemble, images))
    assert "ensemble" not in mnistkit.list_models()  # made of trained models, not trained
    with pytest.raises(mnistkit.ConfigError, match="cannot be a member"):
        get_model("ensemble", members=[{"name": "ensemble", "config": {}}])


# ---------------------------------------------------------------- test-time augmentation
def test_shift_images_moves_real_digits_by_whole_pixels(mnist: DatasetSplits) -> None:
    images = DeviceLoader.to_float(mnist.test.images[:8])
    moved = shift_images(images, 2, -3)  # 2 right, 3 up
    assert moved.shape == images.shape
    assert torch.equal(moved[..., :-3, 2:], images[..., 3:, :-2])
    assert not moved[..., -3:, :].any() and not moved[..., :, :2].any()  # filled with black
    assert torch.equal(shift_images(images, 0, 0), images)
    assert torch.equal(shift_images(shift_images(images, 1, 0), -1, 0)[..., :-1], images[..., :-1])


def test_test_time_augmentation_averages_the_shifted_views(mnist: DatasetSplits) -> None:
    torch.manual_seed(0)
    model = get_model("cnn", channels=(8, 16), hidden=0, batch_norm=True).eval()
    images = mnist.test.images[:300]
    pixels = DeviceLoader.to_float(images)
    wrapped = TestTimeAugmentation(model)
    assert wrapped.shifts == ONE_PIXEL_SHIFTS and len(ONE_PIXEL_SHIFTS) == 5
    expected = torch.stack(
        [torch.softmax(model(shift_images(pixels, dx, dy)), 1) for dx, dy in ONE_PIXEL_SHIFTS]
    ).mean(0)
    ours = predict_proba(wrapped, images, precision="32")
    torch.testing.assert_close(ours, expected, atol=1e-6, rtol=1e-5)
    assert not torch.allclose(ours, predict_proba(model, images, precision="32"), atol=1e-3)
    # the views of a batch go through the model together: batch norm in eval mode does not
    # care, so the batch size changes nothing
    small = predict_proba(wrapped, images, batch_size=7, precision="32")
    torch.testing.assert_close(small, ours, atol=1e-6, rtol=1e-5)
    itself = TestTimeAugmentation(model, shifts=[(0, 0)])
    torch.testing.assert_close(
        predict_proba(itself, images, precision="32"), predict_proba(model, images, precision="32")
    )
    assert "shifts=((0, 0),)" in repr(itself)


def test_test_time_augmentation_with_mirror_images(fashion: DatasetSplits) -> None:
    torch.manual_seed(0)
    model = get_model("cnn", dataset="fashion-mnist", channels=(8, 16), hidden=0).eval()
    images = fashion.test.images[:200]
    pixels = DeviceLoader.to_float(images)
    shifts = [(0, 0), (1, 0)]
    wrapped = TestTimeAugmentation(model, shifts=shifts, flip=True)
    assert wrapped.num_views == 4 and TestTimeAugmentation(model, shifts=shifts).num_views == 2
    views = [shift_images(p, dx, dy) for p in (pixels, pixels.flip(-1)) for dx, dy in shifts]
    expected = torch.stack([torch.softmax(model(v), 1) for v in views]).mean(0)
    torch.testing.assert_close(predict_proba(wrapped, images, precision="32"), expected)
    # a mirrored image's view is its own mirror view: a symmetric image gains nothing
    symmetric = torch.cat([images[..., :14], images[..., :14].flip(-1)], dim=-1)
    mirrored = TestTimeAugmentation(model, shifts=[(0, 0)], flip=True)
    torch.testing.assert_close(
        predict_proba(mirrored, symmetric, precision="32"),
        predict_proba(model, symmetric, precision="32"),
    )
    assert not torch.allclose(
        predict_proba(mirrored, images, precision="32"),
        predict_proba(model, images, precision="32"),
        atol=1e-3,
    )
    assert "flip=True" in repr(wrapped)
    with pytest.raises(mnistkit.ConfigError, match="Argument 'flip' must be True or False"):
        TestTimeAugmentation(model, flip="yes")  # type: ignore[arg-type]
    assert mnistkit.datasets.get_info("fashion-mnist").mirror_symmetric
    assert not mnistkit.datasets.get_info("mnist").mirror_symmetric


@pytest.mark.parametrize(
    "shifts", [[], "up", [(0, 0, 1)], [(0.5, 0)], [(True, 0)], [(28, 0)], [(0, -28)], 3]
)
def test_test_time_augmentation_checks_its_shifts(shifts: object) -> None:
    with pytest.raises(mnistkit.ConfigError, match="Argument 'shifts'") as caught:
        TestTimeAugmentation(get_model("linear"), shifts=shifts)  # type: ignore[arg-type]
    assert repr(shifts if not isinstance(shifts, list) or not shifts else shifts[0]) in str(
        caught.value
    )
    with pytest.raises(mnistkit.ConfigError, match="Argument 'model'"):
        TestTimeAugmentation("cnn")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------ EMA
def _tiny(**changes: object) -> mnistkit.Recipe:
    """The `best` recipe with a tiny network, one epoch, batches of 64, on the CPU."""
    settings: dict[str, object] = {
        "model_config": {"stages": ((4,), (8,)), "dropout": 0.0},
        "epochs": 1,
        "batch_size": 64,
        "device": "cpu",
        "progress": False,
        "precision": "32",
    }
    return get_recipe("best").replace(**{**settings, **changes})


class _StopAfterFirstEpoch(mnistkit.Callback):
    def on_epoch_end(self, run: mnistkit.RunView, epoch: int, record: dict[str, float]) -> None:
        run.request_stop()


def _fit(
    recipe: mnistkit.Recipe,
    train: datasets.Split,
    callbacks: tuple[mnistkit.Callback, ...] = (),
    **fit: object,
) -> Trainer:
    mnistkit.seed_everything(recipe.config.seed)
    trainer = Trainer(
        recipe.build_model(), recipe.config, augment=recipe.augment, callbacks=callbacks
    )
    trainer.fit(train, **fit)  # type: ignore[arg-type]
    return trainer


def test_ema_weights_are_what_is_evaluated_and_saved(mnist: DatasetSplits, tmp_path: Path) -> None:
    train = mnist.train.subset(slice(0, 512))
    trainer = _fit(_tiny(ema_decay=0.9), train)
    averaged, raw = trainer.inference_model.state_dict(), trainer.model.state_dict()
    assert trainer.inference_model is not trainer.model
    assert not torch.equal(averaged["features.0.weight"], raw["features.0.weight"])
    # batch-norm statistics are averaged too (use_buffers=True)
    assert not torch.equal(averaged["features.1.running_mean"], raw["features.1.running_mean"])
    saved = safetensors.torch.load_file(str(trainer.save_model(tmp_path / "m.safetensors")))
    for name, tensor in averaged.items():
        assert torch.equal(saved[name], tensor), name
    images = mnist.test.images[:100]
    torch.testing.assert_close(
        trainer.predict_proba(images), predict_proba(trainer.inference_model, images)
    )
    plain = _fit(_tiny(ema_decay=None), train)
    assert plain.inference_model is plain.model  # no average without ema_decay


class _WeightsAfterEachStep(mnistkit.Callback):
    def __init__(self) -> None:
        self.steps: list[dict[str, torch.Tensor]] = []

    def on_batch_end(self, run: mnistkit.RunView, batch: int, loss: float | None) -> None:
        self.steps.append({k: v.detach().clone() for k, v in run.model.state_dict().items()})


@pytest.mark.parametrize("decay", [0.2, 0.9])
def test_ema_follows_its_formula_step_by_step(mnist: DatasetSplits, decay: float) -> None:
    """avg_1 = w_1, then avg += (1 - min(decay, (1 + n) / (10 + n))) * (w - avg), n = step - 1.

    With decay 0.2 the warm-up term (2/11 after one step) gives way to the decay; with 0.9
    the warm-up term stays below it for the four steps. Integer buffers (batch norm's step
    counter) are copied, not averaged.
    """
    recorder = _WeightsAfterEachStep()
    trainer = _fit(_tiny(ema_decay=decay), mnist.train.subset(slice(0, 256)), (recorder,))
    assert len(recorder.steps) == 4
    expected = {k: v.clone() for k, v in recorder.steps[0].items()}
    for n, weights in enumerate(recorder.steps[1:], start=1):
        moved = 1.0 - min(decay, (1.0 + n) / (10.0 + n))
        for name, value in weights.items():
            if value.is_floating_point():
                expected[name] += moved * (value - expected[name])
            else:
                expected[name] = value.clone()
    averaged = trainer.inference_model.state_dict()
    for name, value in expected.items():
        torch.testing.assert_close(averaged[name], value, rtol=1e-5, atol=1e-6, msg=name)
    assert int(averaged["features.1.num_batches_tracked"]) == 4


def test_validation_reads_the_weight_average(mnist: DatasetSplits) -> None:
    train, val = mnist.train.subset(slice(0, 512)), mnist.train.subset(slice(512, 812))
    trainer = _fit(_tiny(ema_decay=0.9, epochs=2, lr=0.02), train, val=val)
    record = trainer.history.records[-1]
    report = mnistkit.metrics.Report.from_probabilities(
        predict_proba(trainer.inference_model, val.images, precision="32"), val.labels
    )
    assert record["val_loss"] == pytest.approx(report.nll, rel=1e-5)
    assert record["val_accuracy"] == pytest.approx(report.accuracy)
    raw = mnistkit.metrics.Report.from_probabilities(
        predict_proba(trainer.model, val.images, precision="32"), val.labels
    )
    assert raw.nll is not None and report.nll is not None
    assert abs(raw.nll - report.nll) > 1e-3  # the raw weights read otherwise


def test_resume_continues_the_weight_average(mnist: DatasetSplits, tmp_path: Path) -> None:
    train = mnist.train.subset(slice(0, 256))
    straight = _fit(_tiny(ema_decay=0.9, epochs=2), train)
    stop = (mnistkit.TrainingStateCheckpoint(tmp_path / "state.pt"), _StopAfterFirstEpoch())
    _fit(_tiny(ema_decay=0.9, epochs=2), train, callbacks=stop)
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    assert state["averaged"] is not None and int(state["averaged"]["n_averaged"]) == 4
    resumed = _fit(_tiny(ema_decay=0.9, epochs=2), train, resume_from=tmp_path / "state.pt")
    for name, tensor in straight.inference_model.state_dict().items():
        assert torch.equal(resumed.inference_model.state_dict()[name], tensor), name
    with pytest.raises(mnistkit.CheckpointError, match="ema_decay"):
        _fit(_tiny(epochs=2, ema_decay=None), train, resume_from=tmp_path / "state.pt")
    with pytest.raises(mnistkit.ConfigError, match="'ema_decay'"):
        mnistkit.TrainConfig(ema_decay=1.0)


# -------------------------------------------------------------------------------- recipes
@pytest.fixture
def small_mnist(mnist: DatasetSplits, monkeypatch: pytest.MonkeyPatch) -> DatasetSplits:
    """`datasets.load` (and `load_split`) gives 256 training and 200 test images of real MNIST."""
    small = DatasetSplits(
        mnist.info, mnist.train.subset(slice(0, 256)), mnist.test.subset(slice(0, 200)), mnist.root
    )
    monkeypatch.setattr(datasets, "load", lambda *args, **kwargs: small)
    # `mnistkit evaluate` reads one split
    monkeypatch.setattr(
        datasets, "load_split", lambda name, split="test", **kw: getattr(small, split)
    )
    return small


def test_best_and_fashion_recipes_run_and_record_their_augmentation(
    small_mnist: DatasetSplits, tmp_path: Path
) -> None:
    for name in ("best", "fashion"):
        recipe = get_recipe(name)
        assert recipe.augment is not None and recipe.config.ema_decay is not None
        result = run_training(
            tmp_path / name, recipe=_tiny().replace(augment=recipe.augment), figures=False
        )
        assert result.trainer.augment is recipe.augment
        metrics = json.loads((tmp_path / name / "metrics.json").read_text())
        assert metrics["augment"] == recipe.to_dict()["augment"]
        assert metrics["config"]["ema_decay"] == recipe.config.ema_decay
        assert metrics["threads"] >= 1 and metrics["hardware"]
    assert get_recipe("best").augment.to_dict()["name"] == "random_affine"  # type: ignore[union-attr]
    fashion = get_recipe("fashion").to_dict()["augment"]["steps"]
    names = [step["name"] for step in fashion]
    assert names == ["random_horizontal_flip", "random_crop", "random_erasing"]
    assert fashion[2]["value"] == "random" and get_recipe("fashion").config.epochs == 40


def test_ensemble_command_trains_members_and_writes_one_model(
    small_mnist: DatasetSplits, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ens"
    args = ["ensemble", "--recipe", "fast", "--seeds", "3", "5", "--quiet", "--out", str(out)]
    assert main(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"] == "ensemble" and [m["seed"] for m in metrics["members"]] == [3, 5]
    assert (out / "confusion_matrix.png").is_file()
    loaded = load_model(out / "model.safetensors")
    assert isinstance(loaded.model, Ensemble) and len(loaded.model) == 2
    # evaluate reads it like any model and gets the recorded accuracy
    capsys.readouterr()
    assert main(["evaluate", str(out / "model.safetensors"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == metrics["test_accuracy"]
    # a second call reuses the finished members instead of training them again
    member = out / "member-seed3" / "model.safetensors"
    before = member.stat().st_mtime_ns
    again = run_ensemble(out, recipe=get_recipe("fast").replace(progress=False), seeds=[3, 5])
    assert member.stat().st_mtime_ns == before
    assert again.report.accuracy == metrics["test_accuracy"]
    # a finished member trained otherwise is not mixed in
    with pytest.raises(mnistkit.ConfigError, match="member-seed3: this member was trained with"):
        run_ensemble(out, recipe=get_recipe("fast").replace(lr=0.5), seeds=[3, 5])
    with pytest.raises(mnistkit.ConfigError, match="distinct"):
        run_ensemble(tmp_path / "bad", recipe="fast", seeds=[1, 1])


def test_ensemble_of_several_recipes_averages_every_member(
    small_mnist: DatasetSplits, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "mixed"
    args = ["ensemble", "--recipe", "fast", "default", "--epochs", "1", "--seeds", "0", "2"]
    assert main([*args, "--quiet", "--out", str(out)]) == 0
    assert "recipes 'fast', 'default' on mnist, seeds 0, 2" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    folders = [f"member-{name}-seed{seed}" for name in ("fast", "default") for seed in (0, 2)]
    assert [m["folder"] for m in metrics["members"]] == folders
    assert [m["recipe"] for m in metrics["members"]] == ["fast", "fast", "default", "default"]
    assert metrics["recipe"] == "fast+default" and set(metrics["recipes"]) == {"fast", "default"}
    settings = metrics["recipes"]
    assert settings["default"]["model_config"] != settings["fast"]["model_config"]
    # the file is the mean of the four members' probabilities, whatever their networks
    images = small_mnist.test.images
    members = [load_model(out / folder / "model.safetensors").model for folder in folders]
    mean = torch.stack([predict_proba(m, images) for m in members]).mean(0)
    ensemble = load_model(out / "model.safetensors").model
    assert isinstance(ensemble, Ensemble) and len(ensemble) == 4
    torch.testing.assert_close(predict_proba(ensemble, images), mean, atol=1e-5, rtol=1e-4)
    assert metrics["test_accuracy"] == pytest.approx(
        (mean.argmax(1) == small_mnist.test.labels).float().mean().item()
    )
    # the same recipe twice is refused, with the names given
    assert main(["ensemble", "--recipe", "fast", "fast", "--out", str(tmp_path / "x")]) == 2
    assert "distinct recipes" in capsys.readouterr().err and not (tmp_path / "x").exists()
    with pytest.raises(mnistkit.ConfigError, match="distinct recipes"):
        run_ensemble(tmp_path / "y", recipe=[], seeds=[0])
