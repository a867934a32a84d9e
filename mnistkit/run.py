"""A whole training run into a folder: what ``mnistkit train`` does, callable from Python.

:func:`run_training` loads the data, builds the model, trains it (optionally holding out a
validation split), evaluates it once on the test set and writes everything into one
folder::

    model.safetensors      the model (weights, normalisation, metadata)
    metrics.json           test accuracy, timings, settings and the full report
    history.json           one record per epoch
    state.pt               the training state, for resume=True
    predictions.png        test digits with their predicted labels
    misclassified.png      test digits the model got wrong
    confusion_matrix.png   the confusion matrix
    history.png            learning curves

Every file is written atomically, so an interrupted run never leaves half a file.

Under ``torchrun`` (data-parallel, see :mod:`mnistkit.distributed`) every rank trains and
evaluates, but only rank 0 locks the folder and writes these files; the other ranks write
nothing. With ``resume=True`` every rank reads ``state.pt``, so on several machines ``out``
must be on a shared file system.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import platform
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mnistkit import datasets, distributed
from mnistkit._io import atomic_open, locked_folder, write_json
from mnistkit._validation import check_int
from mnistkit.callbacks import Callback, TrainingStateCheckpoint
from mnistkit.checkpoints import _FREE_ON_RESUME, load_model, save_model
from mnistkit.config import TrainConfig
from mnistkit.devices import resolve_device, resolve_precision, seed_everything
from mnistkit.exceptions import CheckpointError, ConfigError
from mnistkit.history import History
from mnistkit.inference import predict_proba
from mnistkit.loaders import train_val_split
from mnistkit.metrics import Report
from mnistkit.models import Ensemble
from mnistkit.recipes import Recipe, get_recipe, resolve_recipe
from mnistkit.trainer import Trainer

__all__ = ["EnsembleResult", "RunResult", "run_ensemble", "run_training"]

#: The figures :func:`run_training` draws, by file name.
FIGURES = ("predictions.png", "misclassified.png", "confusion_matrix.png", "history.png")


@dataclass(frozen=True, slots=True)
class RunResult:
    """What :func:`run_training` produced.

    Parameters
    ----------
    out : pathlib.Path
        The output folder.
    model_path : pathlib.Path
        The saved model, ``out / "model.safetensors"``.
    metrics : dict
        What ``metrics.json`` holds.
    history : History
        The epochs' records.
    report : Report
        The evaluation on the test set.
    trainer : Trainer
        The trainer, holding the trained model.
    """

    out: Path
    model_path: Path
    metrics: dict[str, Any]
    history: History
    report: Report
    trainer: Trainer


def run_training(
    out: str | os.PathLike[str],
    *,
    recipe: str | Recipe | None = None,
    dataset: str = "mnist",
    model: str | None = None,
    model_config: Mapping[str, Any] | None = None,
    config: TrainConfig | None = None,
    val_fraction: float = 0.0,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    resume: bool = False,
    callbacks: Sequence[Callback] = (),
    figures: bool = True,
) -> RunResult:
    """Train a registered model on a data set and write the model, metrics and figures.

    Parameters
    ----------
    out : path-like
        The output folder; removed again if the run fails before writing anything.
    recipe : str or Recipe, optional
        Where the model and the training settings come from (see :mod:`mnistkit.recipes`).
        When omitted: the recipe named after ``model`` if ``model`` is given (every
        built-in model has one), else ``"default"`` (the classic CNN with batch norm).
        ``model``, ``model_config`` and ``config`` replace the recipe's
        (:func:`mnistkit.recipes.resolve_recipe`).
    dataset : {"mnist", "fashion-mnist"}, default="mnist"
        The data set (see :func:`mnistkit.datasets.load`).
    model : str, optional
        A registered model name (see :func:`mnistkit.list_models`). Alone, it trains that
        model's own recipe; with ``recipe``, the recipe's settings with this model (and
        the model's own defaults).
    model_config : mapping, optional
        Keyword arguments of the model, e.g. ``{"channels": (16, 32)}``.
    config : TrainConfig, optional
        How to train, instead of the recipe's.
    val_fraction : float, default=0.0
        Hold out this share of the training set (stratified) and validate on it after
        every epoch; 0 trains on all of it.
    data_dir : path-like, optional
        The data folder (default: ``$MNISTKIT_DATA_DIR``, then the per-user cache).
    download : bool, default=True
        Download missing data files.
    resume : bool, default=False
        Continue from ``out/state.pt`` (same settings; more epochs allowed for per-epoch
        schedules).
    callbacks : sequence of Callback, optional
        More callbacks for the trainer (a training-state checkpoint is always added).
    figures : bool, default=True
        Draw the four figures.

    Returns
    -------
    RunResult
        The folder, the model file's path, the metrics, the history, the test report and
        the trainer.

    Raises
    ------
    ConfigError
        ``out`` is a file, or another argument is invalid.
    CheckpointError
        ``resume`` without a training state in ``out``.
    FolderLockedError
        Another run is writing into ``out`` (each run holds a lock on its folder).
    TrainingDivergedError
        The loss became NaN or infinite; the model is not written.

    Notes
    -----
    Under ``torchrun`` (and ``config.distributed`` other than ``"off"``) this trains
    data-parallel; only rank 0 locks ``out`` and writes into it, and the other ranks'
    :class:`RunResult` names files they did not write.
    """
    out = Path(out)
    base = resolve_recipe(recipe, model=model)  # `model` alone: the model's own recipe
    changes: dict[str, Any] = {}
    if model_config is not None:
        changes["model_config"] = model_config
    if config is not None:
        changes["config"] = config
    chosen = base.replace(**changes)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"Argument 'out' must be a folder, but {str(out)!r} is a file")
    state_path = out / "state.pt"
    if resume and not state_path.is_file():
        raise CheckpointError(f"{state_path}: nothing to resume (no training state there).")
    resolve_device(chosen.config.device)  # an unavailable device fails before any download
    # under torchrun, rank 0 alone locks and writes the folder
    writes = chosen.config.distributed == "off" or distributed.is_main_process()
    with locked_folder(out) if writes else contextlib.nullcontext():
        return _run(
            out,
            state_path,
            recipe=chosen,
            dataset=dataset,
            val_fraction=val_fraction,
            data_dir=data_dir,
            download=download,
            resume=resume,
            callbacks=callbacks,
            figures=figures,
            writes=writes,
        )


def _run(
    out: Path,
    state_path: Path,
    *,
    recipe: Recipe,
    dataset: str,
    val_fraction: float,
    data_dir: str | os.PathLike[str] | None,
    download: bool,
    resume: bool,
    callbacks: Sequence[Callback],
    figures: bool,
    writes: bool,
) -> RunResult:
    config = recipe.config
    data = datasets.load(
        dataset, root=data_dir, download=download, progress=config.progress is not False
    )
    train, val = data.train, None
    if val_fraction > 0:
        train, val = train_val_split(data.train, val_fraction=val_fraction, seed=config.seed)
    seed_everything(config.seed)  # the model's initial weights follow the seed
    built = recipe.build_model(data.name, num_classes=len(data.classes))
    trainer = Trainer(
        built,
        config,
        callbacks=[TrainingStateCheckpoint(state_path), *callbacks],
        augment=recipe.augment,
    )
    started = time.perf_counter()
    history = trainer.fit(train, val=val, resume_from=state_path if resume else None)
    train_seconds = sum(history.seconds)
    probs = trainer.predict_proba(data.test.images)  # (N, C): for the report and figures
    report = Report.from_probabilities(probs, data.test.labels, classes=data.classes)
    metrics: dict[str, Any] = {
        "dataset": data.name,
        "recipe": recipe.name,
        "model": recipe.model,
        "test_accuracy": report.accuracy,
        "test_nll": report.nll,
        "train_seconds": train_seconds,
        "wall_seconds": time.perf_counter() - started,
        "epochs": len(history),
        "parameters": sum(p.numel() for p in built.parameters()),
        **_machine_record(trainer.device),
        "world_size": trainer.distributed.world_size,
        "backend": trainer.distributed.backend,
        "precision": trainer.precision.precision,
        "seed": config.seed,
        "val_fraction": val_fraction,
        **_settings_record(recipe),
        "report": report.to_dict(),
    }
    model_path = out / "model.safetensors"
    if not writes:
        return RunResult(out, model_path, metrics, history, report, trainer)
    trainer.save_model(model_path, metrics={"test_accuracy": report.accuracy})
    write_json(out / "metrics.json", metrics)
    history.save(out / "history.json")
    if figures:
        _draw_figures(out, data.test, probs, report, history)
    return RunResult(out, model_path, metrics, history, report, trainer)


def _draw_figures(
    out: Path, test: datasets.Split, probs: Any, report: Report, history: History | None
) -> None:
    import matplotlib.pyplot as plt

    from mnistkit import plotting

    shown = 36
    drawn = {
        "predictions.png": plotting.show_predictions(
            test.images[:shown],
            probs[:shown].argmax(1),
            test.labels[:shown],
            classes=test.classes,
            probabilities=probs[:shown],
            n=shown,
            title=f"The first {shown} test images (test accuracy {report.accuracy:.2%})",
        ),
        "misclassified.png": plotting.show_misclassified(
            test.images, probs, test.labels, classes=test.classes, n=shown
        ),
        "confusion_matrix.png": plotting.plot_confusion_matrix(report).get_figure(root=True),
    }
    if history is not None:
        drawn["history.png"] = plotting.plot_history(history)
    for name, figure in drawn.items():
        if figure is None:  # e.g. nothing misclassified
            continue
        with atomic_open(out / name, "wb") as handle:
            figure.savefig(handle, format="png", dpi=100, bbox_inches="tight")
        plt.close(figure)


def _machine_record(device: torch.device) -> dict[str, Any]:
    """``metrics.json``'s device, hardware and thread count."""
    return {
        "device": str(device),
        "hardware": _hardware(device),
        "threads": torch.get_num_threads(),
    }


def _settings_record(recipe: Recipe) -> dict[str, Any]:
    """``metrics.json``'s resolved training settings, model settings and augmentation."""
    described = recipe.to_dict()
    return {
        "config": recipe.config.to_dict(),
        "model_config": described["model_config"],
        "augment": described["augment"],
    }


def _hardware(device: torch.device) -> str:
    """A short description of the processor behind ``device``, for records of a run.

    Parameters
    ----------
    device : torch.device
        Where a run trained.

    Returns
    -------
    str
        The GPU's name for CUDA, else the CPU's model name (from ``/proc/cpuinfo`` where
        there is one) and its number of logical cores.
    """
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    name = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                name = line.partition(":")[2].strip()
                break
    return f"{name}, {os.cpu_count()} logical cores"


@dataclass(frozen=True, slots=True)
class EnsembleResult:
    """What :func:`run_ensemble` produced.

    Parameters
    ----------
    out : pathlib.Path
        The output folder.
    model_path : pathlib.Path
        The ensemble's model file, ``out / "model.safetensors"``.
    metrics : dict
        What ``metrics.json`` holds, with each member's figures under ``"members"``.
    report : Report
        The ensemble's evaluation on the test set.
    member_paths : tuple of pathlib.Path
        The members' folders, each a complete :func:`run_training` folder.
    """

    out: Path
    model_path: Path
    metrics: dict[str, Any]
    report: Report
    member_paths: tuple[Path, ...]


def run_ensemble(
    out: str | os.PathLike[str],
    *,
    recipe: str | Recipe | Sequence[str | Recipe] | None = None,
    dataset: str = "mnist",
    members: int = 3,
    seeds: Sequence[int] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    callbacks: Sequence[Callback] = (),
    figures: bool = True,
) -> EnsembleResult:
    """Train several members of a recipe with different seeds and save them as one model.

    Each member is a whole :func:`run_training` run on all the training images (no
    validation split) into ``out/member-seed<S>/``. Given several recipes, every recipe
    trains one member per seed, into ``out/member-<recipe>-seed<S>/``: members that differ
    in more than their seed (another augmentation or network) make fewer of the same
    mistakes, which is what an ensemble gains from. The :class:`~mnistkit.models.Ensemble`
    of their models (the mean of their class probabilities) is written as one model file,
    ``out/model.safetensors``, which :func:`mnistkit.load_model`, ``mnistkit evaluate`` and
    ``mnistkit predict`` use like any other model; it is evaluated once on the test set and
    ``out`` gets the same ``metrics.json`` and figures as a single run (no ``history.png``).

    Calling it again with the same arguments continues where it stopped: a finished member
    (its folder holds ``model.safetensors`` and ``metrics.json``) is reused, an interrupted
    one resumes from its ``state.pt``.

    Parameters
    ----------
    out : path-like
        The output folder.
    recipe : str, Recipe or sequence of them, optional
        What each member trains (``"default"`` when omitted); its seed is replaced by the
        member's. Several recipes (distinct names) train ``len(seeds)`` members each; the
        first one's device, precision and evaluation batch size evaluate the ensemble.
    dataset : {"mnist", "fashion-mnist"}, default="mnist"
        The data set.
    members : int, default=3
        How many members, seeded ``recipe.config.seed``, ``+ 1``, ...; ignored when
        ``seeds`` is given.
    seeds : sequence of int, optional
        The members' seeds, distinct.
    data_dir : path-like, optional
        The data folder (default: ``$MNISTKIT_DATA_DIR``, then the per-user cache).
    download : bool, default=True
        Download missing data files.
    callbacks : sequence of Callback, optional
        More callbacks for every member's trainer.
    figures : bool, default=True
        Draw the ensemble's figures (members draw none).

    Returns
    -------
    EnsembleResult
        The folder, the model file, the metrics, the test report and the members' folders.

    Raises
    ------
    ConfigError
        Bad ``members``, ``seeds`` or ``recipe``, or ``out`` is a file.
    """
    out = Path(out)
    chosen = _ensemble_recipes(recipe)
    if seeds is None:
        count = check_int(members, "members")
        seeds = [chosen[0].config.seed + i for i in range(count)]
    seeds = [check_int(seed, "seeds", minimum=0) for seed in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(f"Argument 'seeds' must be distinct and non-empty, but got {seeds!r}")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"Argument 'out' must be a folder, but {str(out)!r} is a file")
    with locked_folder(out):
        member_paths: list[Path] = []
        member_records: list[dict[str, Any]] = []
        for kind, seed in itertools.product(chosen, seeds):
            name = f"member-seed{seed}" if len(chosen) == 1 else f"member-{kind.name}-seed{seed}"
            folder = out / name
            member = kind.replace(seed=seed)
            record = _finished_member(folder, member, dataset)
            if record is None:
                result = run_training(
                    folder,
                    recipe=member,
                    dataset=dataset,
                    data_dir=data_dir,
                    download=download,
                    resume=(folder / "state.pt").is_file(),
                    callbacks=callbacks,
                    figures=False,
                )
                record = result.metrics
            member_paths.append(folder)
            member_records.append(record)
        return _evaluate_ensemble(
            out,
            chosen,
            dataset,
            member_paths,
            member_records,
            data_dir=data_dir,
            download=download,
            figures=figures,
        )


def _ensemble_recipes(recipe: str | Recipe | Sequence[str | Recipe] | None) -> list[Recipe]:
    """``run_ensemble``'s ``recipe`` argument as a non-empty list of distinct recipes."""
    given = recipe if isinstance(recipe, Sequence) and not isinstance(recipe, str) else [recipe]
    chosen = [get_recipe(item if item is not None else "default") for item in given]
    names = [item.name for item in chosen]
    if not chosen or len(set(names)) != len(names):
        raise ConfigError(
            f"Argument 'recipe' must name distinct recipes, at least one, but got {names!r}"
        )
    return chosen


def _finished_member(folder: Path, recipe: Recipe, dataset: str) -> dict[str, Any] | None:
    """A member folder's metrics if its run finished (model and metrics written), else None.

    A finished member trained with other settings than ``recipe`` (or on another data set)
    is refused rather than mixed into the ensemble."""
    metrics_path = folder / "metrics.json"
    if not (folder / "model.safetensors").is_file() or not metrics_path.is_file():
        return None
    record: dict[str, Any] = json.loads(metrics_path.read_text(encoding="utf-8"))
    wanted = json.loads(json.dumps(recipe.to_dict()))  # tuples -> lists, as in the file
    found = {
        "dataset": record.get("dataset"),
        "recipe": record.get("recipe"),
        "model_config": record.get("model_config"),
        "augment": record.get("augment"),
        **{f"config.{k}": v for k, v in (record.get("config") or {}).items()},
    }
    expected = {
        "dataset": datasets.get_info(dataset).name,
        "recipe": wanted["name"],
        "model_config": wanted["model_config"],
        "augment": wanted["augment"],
        **{f"config.{k}": v for k, v in wanted["config"].items()},
    }
    different = sorted(
        key
        for key in expected
        if key.removeprefix("config.") not in _FREE_ON_RESUME and found.get(key) != expected[key]
    )
    if different:
        raise ConfigError(
            f"{folder}: this member was trained with other settings "
            f"({', '.join(f'{k}: {found.get(k)!r} != {expected[k]!r}' for k in different)}); "
            "write the ensemble into another folder (--out), or remove the member's folder."
        )
    return record


def _evaluate_ensemble(
    out: Path,
    recipes: list[Recipe],
    dataset: str,
    member_paths: list[Path],
    member_records: list[dict[str, Any]],
    *,
    data_dir: str | os.PathLike[str] | None,
    download: bool,
    figures: bool,
) -> EnsembleResult:
    config = recipes[0].config
    device = resolve_device(config.device)
    data = datasets.load(
        dataset, root=data_dir, download=download, progress=config.progress is not False
    )
    loaded = [load_model(folder / "model.safetensors", device=device) for folder in member_paths]
    ensemble = Ensemble([item.model for item in loaded]).eval()
    started = time.perf_counter()
    probs = predict_proba(
        ensemble,
        data.test.images,
        device=device,
        batch_size=config.eval_batch_size,
        precision=config.precision,
    )
    report = Report.from_probabilities(probs, data.test.labels, classes=data.classes)
    accuracies = [float(r["test_accuracy"]) for r in member_records]
    metrics: dict[str, Any] = {
        "dataset": data.name,
        "recipe": "+".join(r.name for r in recipes),
        "model": "ensemble",
        "test_accuracy": report.accuracy,
        "test_nll": report.nll,
        "members": [
            {
                "folder": folder.name,
                "recipe": record.get("recipe"),
                "seed": record.get("seed"),
                "test_accuracy": record.get("test_accuracy"),
                "train_seconds": record.get("train_seconds"),
                "epochs": record.get("epochs"),
            }
            for folder, record in zip(member_paths, member_records, strict=True)
        ],
        "member_accuracy_mean": sum(accuracies) / len(accuracies),
        "train_seconds": sum(float(r.get("train_seconds", 0.0)) for r in member_records),
        "eval_seconds": time.perf_counter() - started,
        "parameters": sum(p.numel() for p in ensemble.parameters()),
        **_machine_record(device),
        "precision": resolve_precision(config.precision, device).precision,
        # one recipe: its settings, as a single run records them; several: per recipe
        **(
            _settings_record(recipes[0])
            if len(recipes) == 1
            else {"recipes": {r.name: _settings_record(r) for r in recipes}}
        ),
        "report": report.to_dict(),
    }
    model_path = save_model(
        ensemble,
        out / "model.safetensors",
        dataset=data.name,
        classes=data.classes,
        metrics={"test_accuracy": report.accuracy, "members": len(member_paths)},
    )
    write_json(out / "metrics.json", metrics)
    if figures:
        _draw_figures(out, data.test, probs, report, None)
    return EnsembleResult(out, model_path, metrics, report, tuple(member_paths))
