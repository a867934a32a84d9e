"""Optimisers, learning-rate schedules and the weight average: what turns gradients into
weights.

:class:`~mnistkit.TrainConfig` accepts the names in :data:`OPTIMIZERS` and :data:`SCHEDULES`;
:class:`~mnistkit.Trainer` builds them with :func:`build_optimizer` and :func:`build_schedule`.
Each entry says everything about its kind in one place: the factory, the default learning
rate (optimisers), and whether the schedule steps after every batch or every epoch.
:func:`build_weight_average` builds the exponential moving average of the weights that
``TrainConfig.ema_decay`` asks for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler
from torch.optim.swa_utils import AveragedModel

if TYPE_CHECKING:
    from mnistkit.config import TrainConfig

__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "OptimizerSpec",
    "Schedule",
    "ScheduleSpec",
    "build_optimizer",
    "build_schedule",
    "build_weight_average",
]

Params = Iterable[torch.nn.Parameter]


@dataclass(frozen=True, slots=True)
class OptimizerSpec:
    """How to build one optimiser.

    Parameters
    ----------
    build : callable
        ``build(params, lr, config)`` returns the :class:`torch.optim.Optimizer`.
    default_lr : float
        The learning rate used when ``TrainConfig.lr`` is ``None``.
    has_momentum : bool
        Whether it has a momentum (or Adam's ``beta1``) that ``"onecycle"`` can cycle.
    """

    build: Callable[[Params, float, TrainConfig], Optimizer]
    default_lr: float
    has_momentum: bool


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """How to build one learning-rate schedule.

    Parameters
    ----------
    build : callable
        ``build(optimizer, config, steps_per_epoch)`` returns a
        :class:`torch.optim.lr_scheduler.LRScheduler`, or ``None`` for a constant rate.
    per_batch : bool
        Step it after every batch (``True``) or after every epoch (``False``).
    """

    build: Callable[[Optimizer, TrainConfig, int], LRScheduler | None]
    per_batch: bool


def _momentum_sgd(params: Params, lr: float, cfg: TrainConfig) -> Optimizer:
    return torch.optim.SGD(
        params,
        lr=lr,
        momentum=cfg.momentum,
        nesterov=cfg.momentum > 0,
        weight_decay=cfg.weight_decay,
    )


def _undecorated(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` without the ``torch._disable_dynamo`` wrapper PyTorch puts around some
    :class:`~torch.optim.Optimizer` methods (``functools.wraps`` keeps the original as
    ``__wrapped__``); the wrapper imports ``torch._dynamo`` on its first call."""
    return getattr(method, "__wrapped__", method)


class _CpuAdamW(torch.optim.AdamW):
    """:class:`torch.optim.AdamW` for parameters on the CPU that never imports
    ``torch._dynamo``.

    Every PyTorch optimiser imports ``torch._dynamo`` the first time it steps, adds a
    parameter group, zeroes gradients or saves its state: 1.7 to 2.0 CPU seconds on a
    2-core CPU (``benchmarks/RESULTS.md``, "Where ``mnistkit train --recipe fast`` spends
    its time outside the training"), a third of the ``fast`` recipe's training, paid
    again by every process. This class
    does the same arithmetic as AdamW's single-tensor update, which is what PyTorch runs
    for CPU tensors by default (``foreach`` and ``fused`` off): the weights after each
    step are bit-for-bit those of :class:`torch.optim.AdamW` (``tests/test_optim.py``),
    its state dictionary is AdamW's, and it is an instance of it. Options this update
    does not cover (``amsgrad``, ``maximize``, sparse or complex gradients, ...) fall
    back to PyTorch's own step.
    """

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        _undecorated(Optimizer.add_param_group)(self, param_group)

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = _undecorated(Optimizer.state_dict)(self)
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        _undecorated(Optimizer.load_state_dict)(self, state_dict)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                if set_to_none:
                    param.grad = None
                else:
                    param.grad.detach_().requires_grad_(False).zero_()

    @staticmethod
    def _plain(group: dict[str, Any]) -> bool:
        """Whether ``group`` asks for nothing but the plain update written out here."""
        flags = ("amsgrad", "maximize", "capturable", "differentiable", "foreach", "fused")
        return not any(group.get(flag) for flag in flags) and all(
            isinstance(group[key], float | int) for key in ("lr", "eps", "weight_decay")
        )

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        stepped = [p for group in self.param_groups for p in group["params"] if p.grad is not None]
        if not all(self._plain(group) for group in self.param_groups) or any(
            p.grad.is_sparse or p.is_complex() or not p.is_cpu for p in stepped
        ):
            return super().step(closure)  # type: ignore[no-any-return]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        scalar = torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32
        for group in self.param_groups:
            lr, eps, decay = group["lr"], group["eps"], group["weight_decay"]
            beta1, beta2 = (float(b) for b in group["betas"])
            for param in group["params"]:
                grad = param.grad
                if grad is None:
                    continue
                state = self.state[param]
                if not state:
                    state["step"] = torch.tensor(0.0, dtype=scalar)
                    state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(
                        param, memory_format=torch.preserve_format
                    )
                state["step"] += 1
                step = state["step"].item()
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                if decay != 0:
                    param.mul_(1 - lr * decay)
                exp_avg.lerp_(grad, 1 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                correction1 = 1 - beta1**step
                correction2_sqrt = (1 - beta2**step) ** 0.5
                denom = (exp_avg_sq.sqrt() / correction2_sqrt).add_(eps)
                param.addcdiv_(exp_avg, denom, value=-(lr / correction1))
        return loss


#: The optimisers written out here instead of PyTorch's, by (name, device type): they never
#: import ``torch._dynamo`` (see :class:`_CpuAdamW`).
_WRITTEN_OUT: Mapping[tuple[str, str], type[torch.optim.AdamW]] = MappingProxyType(
    {("adamw", "cpu"): _CpuAdamW}
)


def _imports_dynamo(optimizer: str, device: torch.device) -> bool:
    """Whether the optimiser named ``optimizer`` imports ``torch._dynamo`` when it first
    steps on ``device``: PyTorch's all do, those in ``_WRITTEN_OUT`` do not (for
    :func:`mnistkit.run.run_training`, which imports it ahead, in a thread, when needed)."""
    return (optimizer, device.type) not in _WRITTEN_OUT


def _adamw(params: Params, lr: float, cfg: TrainConfig) -> Optimizer:
    listed = list(params)
    types = {p.device.type for p in listed}
    device_type = types.pop() if len(types) == 1 else ""
    kind = _WRITTEN_OUT.get(("adamw", device_type), torch.optim.AdamW)
    return kind(listed, lr=lr, weight_decay=cfg.weight_decay)


#: The optimisers, by name. ``"momentum"`` is SGD with Nesterov momentum; weight decay is
#: decoupled for ``"adamw"`` and an L2 term for the others.
OPTIMIZERS: Mapping[str, OptimizerSpec] = MappingProxyType(
    {
        "sgd": OptimizerSpec(
            lambda p, lr, cfg: torch.optim.SGD(p, lr=lr, weight_decay=cfg.weight_decay), 0.1, False
        ),
        "momentum": OptimizerSpec(_momentum_sgd, 0.05, True),
        "adam": OptimizerSpec(
            lambda p, lr, cfg: torch.optim.Adam(p, lr=lr, weight_decay=cfg.weight_decay), 1e-3, True
        ),
        "adamw": OptimizerSpec(_adamw, 1e-3, True),
        "adadelta": OptimizerSpec(
            lambda p, lr, cfg: torch.optim.Adadelta(p, lr=lr, weight_decay=cfg.weight_decay),
            1.0,
            False,
        ),
    }
)


def _step(opt: Optimizer, cfg: TrainConfig, steps_per_epoch: int) -> LRScheduler:
    return torch.optim.lr_scheduler.StepLR(opt, cfg.step_size, gamma=cfg.gamma)


def _cosine(opt: Optimizer, cfg: TrainConfig, steps_per_epoch: int) -> LRScheduler:
    return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs * steps_per_epoch)


def _onecycle(opt: Optimizer, cfg: TrainConfig, steps_per_epoch: int) -> LRScheduler | None:
    total = cfg.epochs * steps_per_epoch
    if total < 4:  # too few steps for a warm-up and an annealing phase
        return None
    return torch.optim.lr_scheduler.OneCycleLR(
        opt,
        max_lr=cfg.effective_lr,
        total_steps=total,
        pct_start=max(0.25, 2.0 / total),
        cycle_momentum=OPTIMIZERS[cfg.optimizer].has_momentum,
    )


#: The learning-rate schedules, by name: ``"step"`` multiplies the rate by ``gamma`` every
#: ``step_size`` epochs; ``"cosine"`` anneals it to zero over all batches; ``"onecycle"``
#: warms up for the first 25% of batches, then anneals (Smith & Topin, 2017).
SCHEDULES: Mapping[str, ScheduleSpec] = MappingProxyType(
    {
        "none": ScheduleSpec(lambda opt, cfg, steps: None, per_batch=False),
        "step": ScheduleSpec(_step, per_batch=False),
        "cosine": ScheduleSpec(_cosine, per_batch=True),
        "onecycle": ScheduleSpec(_onecycle, per_batch=True),
    }
)


class Schedule:
    """A built schedule that knows when it steps.

    Parameters
    ----------
    scheduler : torch.optim.lr_scheduler.LRScheduler or None
        ``None`` keeps the rate constant.
    per_batch : bool
        Step after every batch rather than after every epoch.
    """

    def __init__(self, scheduler: LRScheduler | None, *, per_batch: bool) -> None:
        self.scheduler = scheduler
        self.per_batch = per_batch

    def __repr__(self) -> str:
        kind = type(self.scheduler).__name__ if self.scheduler is not None else "constant"
        return f"Schedule({kind}, per_batch={self.per_batch})"

    def after_batch(self) -> None:
        """Advance a per-batch schedule."""
        if self.per_batch and self.scheduler is not None:
            self.scheduler.step()

    def after_epoch(self) -> None:
        """Advance a per-epoch schedule."""
        if not self.per_batch and self.scheduler is not None:
            self.scheduler.step()

    def state_dict(self) -> dict[str, Any] | None:
        """The scheduler's state, or ``None`` for a constant rate.

        Returns
        -------
        dict or None
            What :meth:`load_state_dict` takes.
        """
        return self.scheduler.state_dict() if self.scheduler is not None else None

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        """Restore :meth:`state_dict`'s output.

        Parameters
        ----------
        state : dict or None
            A saved state; ``None`` (a constant rate's) changes nothing.
        """
        if self.scheduler is not None and state is not None:
            self.scheduler.load_state_dict(state)


def build_optimizer(config: TrainConfig, params: Params) -> Optimizer:
    """The optimiser ``config`` names, at ``config.effective_lr``.

    Parameters
    ----------
    config : TrainConfig
        Names the optimiser and holds its settings (``lr``, ``momentum``, ``weight_decay``).
    params : iterable of torch.nn.Parameter
        Usually ``model.parameters()``.

    Returns
    -------
    torch.optim.Optimizer
        Built by the :data:`OPTIMIZERS` entry of ``config.optimizer``.
    """
    return OPTIMIZERS[config.optimizer].build(params, config.effective_lr, config)


def build_schedule(config: TrainConfig, optimizer: Optimizer, steps_per_epoch: int) -> Schedule:
    """The schedule ``config`` names, for ``config.epochs`` epochs of ``steps_per_epoch``.

    Parameters
    ----------
    config : TrainConfig
        Names the schedule and holds its settings (``epochs``, ``step_size``, ``gamma``).
    optimizer : torch.optim.Optimizer
        The optimiser whose learning rate the schedule sets.
    steps_per_epoch : int
        Batches per epoch.

    Returns
    -------
    Schedule
        Built by the :data:`SCHEDULES` entry of ``config.schedule``.
    """
    spec = SCHEDULES[config.schedule]
    return Schedule(spec.build(optimizer, config, steps_per_epoch), per_batch=spec.per_batch)


_Tensors = tuple[torch.Tensor, ...] | list[torch.Tensor]


def _ema_update(decay: float) -> Callable[[_Tensors, _Tensors, torch.Tensor | int], None]:
    """The ``multi_avg_fn`` of an :class:`~torch.optim.swa_utils.AveragedModel` that keeps an
    exponential moving average with warm-up.

    After ``n`` updates the average moves towards the current weights with the decay
    ``min(decay, (1 + n) / (10 + n))``, so in a short run the average is not held back
    by the initial weights (with a fixed 0.999, a third of them would remain after 1,000
    steps). Integer buffers (batch norm's step counter) take the current value.
    """

    def update(averaged: _Tensors, current: _Tensors, num_averaged: torch.Tensor | int) -> None:
        n = float(num_averaged)
        weight = 1.0 - min(decay, (1.0 + n) / (10.0 + n))
        if averaged[0].is_floating_point():
            torch._foreach_lerp_(averaged, current, weight)
        else:
            for target, source in zip(averaged, current, strict=True):
                target.copy_(source)

    return update


def build_weight_average(model: nn.Module, decay: float) -> AveragedModel:
    """An exponential moving average of ``model``'s weights and buffers, with warm-up.

    Parameters
    ----------
    model : torch.nn.Module
        The model being trained; the average starts as a copy of it.
    decay : float
        The decay reached after the warm-up (``TrainConfig.ema_decay``): after ``n``
        updates the average uses ``min(decay, (1 + n) / (10 + n))``.

    Returns
    -------
    torch.optim.swa_utils.AveragedModel
        Call its ``update_parameters(model)`` after every optimiser step; its ``module``
        is the averaged model. Batch-norm statistics are averaged too.
    """
    # use_buffers: the batch-norm statistics follow the average as the weights do
    return AveragedModel(model, multi_avg_fn=_ema_update(decay), use_buffers=True)
