"""Several models trained and saved as one: :func:`run_ensemble` (private to
:mod:`mnistkit.run`)."""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnistkit import datasets, devices
from mnistkit._io import locked_folder, write_json
from mnistkit._validation import check_int
from mnistkit.callbacks import Callback
from mnistkit.checkpoints import load_model, resume_conflicts, save_model
from mnistkit.devices import resolve_device, resolve_precision
from mnistkit.exceptions import ConfigError
from mnistkit.inference import evaluate_model
from mnistkit.metrics import Report
from mnistkit.models import Ensemble
from mnistkit.recipes import Recipe, get_recipe
from mnistkit.run._records import draw_figures, machine_record, settings_record
from mnistkit.run._single import run_training

__all__ = ["EnsembleResult", "run_ensemble"]


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
    retain_freed_memory: bool = False,
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
    retain_freed_memory : bool, default=False
        Tune glibc's malloc to keep freed memory for reuse (see
        :func:`mnistkit.devices.retain_freed_memory`); the command line turns it on. It
        changes the whole process, not only this run.

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
    if retain_freed_memory:
        devices.retain_freed_memory()
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
    }
    expected = {
        "dataset": datasets.get_info(dataset).name,
        "recipe": wanted["name"],
        "model_config": wanted["model_config"],
        "augment": wanted["augment"],
    }
    different = {k: (found[k], v) for k, v in expected.items() if found[k] != v}
    # the training settings follow the rule of a resume, like an unfinished member's
    conflicts = resume_conflicts(record.get("config") or {}, wanted["config"])
    different.update((f"config.{k}", pair) for k, pair in conflicts.items())
    if different:
        shown = ", ".join(f"{k}: {old!r} != {new!r}" for k, (old, new) in sorted(different.items()))
        raise ConfigError(
            f"{folder}: this member was trained with other settings ({shown}); "
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
    report, probs = evaluate_model(
        ensemble,
        data.test,
        device=device,
        batch_size=config.eval_batch_size,
        precision=config.precision,
        return_probabilities=True,
    )
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
        **machine_record(device),
        "precision": resolve_precision(config.precision, device).precision,
        # one recipe: its settings, as a single run records them; several: per recipe
        **(
            settings_record(recipes[0])
            if len(recipes) == 1
            else {"recipes": {r.name: settings_record(r) for r in recipes}}
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
        draw_figures(out, data.test, probs, report, None)
    return EnsembleResult(out, model_path, metrics, report, tuple(member_paths))
