"""The names a setting accepts, without the code behind them (private, torch-free).

:class:`~mnistkit.TrainConfig` validates against these and the command line offers them as
choices; neither needs PyTorch for that, so they live here, below every module that does.
The modules that own the behaviour re-export them under their public paths
(:data:`mnistkit.devices.PRECISIONS`, :data:`mnistkit.distributed.STRATEGIES`) or map each
name to its implementation (:data:`mnistkit.optim.OPTIMIZERS`, :data:`mnistkit.optim.SCHEDULES`,
whose keys a test holds equal to the names here).
"""

from __future__ import annotations

__all__ = ["OPTIMIZER_NAMES", "PRECISIONS", "SCHEDULE_NAMES", "STRATEGIES"]

#: The precisions mnistkit accepts, in the spelling Lightning popularised, and ``"auto"``.
PRECISIONS: tuple[str, ...] = ("32", "bf16-mixed", "16-mixed", "auto")

#: Accepted values of ``TrainConfig.distributed``.
STRATEGIES: tuple[str, ...] = ("auto", "off", "gloo", "nccl")

#: The keys of :data:`mnistkit.optim.OPTIMIZERS`.
OPTIMIZER_NAMES: tuple[str, ...] = ("sgd", "momentum", "adam", "adamw", "adadelta")

#: The keys of :data:`mnistkit.optim.SCHEDULES`.
SCHEDULE_NAMES: tuple[str, ...] = ("none", "step", "cosine", "onecycle")
