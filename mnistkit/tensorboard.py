"""Log a training run for TensorBoard, through PyTorch's own :mod:`torch.utils.tensorboard`.

:class:`TensorBoardLogger` is a :class:`~mnistkit.Callback`; add it to a
:class:`~mnistkit.Trainer` (or pass ``--tensorboard DIR`` to ``mnistkit train``) and open the
folder with ``tensorboard --logdir DIR``. It needs the ``tensorboard`` extra::

    pip install ".[tensorboard]"

What it writes, into one run folder:

==========================  ==============================================================
TensorBoard tab             what
==========================  ==============================================================
Scalars                     ``epoch/<key>`` for every key of the epoch's record (the
                            numbers :class:`~mnistkit.History` holds: ``train_loss``,
                            ``train_accuracy``, ``val_loss``, ``val_accuracy``, ``lr``,
                            ``seconds``), at step = epoch; ``batch/train_loss`` and
                            ``batch/lr`` every ``config.log_every`` batches, at step = the
                            number of batches done
Custom scalars              training and validation loss (and accuracy) on one chart each
Images                      ``predictions/<split>`` and ``confusion_matrix/<split>`` after
                            every epoch (see ``data``)
Graphs                      the model, traced once at the start
HParams                     the run's settings (:class:`~mnistkit.TrainConfig`, model,
                            data set) with the epoch metrics
==========================  ==============================================================
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from mnistkit._extras import require
from mnistkit._validation import check_bool, check_int
from mnistkit.callbacks import Callback, RunView
from mnistkit.datasets import Split
from mnistkit.exceptions import ConfigError
from mnistkit.inference import predict_proba
from mnistkit.metrics import Report
from mnistkit.models import architecture_of

if TYPE_CHECKING:
    from mnistkit.history import History

__all__ = ["TensorBoardLogger", "read_scalars"]

log = logging.getLogger("mnistkit")

_FEATURE = "mnistkit.TensorBoardLogger"
#: Training images shown and evaluated when the run has no validation split.
_TRAIN_SAMPLE = 2_000


def _writer_module() -> Any:
    return require("tensorboard", _FEATURE)


def _hparam_value(value: object) -> bool | int | float | str | None:
    """A value TensorBoard's hparams plugin takes: a number, string or bool (None is left out)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


class TensorBoardLogger(Callback):
    """Write a run's scalars, figures, model graph and settings for TensorBoard.

    Parameters
    ----------
    log_dir : path-like
        The run's folder; TensorBoard reads every run below the folder given to
        ``tensorboard --logdir``. Created when training starts.
    data : Split, optional
        The images whose predictions and confusion matrix are drawn after every epoch.
        By default the run's validation split; without one, the first 2,000 training
        images (tagged ``train``: a model does better on them than on new digits).
    images : bool, default=True
        Draw the prediction grid and the confusion matrix after every epoch.
    graph : bool, default=True
        Trace the model once (:func:`torch.jit.trace`) and write its graph. A model that
        cannot be traced is logged as a warning and training goes on.
    hparams : bool, default=True
        Write the run's settings for the HParams tab.
    num_images : int, default=25
        Digits in the prediction grid.

    Raises
    ------
    MissingExtraError
        TensorBoard is not installed (``pip install ".[tensorboard]"``).

    Examples
    --------
    >>> from mnistkit import Trainer, TrainConfig, TensorBoardLogger, get_model
    >>> logger = TensorBoardLogger("runs/tb/cnn")  # doctest: +SKIP
    >>> trainer = Trainer(get_model("cnn"), TrainConfig(epochs=3), callbacks=[logger])
    ... # doctest: +SKIP
    """

    def __init__(
        self,
        log_dir: str | os.PathLike[str],
        *,
        data: Split | None = None,
        images: bool = True,
        graph: bool = True,
        hparams: bool = True,
        num_images: int = 25,
    ) -> None:
        _writer_module()  # fail now, with the extra to install, not when training starts
        if data is not None and not isinstance(data, Split):
            raise ConfigError(
                f"Argument 'data' must be a mnistkit Split or None, but got {type(data).__name__}"
            )
        self.log_dir = Path(log_dir)
        self.data = data
        self.images = check_bool(images, "images", who="TensorBoardLogger")
        self.graph = check_bool(graph, "graph", who="TensorBoardLogger")
        self.hparams = check_bool(hparams, "hparams", who="TensorBoardLogger")
        self.num_images = check_int(num_images, "num_images", who="TensorBoardLogger")
        self._writer: Any = None
        self._shown: tuple[Split, str] | None = None
        self._epoch = 0

    def __repr__(self) -> str:
        return f"TensorBoardLogger({str(self.log_dir)!r})"

    # ------------------------------------------------------------------ hooks
    def on_fit_start(self, run: RunView) -> None:
        self._writer = _writer_module().SummaryWriter(log_dir=str(self.log_dir))
        self._shown = self._choose_data(run)
        layout = {
            "mnistkit": {
                "loss": ["Multiline", ["epoch/train_loss", "epoch/val_loss"]],
                "accuracy": ["Multiline", ["epoch/train_accuracy", "epoch/val_accuracy"]],
            }
        }
        self._writer.add_custom_scalars(layout)
        if self.hparams:
            self._write_hparams(run)
        if self.graph and self._shown is not None:
            self._write_graph(run, self._shown[0])

    def on_epoch_start(self, run: RunView, epoch: int) -> None:
        self._epoch = epoch

    def on_batch_end(self, run: RunView, batch: int, loss: float | None) -> None:
        if loss is None or self._writer is None:
            return
        step = (self._epoch - 1) * run.batches_per_epoch + batch + 1  # batches done
        self._writer.add_scalar("batch/train_loss", loss, step)
        self._writer.add_scalar("batch/lr", run.lr, step)

    def on_epoch_end(self, run: RunView, epoch: int, record: dict[str, float]) -> None:
        if self._writer is None:
            return
        for key, value in record.items():
            if key != "epoch":
                self._writer.add_scalar(f"epoch/{key}", value, epoch)
        if self.images and self._shown is not None:
            self._write_figures(run, epoch, *self._shown)
        self._writer.flush()

    def on_fit_end(self, run: RunView, history: History) -> None:
        if self._writer is None:
            return
        if self.hparams:
            summary = require("tensorboard", _FEATURE, "torch.utils.tensorboard.summary")
            _, _, end = summary.hparams({"model": ""}, {})
            self._writer._get_file_writer().add_summary(end)
        self._writer.close()
        self._writer = None

    # ------------------------------------------------------------------ pieces
    def on_exception(self, run: RunView, error: BaseException) -> None:
        # what was logged so far stays readable; the run simply has no end marker
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _choose_data(self, run: RunView) -> tuple[Split, str] | None:
        if self.data is not None:
            return self.data, self.data.name.rsplit("/", 1)[-1] or "data"
        if run.val_data is not None:
            return run.val_data, "val"
        if run.train_data is not None:
            return run.train_data.subset(slice(0, _TRAIN_SAMPLE)), "train"
        return None

    def _write_hparams(self, run: RunView) -> None:
        summary = require("tensorboard", _FEATURE, "torch.utils.tensorboard.summary")
        architecture = architecture_of(run.model)
        settings: dict[str, Any] = {
            "model": architecture["name"] if architecture else type(run.model).__name__,
            **{f"model.{k}": v for k, v in (architecture or {}).get("config", {}).items()},
            "dataset": run.dataset,
            "train_size": run.train_size,
            "device": str(run.device),
            **{k: v for k, v in run.config.to_dict().items() if k not in ("progress",)},
            "lr": run.config.effective_lr,
            "precision": run.precision,
        }
        values = {k: _hparam_value(v) for k, v in settings.items()}
        metrics = ["train_loss", "train_accuracy"]
        if run.val_data is not None:
            metrics += ["val_loss", "val_accuracy"]
        experiment, start, _ = summary.hparams(values, {f"epoch/{m}": 0.0 for m in metrics})
        # written into this run's folder (not a sub-run, as SummaryWriter.add_hparams does),
        # so the HParams tab shows these settings next to this run's own scalars
        self._writer._get_file_writer().add_summary(experiment)
        self._writer._get_file_writer().add_summary(start)

    def _write_graph(self, run: RunView, data: Split) -> None:
        model = run.model
        example = data.images[:2].unsqueeze(1).to(run.device, torch.float32) / 255.0
        was_training = model.training
        model.eval()
        try:
            with warnings.catch_warnings():
                # add_graph traces with torch.jit.trace, which warns that it is deprecated
                # and that Python values were frozen into the trace: neither matters for a
                # picture of the graph, and TensorBoard's format has no other writer
                warnings.simplefilter("ignore")
                self._writer.add_graph(model, example)
        except Exception as exc:  # tracing fails for many reasons in users' modules
            log.warning("TensorBoardLogger: could not trace the model's graph (%s)", exc)
        finally:
            model.train(was_training)

    def _write_figures(self, run: RunView, epoch: int, data: Split, tag: str) -> None:
        from mnistkit import plotting

        probs = predict_proba(
            run.model, data.images, device=run.device, batch_size=run.config.eval_batch_size
        )
        report = Report.from_probabilities(probs, data.labels, classes=data.classes)
        n = min(self.num_images, len(data))
        grid = plotting.show_predictions(
            data.images[:n],
            probs[:n].argmax(1),
            data.labels[:n],
            classes=data.classes,
            probabilities=probs[:n],
            n=n,
            title=f"epoch {epoch}: accuracy {report.accuracy:.2%} on {len(data)} {tag} images",
        )
        matrix = plotting.plot_confusion_matrix(report).get_figure(root=True)
        self._writer.add_figure(f"predictions/{tag}", grid, epoch, close=True)
        self._writer.add_figure(f"confusion_matrix/{tag}", matrix, epoch, close=True)


def read_scalars(log_dir: str | os.PathLike[str]) -> Mapping[str, list[tuple[int, float]]]:
    """Read back the scalars of a run folder with TensorBoard's own event reader.

    Parameters
    ----------
    log_dir : path-like
        A folder written by :class:`TensorBoardLogger`.

    Returns
    -------
    dict
        Tag -> list of ``(step, value)``, in the order written. Values were stored as
        float32.

    Raises
    ------
    MissingExtraError
        TensorBoard is not installed (``pip install ".[tensorboard]"``).
    """
    accumulator_module = require(
        "tensorboard",
        "mnistkit.tensorboard.read_scalars",
        "tensorboard.backend.event_processing.event_accumulator",
    )
    accumulator = accumulator_module.EventAccumulator(
        str(log_dir), size_guidance={accumulator_module.SCALARS: 0}
    )
    accumulator.Reload()
    return {
        tag: [(int(event.step), float(event.value)) for event in accumulator.Scalars(tag)]
        for tag in accumulator.Tags()["scalars"]
    }
