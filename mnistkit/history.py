"""The record of a training run: one dictionary of numbers per epoch."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mnistkit._io import write_text
from mnistkit._validation import check_choice

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["History"]


@dataclass(slots=True)
class History:
    """Per-epoch records of a training run.

    Each record holds ``epoch``, ``train_loss``, ``train_accuracy``, ``lr``, ``seconds`` and,
    when validation data was given, ``val_loss`` and ``val_accuracy``.

    Parameters
    ----------
    records : list of dict, optional
        The records, oldest first.
    """

    records: list[dict[str, float]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[dict[str, float]]:
        return iter(self.records)

    def __repr__(self) -> str:
        last = self.records[-1] if self.records else {}
        shown = ", ".join(f"{k}={v:.4g}" for k, v in last.items() if k != "epoch")
        return f"History(epochs={len(self.records)}{', ' + shown if shown else ''})"

    def _repr_html_(self) -> str:
        """Jupyter's rich display: one table row per epoch."""
        from mnistkit import _html

        if not self.records:
            return "<div>History (no epochs yet)</div>"
        keys = list(dict.fromkeys(k for record in self.records for k in record))
        rows = [[int(r[k]) if k == "epoch" else r.get(k, "") for k in keys] for r in self.records]
        caption = f"History: {len(self)} epoch{'s' * (len(self) != 1)}"
        return _html.table(rows, header=keys, caption=caption)

    def metric(self, name: str) -> list[float]:
        """The values of one key across epochs.

        Parameters
        ----------
        name : str
            A key of the records, e.g. ``"val_loss"``.

        Returns
        -------
        list of float
            One value per epoch.
        """
        if self.records:
            check_choice(name, "name", list(self.records[0]))
        return [record[name] for record in self.records]

    @property
    def epochs(self) -> list[int]:
        """Epoch numbers, from 1."""
        return [int(r["epoch"]) for r in self.records]

    @property
    def train_loss(self) -> list[float]:
        """Mean training loss of each epoch."""
        return self.metric("train_loss")

    @property
    def train_accuracy(self) -> list[float]:
        """Training accuracy of each epoch (measured while the weights changed)."""
        return self.metric("train_accuracy")

    @property
    def val_loss(self) -> list[float]:
        """Validation loss after each epoch."""
        return self.metric("val_loss")

    @property
    def val_accuracy(self) -> list[float]:
        """Validation accuracy after each epoch."""
        return self.metric("val_accuracy")

    @property
    def lr(self) -> list[float]:
        """Learning rate at the start of each epoch."""
        return self.metric("lr")

    @property
    def seconds(self) -> list[float]:
        """Wall-clock seconds of each epoch (training and validation)."""
        return self.metric("seconds")

    def to_dict(self) -> dict[str, Any]:
        """The records as plain data.

        Returns
        -------
        dict
            ``{"records": [...]}``, JSON-serialisable.
        """
        return {"records": [dict(r) for r in self.records]}

    def to_json(self, indent: int | None = 2) -> str:
        """The records as a JSON document.

        Parameters
        ----------
        indent : int, optional
            Indentation, as for :func:`json.dumps`.

        Returns
        -------
        str
            The JSON text of :meth:`to_dict`.
        """
        return json.dumps(self.to_dict(), indent=indent)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`to_json` to a file, atomically.

        Parameters
        ----------
        path : path-like
            Destination, conventionally ``history.json``.

        Returns
        -------
        pathlib.Path
            The written file.
        """
        return write_text(path, self.to_json() + "\n")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        """Rebuild a history from :meth:`to_dict`'s output.

        Parameters
        ----------
        data : dict
            ``{"records": [...]}``.

        Returns
        -------
        History
        """
        return cls(records=[dict(r) for r in data.get("records", [])])

    def plot(self) -> Figure:
        """Draw the learning curves (see :func:`mnistkit.plotting.plot_history`).

        Returns
        -------
        matplotlib.figure.Figure
            One axes per metric, each with a legend; the x axis is the epoch.
        """
        from mnistkit.plotting import plot_history

        return plot_history(self)
