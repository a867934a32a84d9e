"""PruningCallback in real Optuna studies, with tiny models on real digits."""

from __future__ import annotations

import sys

import optuna
import pytest

import mnistkit
from mnistkit.datasets import DatasetSplits, Split
from mnistkit.tune import PruningCallback


@pytest.fixture(scope="module")
def splits(mnist: DatasetSplits) -> tuple[Split, Split]:
    return mnistkit.train_val_split(mnist.train.subset(slice(0, 600)), val_fraction=0.25)


def _objective(splits: tuple[Split, Split], histories: list[mnistkit.History]) -> object:
    train, val = splits

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("lr", 1e-3, 1e-2, log=True)
        pruning = PruningCallback(trial)
        config = mnistkit.TrainConfig(epochs=3, lr=lr, progress=False)
        model = mnistkit.get_model("linear")
        trainer = mnistkit.Trainer(model, config, callbacks=[pruning])
        histories.append(trainer.fit(train, val=val))
        pruning.raise_if_pruned()
        return histories[-1].val_accuracy[-1]

    return objective


def _study(pruner: optuna.pruners.BasePruner) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.RandomSampler(seed=0)
    return optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)


def test_each_epoch_is_reported_to_the_trial(splits: tuple[Split, Split]) -> None:
    histories: list[mnistkit.History] = []
    study = _study(optuna.pruners.NopPruner())
    study.optimize(_objective(splits, histories), n_trials=2)  # type: ignore[arg-type]
    for trial, history in zip(study.trials, histories, strict=True):
        assert trial.state == optuna.trial.TrialState.COMPLETE
        assert trial.intermediate_values == dict(
            zip(history.epochs, history.val_accuracy, strict=True)
        )
        assert trial.value == history.val_accuracy[-1]


def test_a_pruned_trial_stops_after_that_epoch(splits: tuple[Split, Split]) -> None:
    histories: list[mnistkit.History] = []
    study = _study(optuna.pruners.ThresholdPruner(lower=1.01))  # every epoch is too poor
    study.optimize(_objective(splits, histories), n_trials=1)  # type: ignore[arg-type]
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert len(histories[0]) == 1  # asked to stop after epoch 1 of 3
    assert list(trial.intermediate_values) == [1]


def test_an_unknown_monitor_lists_the_record_keys(splits: tuple[Split, Split]) -> None:
    train, _ = splits
    study = _study(optuna.pruners.NopPruner())
    trial = study.ask()
    config = mnistkit.TrainConfig(epochs=1, progress=False)
    trainer = mnistkit.Trainer(
        mnistkit.get_model("linear"), config, callbacks=[PruningCallback(trial)]
    )
    with pytest.raises(mnistkit.ConfigError, match="val_accuracy.*train_accuracy"):
        trainer.fit(train)  # no validation data: nothing called val_accuracy


def test_without_optuna_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(mnistkit.MissingExtraError, match=r'pip install "\.\[tune\]"'):
        PruningCallback(object())
