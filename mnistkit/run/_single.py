"""One model trained into a folder: :func:`run_training` (private to :mod:`mnistkit.run`)."""

from __future__ import annotations

import contextlib
import importlib
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnistkit import datasets, devices, distributed
from mnistkit._io import locked_folder, write_json
from mnistkit.callbacks import Callback, TrainingStateCheckpoint
from mnistkit.checkpoints import save_model
from mnistkit.config import TrainConfig
from mnistkit.devices import resolve_device, seed_everything
from mnistkit.exceptions import CheckpointError, ConfigError
from mnistkit.history import History
from mnistkit.inference import choose_rejection_threshold, evaluate_model
from mnistkit.loaders import train_val_split
from mnistkit.metrics import RejectionThreshold, Report
from mnistkit.optim import _imports_dynamo
from mnistkit.recipes import Recipe, resolve_recipe
from mnistkit.run._records import draw_figures, machine_record, settings_record
from mnistkit.trainer import Trainer

__all__ = ["REJECTION_KEEP", "RunResult", "run_training"]

#: The share of validation images the rejection threshold a run stores keeps.
REJECTION_KEEP = 0.99


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
    retain_freed_memory: bool = False,
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
    dataset : str, default="mnist"
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
        every epoch; 0 trains on all of it. With a validation split, the model file also
        gets a rejection threshold (:attr:`ModelMetadata.rejection
        <mnistkit.checkpoints.ModelMetadata>`): the energy score that keeps 99% of the
        validation images, below which :func:`mnistkit.predict` answers "not a digit"
        when asked to.
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
    retain_freed_memory : bool, default=False
        Tune glibc's malloc to keep freed memory for reuse (see
        :func:`mnistkit.devices.retain_freed_memory`); the command line turns it on. It
        changes the whole process, not only this run.

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
    if retain_freed_memory:
        devices.retain_freed_memory()
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
    # PyTorch's optimisers import torch._dynamo when they first step (mnistkit's adamw on
    # the CPU does not): then it is loaded while the data are read
    if _imports_dynamo(config.optimizer, resolve_device(config.device)):
        _import_in_background("torch._dynamo")
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
    report, probs = evaluate_model(  # probs (N, C): for the figures too
        trainer.inference_model,
        data.test,
        device=trainer.device,
        batch_size=config.eval_batch_size,
        precision=trainer.precision.precision,
        return_probabilities=True,
    )
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
        **machine_record(trainer.device),
        "world_size": trainer.distributed.world_size,
        "backend": trainer.distributed.backend,
        "precision": trainer.precision.precision,
        "seed": config.seed,
        "val_fraction": val_fraction,
        **settings_record(recipe),
        "report": report.to_dict(),
    }
    rejection: RejectionThreshold | None = None
    if val is not None:
        # one more pass over the validation images (a small share of an epoch's work)
        rejection = choose_rejection_threshold(
            trainer.inference_model,
            val.images,
            keep=REJECTION_KEEP,
            chosen_on=f"{data.name} validation split ({len(val):,} images, "
            f"val_fraction {val_fraction}, seed {config.seed})",
            device=trainer.device,
            batch_size=config.eval_batch_size,
        )
        metrics["rejection"] = rejection.to_dict()
    model_path = out / "model.safetensors"
    if not writes:
        return RunResult(out, model_path, metrics, history, report, trainer)
    save_model(
        trainer.inference_model,
        model_path,
        dataset=data.name,
        classes=data.classes,
        metrics={"test_accuracy": report.accuracy},
        rejection=rejection,
    )
    write_json(out / "metrics.json", metrics)
    history.save(out / "history.json")
    if figures:
        draw_figures(out, data.test, probs, report, history)
    return RunResult(out, model_path, metrics, history, report, trainer)


def _import_in_background(*modules: str) -> None:
    """Start importing ``modules``, one after the other, in a thread, so that they overlap
    with reading the data and the training.

    PyTorch's optimisers import ``torch._dynamo`` on their first use (1.7-2 s on a 2-core
    CPU, before the first step); the data are read meanwhile, mostly in zlib, which
    releases the interpreter lock. A module's own import in the main thread then finds it
    loaded, or waits for it; should the thread fail, that import does the work (or
    raises) as before. Matplotlib is not imported this way: overlapping the training
    steps, whose every kernel hands the lock back and forth, it slowed them by as much
    as it saved (benchmarks/RESULTS.md).
    """

    def load() -> None:
        for module in modules:
            with contextlib.suppress(Exception):
                importlib.import_module(module)

    threading.Thread(target=load, name=f"import {', '.join(modules)}", daemon=True).start()
