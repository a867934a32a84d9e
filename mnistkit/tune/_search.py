"""A hyper-parameter search over a recipe's fields: :func:`search`, as ``mnistkit tune``
runs it (private to :mod:`mnistkit.tune`)."""

from __future__ import annotations

import dataclasses
import math
import os
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnistkit import datasets
from mnistkit._extras import require
from mnistkit._io import write_json
from mnistkit._validation import check_choice, check_int, check_number
from mnistkit.config import TrainConfig
from mnistkit.devices import seed_everything
from mnistkit.exceptions import ConfigError, TrainingDivergedError
from mnistkit.loaders import train_val_split
from mnistkit.metrics import Report
from mnistkit.recipes import Recipe, get_recipe
from mnistkit.trainer import Trainer
from mnistkit.tune._pruning import PruningCallback

__all__ = ["DEFAULT_SPACE", "Param", "SearchResult", "parse_param", "search"]

_FEATURE = "mnistkit.tune.search"
_KINDS = ("float", "log", "int", "choice")
#: Prefix of a search-space name that sets one of the model's settings.
_MODEL_PREFIX = "model_config."


@dataclass(frozen=True, slots=True)
class Param:
    """One dimension of a search space: a recipe field and the values to try.

    Parameters
    ----------
    name : str
        A :class:`~mnistkit.TrainConfig` field (``"lr"``, ``"weight_decay"``, ...) or
        ``"model_config.<key>"`` for a setting of the model (``"model_config.dropout"``).
    kind : {"float", "log", "int", "choice"}
        A float drawn uniformly, a positive float drawn uniformly on a log scale, an
        integer, or one of ``choices``.
    low, high : float, optional
        The range, both ends included (``"float"``, ``"log"``, ``"int"``).
    choices : tuple, optional
        The values of ``"choice"`` (numbers or strings).
    """

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        who = f"search parameter {self.name!r}"
        check_choice(self.kind, "kind", _KINDS, who=who)
        if self.kind == "choice":
            if not self.choices:
                raise ConfigError(f"{who}: kind 'choice' needs at least one value in 'choices'")
            return
        if self.low is None or self.high is None:
            raise ConfigError(f"{who}: kind {self.kind!r} needs 'low' and 'high'")
        check_number(self.high, "high", low=self.low, who=who)
        if self.kind == "log":
            check_number(self.low, "low", low=0, low_open=True, who=who)

    def __str__(self) -> str:
        if self.kind == "choice":
            return f"{self.name}=choice:{','.join(map(str, self.choices))}"
        return f"{self.name}={self.kind}:{self.low:g}:{self.high:g}"

    def suggest(self, trial: Any) -> Any:
        """The trial's value for this dimension.

        Parameters
        ----------
        trial : optuna.Trial
            The trial that asks.

        Returns
        -------
        int, float or str
            The value Optuna suggests, within this dimension's range or choices.
        """
        if self.kind == "choice":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low or 0), int(self.high or 0))
        return trial.suggest_float(
            self.name, float(self.low or 0), float(self.high or 0), log=self.kind == "log"
        )


def _value(text: str) -> int | float | str:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_param(text: str) -> Param:
    """Read a search dimension written as ``mnistkit tune --param`` takes it.

    Parameters
    ----------
    text : str
        ``NAME=float:LOW:HIGH``, ``NAME=log:LOW:HIGH``, ``NAME=int:LOW:HIGH`` or
        ``NAME=choice:A,B,...``, e.g. ``lr=log:1e-4:1e-1`` or ``optimizer=choice:adam,sgd``.

    Returns
    -------
    Param
        The parsed search dimension.

    Raises
    ------
    ConfigError
        The text has another shape; the message shows the accepted ones.
    """
    shapes = "NAME=float:LOW:HIGH, NAME=log:LOW:HIGH, NAME=int:LOW:HIGH or NAME=choice:A,B,..."
    name, _, rest = text.partition("=")
    kind, _, values = rest.partition(":")
    if not name or not values or kind not in _KINDS:
        raise ConfigError(f"A search parameter must be written {shapes}, but got {text!r}")
    if kind == "choice":
        return Param(name, kind, choices=tuple(_value(v) for v in values.split(",")))
    low, _, high = values.partition(":")
    try:
        bounds = float(low), float(high)
    except ValueError:
        raise ConfigError(
            f"A search parameter must be written {shapes}, with numbers for LOW and HIGH, "
            f"but got {text!r}"
        ) from None
    return Param(name, kind, low=bounds[0], high=bounds[1])


#: The space searched when none is given: the rate and the weight decay.
DEFAULT_SPACE: tuple[Param, ...] = (
    Param("lr", "log", 1e-4, 3e-2),
    Param("weight_decay", "log", 1e-6, 1e-1),
)


def _apply_params(recipe: Recipe, params: Mapping[str, Any]) -> Recipe:
    """``recipe`` with a trial's values: TrainConfig fields and ``model_config.*`` keys."""
    model_config = dict(recipe.model_config)
    fields: dict[str, Any] = {}
    for name, value in params.items():
        if name.startswith(_MODEL_PREFIX):
            model_config[name.removeprefix(_MODEL_PREFIX)] = value
        else:
            fields[name] = value
    return recipe.replace(model_config=model_config, **fields)


@dataclass(frozen=True, slots=True)
class SearchResult:
    """What :func:`search` found.

    Parameters
    ----------
    study : optuna.Study
        The study, with every trial of every process that shares it.
    best_params : dict
        The best trial's values.
    best_value : float
        Its validation score (``monitor``).
    recipe : Recipe
        The searched recipe with the best values.
    report : Report or None
        The best settings retrained on the training data (validation part included) and
        tested once on the test set; ``None`` with ``retrain=False``.
    model_path : pathlib.Path or None
        The retrained model, when written.
    """

    study: Any
    best_params: dict[str, Any]
    best_value: float
    recipe: Recipe
    report: Report | None = None
    model_path: Path | None = None

    def __repr__(self) -> str:
        tested = "" if self.report is None else f", test_accuracy={self.report.accuracy:.4f}"
        return (
            f"SearchResult(trials={len(self.study.trials)}, best_value={self.best_value:.4f}, "
            f"best_params={self.best_params}{tested})"
        )


def _trial_records(study: Any) -> list[dict[str, Any]]:
    return [
        {
            "number": t.number,
            "state": t.state.name,
            "value": t.value,
            "params": t.params,
            "epochs_reported": len(t.intermediate_values),
            "process": t.user_attrs.get("process"),
        }
        for t in study.trials
    ]


#: Tries at opening a storage that other processes may be creating at the same moment.
_STORAGE_TRIES = 5


def _storage(optuna: Any, url: str | None) -> Any:
    """An Optuna storage for ``url`` (``None``: in memory).

    Processes started together race to create the tables of a new database: the losers'
    first try fails on a constraint or a lock, and a later one finds the tables made. A
    SQLite connection waits up to 60 s for another process's lock (Python's default is 5 s,
    too short for a busy machine).
    """
    if url is None:
        return None
    errors = require("tune", _FEATURE, "sqlalchemy.exc")
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    for attempt in range(1, _STORAGE_TRIES):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine)
        except errors.SQLAlchemyError:
            time.sleep(0.5 * attempt)
    return optuna.storages.RDBStorage(url, engine_kwargs=engine)  # the last try raises


def search(
    recipe: str | Recipe = "default",
    *,
    space: Sequence[Param] = DEFAULT_SPACE,
    n_trials: int = 20,
    dataset: str = "mnist",
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    subset: int | None = None,
    val_fraction: float = 0.1,
    epochs: int | None = None,
    monitor: str = "val_accuracy",
    storage: str | None = None,
    study_name: str | None = None,
    seed: int | None = None,
    retrain: bool = True,
    out: str | os.PathLike[str] | None = None,
    config_changes: Mapping[str, Any] | None = None,
) -> SearchResult:
    """Search a recipe's settings with Optuna, prune on the validation split, test the best.

    Each trial trains the recipe with the values it draws from ``space`` on the training
    data less a stratified validation part, reports ``monitor`` on the validation part
    after every epoch (a median pruner stops trials that fall behind), and scores the
    last epoch. After the trials, the best values are trained again on the whole
    training data (validation part included) and tested once on the test set.

    Parameters
    ----------
    recipe : str or Recipe, default="default"
        The recipe whose fields are searched (see :func:`mnistkit.recipes.list_recipes`).
    space : sequence of Param, default=DEFAULT_SPACE
        The dimensions (see :func:`parse_param`); the learning rate and weight decay by
        default.
    n_trials : int, default=20
        Trials this call runs (0: only retrain and test the study's best so far). Other
        processes sharing the study add theirs.
    dataset : str, default="mnist"
        The data set.
    data_dir : path-like, optional
        Its folder (default: ``$MNISTKIT_DATA_DIR``, then the per-user cache).
    download : bool, default=True
        Download missing data files.
    subset : int, optional
        Search (and retrain) on the first ``subset`` training images only: quicker.
    val_fraction : float, default=0.1
        Share of each class held out for the trials' validation.
    epochs : int, optional
        Epochs per trial and for the retraining (default: the recipe's).
    monitor : str, default="val_accuracy"
        The epoch record's key the trials are scored on; a name ending in ``loss`` is
        minimised, any other maximised.
    storage : str, optional
        An Optuna storage URL (``sqlite:///study.db``, ``postgresql://...``,
        ``mysql://...``): every process given the same URL and ``study_name`` adds its
        trials to one study. In memory by default.
    study_name : str, optional
        The study's name (default: ``mnistkit-<recipe>-<dataset>``); an existing study of
        that name in ``storage`` is continued.
    seed : int, optional
        Seeds the sampler; leave it ``None`` when several processes share a study, or
        they would propose the same values.
    retrain : bool, default=True
        Retrain the best values and test them once.
    out : path-like, optional
        With ``retrain``, write ``model.safetensors`` there; always ``search.json`` (the
        trials, the best values and the test report).
    config_changes : mapping, optional
        TrainConfig fields set in every trial (``device``, ``progress``, ...).

    Returns
    -------
    SearchResult
        The study, its best settings and, when retrained, the test report.

    Raises
    ------
    MissingExtraError
        Optuna is not installed (``pip install ".[tune]"``).
    ConfigError
        A name in ``space`` is not a field of the recipe, or another argument is invalid.
    """
    optuna = require("tune", _FEATURE)
    base = get_recipe(recipe)
    changes: dict[str, Any] = dict(config_changes or {})
    if epochs is not None:
        changes["epochs"] = check_int(epochs, "epochs", who=_FEATURE)
    base = base.replace(**changes)
    trial_count = check_int(n_trials, "n_trials", minimum=0, who=_FEATURE)
    config_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    for param in space:
        if not isinstance(param, Param):
            raise ConfigError(
                f"Argument 'space' must hold mnistkit.tune.Param objects, but got {param!r}"
            )
        if param.name not in config_fields and not param.name.startswith(_MODEL_PREFIX):
            raise ConfigError(
                f"Search parameter {param.name!r} is not a setting of the recipe: use a "
                f"TrainConfig field ({', '.join(sorted(config_fields))}) or "
                f"'{_MODEL_PREFIX}<key>' for a setting of the model"
            )
    data = datasets.load(dataset, root=data_dir, download=download, progress=False)
    pool = data.train if subset is None else data.train.subset(slice(0, subset))
    train, val = train_val_split(pool, val_fraction=val_fraction, seed=base.config.seed)
    process = f"{socket.gethostname()}:{os.getpid()}"

    def objective(trial: Any) -> float:
        trial.set_user_attr("process", process)
        chosen = _apply_params(base, {p.name: p.suggest(trial) for p in space})
        seed_everything(chosen.config.seed)  # the initial weights follow the seed
        model = chosen.build_model(data.name, num_classes=len(data.classes))
        pruning = PruningCallback(trial, monitor=monitor)
        trainer = Trainer(model, chosen.config, callbacks=[pruning], augment=chosen.augment)
        try:
            history = trainer.fit(train, val=val)
        except TrainingDivergedError as exc:  # a poor trial, not the end of the search
            trial.set_user_attr("error", str(exc))
            return math.nan  # Optuna records it as failed and goes on
        pruning.raise_if_pruned()
        return history.metric(monitor)[-1]

    direction = "minimize" if monitor.endswith("loss") else "maximize"
    study = optuna.create_study(
        study_name=study_name or f"mnistkit-{base.name}-{dataset}",
        storage=_storage(optuna, storage),
        load_if_exists=True,
        direction=direction,
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0),
    )
    if trial_count:
        study.optimize(objective, n_trials=trial_count)
    try:
        best = study.best_trial
    except ValueError:
        raise ConfigError(
            f"Study {study.study_name!r} has no finished trial to retrain; run some trials "
            "first (n_trials, --trials)"
        ) from None
    best_recipe = _apply_params(base, best.params)
    report, model_path = None, None
    folder = Path(out) if out is not None else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    if retrain:
        seed_everything(best_recipe.config.seed)
        model = best_recipe.build_model(data.name, num_classes=len(data.classes))
        trainer = Trainer(model, best_recipe.config, augment=best_recipe.augment)
        trainer.fit(pool)  # the validation part goes back: the search is over
        report = trainer.evaluate(data.test)
        if folder is not None:
            model_path = trainer.save_model(
                folder / "model.safetensors", metrics={"test_accuracy": report.accuracy}
            )
    if folder is not None:
        write_json(
            folder / "search.json",
            {
                "study_name": study.study_name,
                "storage": storage,
                "dataset": data.name,
                "recipe": best_recipe.to_dict(),
                "space": [str(p) for p in space],
                "monitor": monitor,
                "direction": direction,
                "best_trial": best.number,
                "best_params": best.params,
                "best_value": best.value,
                "test": report.to_dict() if report is not None else None,
                "trials": _trial_records(study),
            },
        )
    return SearchResult(
        study=study,
        best_params=dict(best.params),
        best_value=float(best.value),
        recipe=best_recipe,
        report=report,
        model_path=model_path,
    )
