"""The optimiser and schedule tables of mnistkit.optim, built directly (no training).

tests/test_options.py shows each schedule's rates over a real training run; these pin what
the tables hold and the edges of the builders, in milliseconds.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.optim import lr_scheduler

from mnistkit import TrainConfig
from mnistkit.datasets import DatasetSplits
from mnistkit.optim import (
    OPTIMIZERS,
    SCHEDULES,
    Schedule,
    _CpuAdamW,
    build_optimizer,
    build_schedule,
)


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
        assert isinstance(optimizer, kind), name
        # on the CPU, adamw is PyTorch's update written out (below); the rest are PyTorch's
        assert (type(optimizer) is _CpuAdamW) if name == "adamw" else (type(optimizer) is kind)
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


def _small_cnn() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3),
        torch.nn.BatchNorm2d(8),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(8 * 13 * 13, 10),
    )


def _train(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: list[tuple[torch.Tensor, torch.Tensor]],
    schedule: lr_scheduler.LRScheduler | None = None,
) -> None:
    for images, labels in batches:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = torch.nn.functional.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if schedule is not None:
            schedule.step()


def _check_cpu_adamw_matches_torch_adamw(data: DatasetSplits) -> None:
    # the same digits, one-cycle schedule (which cycles beta1) and decoupled weight decay:
    # PyTorch's AdamW and the written-out update give identical weights, and each one's
    # saved state continues in the other
    images = data.train.images[:640].unsqueeze(1).float() / 255
    labels = data.train.labels[:640]
    batches = [(images[i : i + 64], labels[i : i + 64]) for i in range(0, 640, 64)]
    config = TrainConfig(optimizer="adamw", lr=0.01, weight_decay=0.05, epochs=1)
    results = []
    for kind in ("ours", "torch"):
        model = _small_cnn()
        optimizer = (
            build_optimizer(config, model.parameters())
            if kind == "ours"
            else torch.optim.AdamW(model.parameters(), lr=0.01, weight_decay=0.05)
        )
        schedule = build_schedule(config, optimizer, len(batches)).scheduler
        _train(model, optimizer, batches, schedule)
        results.append((model, optimizer))
    (ours, our_opt), (theirs, their_opt) = results
    assert type(our_opt) is _CpuAdamW
    for a, b in zip(ours.state_dict().values(), theirs.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    saved_ours, saved_theirs = our_opt.state_dict(), their_opt.state_dict()
    assert saved_ours["param_groups"][0]["betas"] == saved_theirs["param_groups"][0]["betas"]
    assert torch.equal(saved_ours["state"][0]["exp_avg_sq"], saved_theirs["state"][0]["exp_avg_sq"])
    # swap the states: each continues where the other stopped, still identically
    swapped_ours = torch.optim.AdamW(ours.parameters(), lr=0.01, weight_decay=0.05)
    swapped_ours.load_state_dict(saved_ours)
    swapped_theirs = _CpuAdamW(theirs.parameters(), lr=0.01, weight_decay=0.05)
    swapped_theirs.load_state_dict(saved_theirs)
    _train(ours, swapped_ours, batches[:3])
    _train(theirs, swapped_theirs, batches[:3])
    for a, b in zip(ours.state_dict().values(), theirs.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert int(swapped_theirs.state_dict()["state"][0]["step"]) == len(batches) + 3


def test_cpu_adamw_matches_torch_adamw_bit_for_bit(mnist: DatasetSplits) -> None:
    _check_cpu_adamw_matches_torch_adamw(mnist)


def test_cpu_adamw_matches_torch_adamw_without_the_data(synthetic_mnist: DatasetSplits) -> None:
    # the same check on synthetic files, so that the minimum-versions environment (quick
    # tests only) holds the update to the oldest PyTorch declared
    _check_cpu_adamw_matches_torch_adamw(synthetic_mnist)


def test_cpu_adamw_falls_back_for_what_it_does_not_write_out() -> None:
    # amsgrad is not written out: PyTorch's own step runs, and keeps its extra state
    model = _small_cnn()
    optimizer = _CpuAdamW(model.parameters(), lr=0.01, amsgrad=True)
    model(torch.rand(4, 1, 28, 28)).sum().backward()
    optimizer.step()
    assert "max_exp_avg_sq" in optimizer.state[next(model.parameters())]


def test_training_on_the_cpu_never_imports_dynamo(data_root: Path) -> None:
    # every PyTorch optimiser imports torch._dynamo (1.7-2 CPU s) when it first steps,
    # zeroes gradients or saves its state; a CPU training run with adamw, saved and
    # resumed (a per-epoch schedule, so that it may run longer), does none of that
    code = (
        "import sys, tempfile\n"
        "from pathlib import Path\n"
        "from mnistkit import Trainer, datasets, recipes\n"
        "from mnistkit.callbacks import TrainingStateCheckpoint\n"
        f"data = datasets.load('mnist', root={str(data_root)!r}, download=False)\n"
        "recipe = recipes.get_recipe('fast')\n"
        "config = recipe.config.replace(epochs=2, schedule='step', device='cpu', progress=False)\n"
        "train = data.train.subset(slice(0, 512))\n"
        "state = Path(tempfile.mkdtemp()) / 'state.pt'\n"
        "first = Trainer(recipe.build_model('mnist'), config.replace(epochs=1),\n"
        "                callbacks=[TrainingStateCheckpoint(state)])\n"
        "first.fit(train)\n"
        "again = Trainer(recipe.build_model('mnist'), config)\n"
        "history = again.fit(train, resume_from=state)\n"
        "assert again.state is not None\n"
        "kind = type(again.state.optimizer).__name__\n"
        "print(kind, len(history), 'torch._dynamo' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["_CpuAdamW", "2", "False"]


def test_the_run_imports_dynamo_ahead_exactly_when_the_optimiser_will() -> None:
    # run_training loads torch._dynamo in a thread only for optimisers that import it;
    # the one table decides both that and which class build_optimizer returns
    from mnistkit.optim import _imports_dynamo

    cpu = torch.device("cpu")
    for name in OPTIMIZERS:
        built = build_optimizer(TrainConfig(optimizer=name, schedule="none"), _params())
        assert _imports_dynamo(name, cpu) == (type(built) is not _CpuAdamW), name
    assert _imports_dynamo("adamw", torch.device("cuda"))
    assert _imports_dynamo("adamw", torch.device("meta"))
