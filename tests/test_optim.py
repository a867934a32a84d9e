"""The optimiser and schedule tables of mnistkit.optim, built directly (no training).

tests/test_options.py shows each schedule's rates over a real training run; these pin what
the tables hold and the edges of the builders, in milliseconds.
"""

from __future__ import annotations

import pytest
import torch
from torch.optim import lr_scheduler

from mnistkit import TrainConfig
from mnistkit.optim import OPTIMIZERS, SCHEDULES, Schedule, build_optimizer, build_schedule


def _params() -> list[torch.nn.Parameter]:
    return list(torch.nn.Linear(3, 2).parameters())


def test_the_optimizer_table() -> None:
    # module-level tables are outside what mutmut mutates: pinned here instead
    expected = {
        "sgd": (torch.optim.SGD, 0.1, False),
        "momentum": (torch.optim.SGD, 0.05, True),
        "adam": (torch.optim.Adam, 1e-3, True),
        "adamw": (torch.optim.AdamW, 1e-3, True),
        "adadelta": (torch.optim.Adadelta, 1.0, False),
    }
    assert list(OPTIMIZERS) == list(expected)
    for name, (kind, default_lr, has_momentum) in expected.items():
        spec = OPTIMIZERS[name]
        assert (spec.default_lr, spec.has_momentum) == (default_lr, has_momentum), name
        config = TrainConfig(optimizer=name, schedule="none", lr=0.123, weight_decay=0.01)
        optimizer = build_optimizer(config, _params())
        assert type(optimizer) is kind, name
        group = optimizer.param_groups[0]
        assert (group["lr"], group["weight_decay"]) == (0.123, 0.01), name
        default = build_optimizer(config.replace(lr=None), _params())
        assert default.param_groups[0]["lr"] == default_lr, name


def test_momentum_is_nesterov_only_when_there_is_momentum() -> None:
    config = TrainConfig(optimizer="momentum", schedule="none", momentum=0.8)
    group = build_optimizer(config, _params()).param_groups[0]
    assert (group["lr"], group["momentum"], group["nesterov"]) == (0.05, 0.8, True)
    still = build_optimizer(config.replace(momentum=0.0), _params()).param_groups[0]
    assert (still["momentum"], still["nesterov"]) == (0.0, False)
    plain = build_optimizer(config.replace(optimizer="sgd"), _params()).param_groups[0]
    assert plain["momentum"] == 0


def test_the_schedule_table() -> None:
    expected = {
        "none": (type(None), False),
        "step": (lr_scheduler.StepLR, False),
        "cosine": (lr_scheduler.CosineAnnealingLR, True),
        "onecycle": (lr_scheduler.OneCycleLR, True),
    }
    assert list(SCHEDULES) == list(expected)
    for name, (kind, per_batch) in expected.items():
        config = TrainConfig(optimizer="sgd", schedule=name, epochs=2)
        optimizer = build_optimizer(config, _params())
        schedule = build_schedule(config, optimizer, steps_per_epoch=10)
        assert type(schedule.scheduler) is kind, name
        assert schedule.per_batch is per_batch, name


def test_onecycle_needs_four_steps_and_warms_up_for_two_at_least() -> None:
    config = TrainConfig(optimizer="sgd", schedule="onecycle", epochs=1, lr=1.0)
    assert build_schedule(config, build_optimizer(config, _params()), 3).scheduler is None
    assert build_schedule(config, build_optimizer(config, _params()), 4).scheduler is not None
    # 6 steps: the warm-up is max(25%, 2 steps) = 2 steps, so the peak comes after one step
    optimizer = build_optimizer(config, _params())
    schedule = build_schedule(config, optimizer, 6)
    optimizer.step()
    schedule.after_batch()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("optimizer", "key", "cycled"),
    [("momentum", "momentum", True), ("adam", "betas", True), ("sgd", "momentum", False)],
)
def test_onecycle_cycles_the_momentum_of_optimizers_that_have_one(
    optimizer: str, key: str, cycled: bool
) -> None:
    config = TrainConfig(optimizer=optimizer, schedule="onecycle", epochs=1)
    built = build_optimizer(config, _params())
    before = built.param_groups[0][key]
    build_schedule(config, built, 20)
    after = built.param_groups[0][key]
    # OneCycleLR starts the momentum (Adam's beta1) at its upper bound, 0.95
    assert (after != before) is cycled
    if cycled:
        assert (after[0] if key == "betas" else after) == 0.95


def test_a_constant_schedule_has_no_state_and_ignores_one() -> None:
    constant = Schedule(None, per_batch=False)
    assert repr(constant) == "Schedule(constant, per_batch=False)"
    assert constant.state_dict() is None
    constant.load_state_dict({"last_epoch": 3})  # a constant rate has nothing to restore
    constant.after_batch()
    constant.after_epoch()
    config = TrainConfig(optimizer="sgd", schedule="step", epochs=2)
    optimizer = build_optimizer(config, _params())
    step = build_schedule(config, optimizer, steps_per_epoch=10)
    assert repr(step) == "Schedule(StepLR, per_batch=False)"
    state = step.state_dict()
    assert state is not None and state["last_epoch"] == 0
