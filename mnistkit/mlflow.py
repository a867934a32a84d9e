"""Track training runs with `MLflow <https://mlflow.org>`_, through MLflow's own client.

:class:`MLflowLogger` is a :class:`~mnistkit.Callback`; add it to a
:class:`~mnistkit.Trainer` (or pass ``--mlflow [URI]`` to ``mnistkit train``) and browse the
runs with ``mlflow ui``. It needs the ``mlflow`` extra::

    pip install ".[mlflow]"

What one MLflow run holds:

==============  ==========================================================================
MLflow          what
==============  ==========================================================================
parameters      the resolved settings (every :class:`~mnistkit.TrainConfig` field, the
                effective learning rate, model and its settings, data set, device,
                precision) and whatever ``params`` adds (``mnistkit train``: the recipe)
metrics         every key of each epoch's record (the numbers :class:`~mnistkit.History`
                holds), at step = epoch; :meth:`MLflowLogger.log_folder` adds more
                (``mnistkit train``: ``test_accuracy``, ``test_nll``)
artifacts       the model file and ``history.json`` at the end of training;
                :meth:`MLflowLogger.log_folder` adds a run folder's files (``mnistkit
                train``: ``metrics.json`` and the figures too)
status          ``FINISHED``, or ``FAILED`` when training raises (``KILLED`` when it is
                interrupted)
==============  ==========================================================================

The logger talks to the store through :class:`mlflow.MlflowClient` and never sets MLflow's
process-wide active run or tracking URI. Under ``torchrun`` only rank 0 logs (callbacks run
on rank 0 only, and the other ranks' :meth:`~MLflowLogger.log_folder` and
:meth:`~MLflowLogger.end` do nothing).
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mnistkit._extras import require
from mnistkit._validation import check_bool
from mnistkit.callbacks import Callback, RunView
from mnistkit.distributed import is_main_process
from mnistkit.exceptions import ConfigError
from mnistkit.models import architecture_of

if TYPE_CHECKING:
    from mnistkit.history import History

__all__ = ["MLflowLogger", "flatten_params"]

log = logging.getLogger("mnistkit")

_FEATURE = "mnistkit.mlflow.MLflowLogger"
#: MLflow accepts at most this many parameters (and metrics) per ``log_batch`` call.
_BATCH = 100
#: Files of a run folder not sent as artifacts: the resume state is for this machine.
_NOT_ARTIFACTS = frozenset({"state.pt", ".lock"})


def _client_module() -> Any:
    return require("mlflow", _FEATURE, "mlflow.tracking")


def flatten_params(values: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested settings as MLflow parameters: ``{"a": {"b": 1}}`` -> ``{"a.b": "1"}``.

    Parameters
    ----------
    values : mapping
        Settings; nested mappings are joined with dots, lists and tuples written as
        ``[a, b]``, ``None`` as ``"None"``.
    prefix : str, default=""
        Put before every key.

    Returns
    -------
    dict of str to str
        One entry per leaf value, its key the dotted path to it.
    """
    flat: dict[str, str] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_params(value, f"{name}."))
        elif isinstance(value, list | tuple):
            flat[name] = "[" + ", ".join(map(str, value)) + "]"
        else:
            flat[name] = str(value)
    return flat


def _chunks(items: list[Any]) -> Iterable[list[Any]]:
    for start in range(0, len(items), _BATCH):
        yield items[start : start + _BATCH]


class MLflowLogger(Callback):
    """Log a run's settings, per-epoch metrics, model and files to an MLflow tracking store.

    Parameters
    ----------
    tracking_uri : str, optional
        Where runs are stored: ``sqlite:///mlflow.db``, ``http://host:5000``, ``databricks``,
        ... ``None`` takes MLflow's default (``$MLFLOW_TRACKING_URI``, else a local store
        in the working folder).
    experiment : str, default="mnistkit"
        The experiment the run goes into; created when missing.
    run_name : str, optional
        The run's name (MLflow makes one up by default).
    params : mapping, optional
        More parameters, flattened by :func:`flatten_params` (``mnistkit train`` passes the
        recipe).
    tags : mapping of str to str, optional
        Tags of the run.
    artifact_location : str, optional
        Where a *new* experiment keeps its artifacts (MLflow's default: ``./mlruns`` for a
        local store, the server's choice otherwise).
    log_model : bool, default=True
        Write the model (:meth:`~mnistkit.Trainer.save_model`) and ``history.json`` as
        artifacts when training ends.
    end_on_fit_end : bool, default=True
        Mark the run finished when training ends. ``mnistkit train`` passes ``False``: it
        adds the test metrics and the run folder (:meth:`log_folder`) first, then calls
        :meth:`end`.

    Attributes
    ----------
    run_id : str or None
        The MLflow run of the last :meth:`~mnistkit.Trainer.fit`, once it started.

    Raises
    ------
    MissingExtraError
        MLflow is not installed (``pip install ".[mlflow]"``).

    Examples
    --------
    >>> from mnistkit import Trainer, TrainConfig, get_model
    >>> from mnistkit.mlflow import MLflowLogger
    >>> logger = MLflowLogger("sqlite:///mlflow.db")  # doctest: +SKIP
    >>> Trainer(get_model("cnn"), TrainConfig(epochs=3), callbacks=[logger])  # doctest: +SKIP
    """

    def __init__(
        self,
        tracking_uri: str | None = None,
        *,
        experiment: str = "mnistkit",
        run_name: str | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        artifact_location: str | None = None,
        log_model: bool = True,
        end_on_fit_end: bool = True,
    ) -> None:
        _client_module()  # fail now, with the extra to install, not when training starts
        if tracking_uri is not None and not isinstance(tracking_uri, str):
            raise ConfigError(
                f"Argument 'tracking_uri' must be a str or None, but got {tracking_uri!r}"
            )
        if not isinstance(experiment, str) or not experiment:
            raise ConfigError(
                f"Argument 'experiment' must be a non-empty str, but got {experiment!r}"
            )
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self.run_name = run_name
        self.params = dict(params or {})
        self.tags = dict(tags or {})
        self.artifact_location = artifact_location
        self.log_model = check_bool(log_model, "log_model", who="MLflowLogger")
        self.end_on_fit_end = check_bool(end_on_fit_end, "end_on_fit_end", who="MLflowLogger")
        self.run_id: str | None = None
        self._client: Any = None
        self._open = False

    def __repr__(self) -> str:
        return f"MLflowLogger({self.tracking_uri!r}, experiment={self.experiment!r})"

    # ------------------------------------------------------------------ hooks
    def on_fit_start(self, run: RunView) -> None:
        if not is_main_process():
            return
        client = _client_module().MlflowClient(tracking_uri=self.tracking_uri)
        found = client.get_experiment_by_name(self.experiment)
        experiment_id = (
            found.experiment_id
            if found is not None
            else client.create_experiment(self.experiment, artifact_location=self.artifact_location)
        )
        created = client.create_run(experiment_id, run_name=self.run_name, tags=self.tags)
        self._client, self.run_id, self._open = client, created.info.run_id, True
        self._log_params({**self._settings(run), **flatten_params(self.params)})

    def on_epoch_end(self, run: RunView, epoch: int, record: dict[str, float]) -> None:
        if self._open:
            self.log_metrics({k: v for k, v in record.items() if k != "epoch"}, step=epoch)

    def on_fit_end(self, run: RunView, history: History) -> None:
        if not self._open:
            return
        if self.log_model:
            with tempfile.TemporaryDirectory(prefix="mnistkit-mlflow-") as folder:
                run.save_model(Path(folder) / "model.safetensors")
                history.save(Path(folder) / "history.json")
                self.log_folder(folder)
        if self.end_on_fit_end:
            self.end()

    def on_exception(self, run: RunView, error: BaseException) -> None:
        self.end("KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED")

    # ------------------------------------------------------------------ more logging
    def log_metrics(self, metrics: Mapping[str, float], *, step: int = 0) -> None:
        """Log numbers to the run (nothing when no run is open, as on ranks other than 0).

        Parameters
        ----------
        metrics : mapping of str to float
            Names and values.
        step : int, default=0
            The step (the epoch, for per-epoch records).
        """
        if not self._open:
            return
        entities = require("mlflow", _FEATURE, "mlflow.entities")
        now = int(time.time() * 1000)
        items = [entities.Metric(k, float(v), now, step) for k, v in metrics.items()]
        for chunk in _chunks(items):
            self._client.log_batch(self.run_id, metrics=chunk)

    def log_folder(
        self, folder: str | os.PathLike[str], *, metrics: Mapping[str, float] | None = None
    ) -> None:
        """Send a folder's files as artifacts (the resume state ``state.pt`` left out) and
        ``metrics`` as numbers; nothing when no run is open.

        Parameters
        ----------
        folder : path-like
            E.g. the output folder of :func:`mnistkit.run_training`.
        metrics : mapping of str to float, optional
            Logged at step 0, e.g. the test accuracy.
        """
        if not self._open:
            return
        if metrics:
            self.log_metrics(metrics)
        for path in sorted(Path(folder).iterdir()):
            if path.is_file() and path.name not in _NOT_ARTIFACTS:
                self._client.log_artifact(self.run_id, str(path))

    def end(self, status: str = "FINISHED") -> None:
        """Mark the run ended (``"FINISHED"``, ``"FAILED"`` or ``"KILLED"``); nothing when no
        run is open.

        Parameters
        ----------
        status : str, default="FINISHED"
            MLflow's run status.
        """
        if not self._open:
            return
        self._open = False
        self._client.set_terminated(self.run_id, status=status)

    # ------------------------------------------------------------------ pieces
    def _settings(self, run: RunView) -> dict[str, str]:
        architecture = architecture_of(run.model)
        settings: dict[str, Any] = {
            "model": architecture["name"] if architecture else type(run.model).__name__,
            "model_config": (architecture or {}).get("config", {}),
            "dataset": run.dataset,
            "train_size": run.train_size,
            "device": str(run.device),
            "precision": run.precision,
            "world_size": run.world_size,
            "config": {k: v for k, v in run.config.to_dict().items() if k != "progress"},
            "effective_lr": run.config.effective_lr,
        }
        return flatten_params(settings)

    def _log_params(self, params: Mapping[str, str]) -> None:
        entities = require("mlflow", _FEATURE, "mlflow.entities")
        items = [entities.Param(k, v) for k, v in params.items()]
        for chunk in _chunks(items):
            self._client.log_batch(self.run_id, params=chunk)
