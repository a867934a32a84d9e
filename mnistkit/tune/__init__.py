"""Choosing settings: a learning-rate range test and hyper-parameter search with Optuna.

:func:`lr_find` trains a model for a few hundred batches with a rate rising exponentially,
draws the loss against the rate and suggests one; the model, optimiser and random
generators are put back exactly afterwards (``mnistkit lr-find`` on the command line).

`Optuna <https://optuna.org>`_ searches settings by calling an objective once per *trial*;
the objective trains a model with the settings the trial suggests and returns a validation
score. :class:`PruningCallback` reports that score to the trial after every epoch, so that
Optuna's pruner can stop a trial that does worse than earlier ones did at the same epoch.
:func:`search` is such a study over a recipe's fields, as ``mnistkit tune`` runs it: with a
``storage`` URL several processes (on one machine or several) share one study. Optuna
comes with the ``tune`` extra::

    pip install ".[tune]"

A sketch of an objective (the gallery example "Search hyper-parameters with Optuna" runs a
whole study)::

    def objective(trial):
        config = TrainConfig(epochs=3, lr=trial.suggest_float("lr", 1e-4, 1e-2, log=True))
        pruning = PruningCallback(trial, monitor="val_accuracy")
        trainer = Trainer(get_model("mlp"), config, callbacks=[pruning])
        history = trainer.fit(train, val=val)   # val held out of the training set
        pruning.raise_if_pruned()                # optuna.TrialPruned after a stop
        return history.val_accuracy[-1]

    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner())
    study.optimize(objective, n_trials=20)

Search on a validation split held out from the training set, and measure the chosen
settings once on the test set at the end: a test score that picked the settings is no
longer an estimate of how the model does on new digits.
"""

from __future__ import annotations

from mnistkit.tune._lr_find import LRFinderResult, lr_find
from mnistkit.tune._pruning import PruningCallback
from mnistkit.tune._search import DEFAULT_SPACE, Param, SearchResult, parse_param, search

__all__ = [
    "DEFAULT_SPACE",
    "LRFinderResult",
    "Param",
    "PruningCallback",
    "SearchResult",
    "lr_find",
    "parse_param",
    "search",
]
