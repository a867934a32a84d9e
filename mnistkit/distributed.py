"""Data-parallel training: the process group, who is rank 0, and how each rank shards an epoch.

mnistkit uses PyTorch's own engine: ``torchrun`` starts the processes and sets their
environment (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``),
:mod:`torch.distributed` connects them, and
:class:`~torch.nn.parallel.DistributedDataParallel` averages the gradients. This module holds
the little glue between them and the :class:`~mnistkit.Trainer`:

* :class:`DistributedContext` — rank, local rank, world size and backend of this process;
* :func:`setup` — read ``TrainConfig.distributed`` and torchrun's environment, start the
  process group (``gloo`` on the CPU, ``nccl`` on CUDA) with a collective timeout;
* :func:`wrap_model` — the module a data-parallel run's steps call
  (:class:`~torch.nn.parallel.DistributedDataParallel`);
* :func:`shutdown` — end the process group this module started.

Sharding itself lives in :class:`mnistkit.loaders.DeviceLoader` (``num_replicas``, ``rank``):
every rank draws the same permutation of an epoch from the same seeded generator and takes
its part of each global batch.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from mnistkit import _choices
from mnistkit.devices import resolve_device
from mnistkit.exceptions import ConfigError, DistributedError

__all__ = [
    "BACKENDS",
    "STRATEGIES",
    "DistributedContext",
    "all_reduce_sum",
    "any_rank",
    "collective_errors",
    "is_main_process",
    "setup",
    "shutdown",
    "under_torchrun",
    "wrap_model",
]

#: Accepted values of ``TrainConfig.distributed``: ``"auto"`` trains data-parallel when
#: started by torchrun (backend by device), ``"off"`` never does, ``"gloo"``/``"nccl"``
#: require torchrun and force that backend.
STRATEGIES: tuple[str, ...] = _choices.STRATEGIES

#: The process-group backends mnistkit starts: gloo for CPU tensors, nccl for CUDA ones.
BACKENDS = ("gloo", "nccl")

_ENV = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")

#: Whether this module started the process group (and so should end it).
_started_here = False


@dataclass(frozen=True, slots=True)
class DistributedContext:
    """Where this process stands in a data-parallel run.

    Parameters
    ----------
    rank : int
        This process's index among all processes, from 0; rank 0 alone writes files.
    local_rank : int
        Its index on this machine; picks its GPU (``cuda:LOCAL_RANK``).
    world_size : int
        The number of processes.
    backend : str or None
        ``"gloo"`` or ``"nccl"``; ``None`` when the run is not distributed.
    """

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    backend: str | None = None

    @property
    def enabled(self) -> bool:
        """Whether training is data-parallel (a process group is in use)."""
        return self.backend is not None

    @property
    def is_main(self) -> bool:
        """Whether this process is rank 0, the one that shows progress and writes files."""
        return self.rank == 0

    @classmethod
    def from_environment(cls) -> DistributedContext | None:
        """The rank, local rank and world size torchrun set, or ``None`` outside torchrun.

        Returns
        -------
        DistributedContext or None
            With ``backend=None``: which backend to use is decided by :func:`setup`.

        Raises
        ------
        ConfigError
            If the variables are present but not integers.
        """
        if not under_torchrun():
            return None
        values: dict[str, int] = {}
        for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE"):
            text = os.environ.get(name, "0" if name == "LOCAL_RANK" else "")
            try:
                values[name] = int(text)
            except ValueError:
                raise ConfigError(
                    f"Environment variable {name} must be an integer (as torchrun sets it), "
                    f"but got {text!r}"
                ) from None
        return cls(values["RANK"], values["LOCAL_RANK"], values["WORLD_SIZE"])


def under_torchrun() -> bool:
    """Whether this process was started by torchrun (or a launcher setting the same variables).

    Returns
    -------
    bool
        True when ``RANK`` and ``WORLD_SIZE`` are both set.
    """
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def is_main_process() -> bool:
    """Whether this process should show progress and write files.

    Returns
    -------
    bool
        True outside a distributed run, and on rank 0 of one.
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    context = DistributedContext.from_environment()
    return context is None or context.is_main


def setup(
    strategy: str = "auto", device: str = "auto", *, timeout: float = 300.0
) -> tuple[DistributedContext, torch.device]:
    """Decide whether to train data-parallel and start the process group if so.

    Parameters
    ----------
    strategy : {"auto", "off", "gloo", "nccl"}, default="auto"
        See :data:`STRATEGIES`.
    device : str, default="auto"
        ``TrainConfig.device``. Under DDP, ``"auto"`` and ``"cuda"`` mean
        ``cuda:LOCAL_RANK`` when CUDA is available; ``"cpu"`` keeps every rank on the CPU.
    timeout : float, default=300.0
        Seconds a collective waits for the other ranks before the run fails.

    Returns
    -------
    (DistributedContext, torch.device)
        Where this process stands, and the device it trains on.

    Raises
    ------
    DistributedError
        ``"gloo"``/``"nccl"`` outside torchrun, ``"nccl"`` without CUDA, or a process group
        that cannot start.
    """
    environment = DistributedContext.from_environment()
    already = dist.is_available() and dist.is_initialized()
    if strategy == "off" or (strategy == "auto" and environment is None and not already):
        return DistributedContext(), resolve_device(device)
    if not dist.is_available():
        raise DistributedError("This build of PyTorch has no torch.distributed support.")
    if already:  # the caller started the process group: use it, leave it to them
        context = DistributedContext(
            dist.get_rank(),
            environment.local_rank if environment is not None else 0,
            dist.get_world_size(),
            str(dist.get_backend()),
        )
        return context, _device_for(context, device)
    if environment is None:
        raise DistributedError(
            f"TrainConfig.distributed={strategy!r} needs a distributed launch, but RANK and "
            "WORLD_SIZE are not set; start the run with 'torchrun --nproc_per_node=N ...' or "
            "use distributed='auto'."
        )
    local = environment
    wants_cuda = device.strip().lower() in ("auto", "cuda") and torch.cuda.is_available()
    on_cuda = device.strip().lower().startswith("cuda") or wants_cuda
    backend = strategy if strategy in BACKENDS else ("nccl" if on_cuda else "gloo")
    if backend == "nccl" and not (on_cuda and torch.cuda.is_available()):
        raise DistributedError(
            f"The nccl backend needs CUDA, but this process trains on {device!r} "
            f"(CUDA available: {torch.cuda.is_available()}); use distributed='gloo' or "
            "'auto' on the CPU."
        )
    context = DistributedContext(local.rank, local.local_rank, local.world_size, backend)
    chosen = _device_for(context, device)
    if chosen.type == "cuda":
        torch.cuda.set_device(chosen)
    try:
        dist.init_process_group(
            backend,
            timeout=timedelta(seconds=timeout),
            rank=local.rank,
            world_size=local.world_size,
        )
    except (RuntimeError, ValueError) as exc:
        raise DistributedError(
            f"Could not start the {backend} process group (rank {local.rank} of "
            f"{local.world_size}): {exc}"
        ) from exc
    global _started_here
    _started_here = True
    atexit.register(shutdown)
    return context, chosen


def any_rank(flag: bool, context: DistributedContext, device: torch.device) -> bool:
    """Whether ``flag`` is true on any rank: every rank gets the same answer, e.g. to stop
    at the same epoch when rank 0's callbacks ask to. ``flag`` itself when training alone.

    Parameters
    ----------
    flag : bool
        This rank's answer.
    context : DistributedContext
        Where this process stands (see :func:`setup`).
    device : torch.device
        This rank's device, where the vote is summed.

    Returns
    -------
    bool
        True when at least one rank passed True.
    """
    if not context.enabled:
        return flag
    votes = torch.tensor([float(flag)], device=device)
    return bool(all_reduce_sum(votes).item() > 0)


def wrap_model(model: nn.Module, context: DistributedContext, device: torch.device) -> nn.Module:
    """The module a training step calls: ``model`` itself when training alone, else ``model``
    in a :class:`~torch.nn.parallel.DistributedDataParallel`.

    Wrapping broadcasts rank 0's weights to every rank at once; then every backward pass
    averages the gradients over the ranks.

    Parameters
    ----------
    model : torch.nn.Module
        On ``device`` already; the wrapper shares its parameters.
    context : DistributedContext
        Where this process stands (see :func:`setup`).
    device : torch.device
        This rank's device (its CUDA index, if any, goes to ``device_ids``).

    Returns
    -------
    torch.nn.Module
        ``model``, or its data-parallel wrapper.
    """
    if not context.enabled:
        return model
    return DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None
    )


def all_reduce_sum(values: torch.Tensor) -> torch.Tensor:
    """Sum ``values`` over all ranks, in place; unchanged outside a process group.

    Parameters
    ----------
    values : torch.Tensor
        On this rank's device (the nccl backend needs CUDA tensors).

    Returns
    -------
    torch.Tensor
        ``values``, now holding the sum over all ranks.
    """
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


#: Words of the errors gloo and nccl raise when a peer died or a collective timed out (they
#: are often plain RuntimeErrors, not torch.distributed.DistError).
_COLLECTIVE_WORDS = ("gloo", "nccl", "connection closed by peer", "timed out", "timeout")


@contextmanager
def collective_errors(context: DistributedContext, timeout: float) -> Iterator[None]:
    """Turn a failed collective (a lost rank, a timeout) into one :class:`DistributedError`.

    Parameters
    ----------
    context : DistributedContext
        This process's place in the run, named in the message.
    timeout : float
        The collective timeout in seconds, named in the message.

    Yields
    ------
    None
        Nothing: it wraps the block that runs collectives.

    Raises
    ------
    DistributedError
        If the block raised a :class:`RuntimeError` from the process group.
    """
    try:
        yield
    except RuntimeError as exc:
        text = str(exc)
        if not context.enabled or not (
            isinstance(exc, dist.DistError) or any(w in text.lower() for w in _COLLECTIVE_WORDS)
        ):
            raise
        first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
        raise DistributedError(
            f"The data-parallel run failed on rank {context.rank} of {context.world_size} "
            f"({context.backend}): another rank failed or did not answer within "
            f"distributed_timeout={timeout:g}s (see that rank's error). Cause: {first}"
        ) from exc


def _device_for(context: DistributedContext, device: str) -> torch.device:
    """Each rank on its own GPU: ``cuda:LOCAL_RANK`` for ``"auto"`` and ``"cuda"``."""
    name = device.strip().lower()
    if name in ("auto", "cuda") and torch.cuda.is_available():
        return resolve_device(f"cuda:{context.local_rank % torch.cuda.device_count()}")
    if name == "auto":
        return torch.device("cpu")  # not MPS: it has no collectives backend
    return resolve_device(device)


def shutdown() -> None:
    """End the process group :func:`setup` started; does nothing otherwise.

    Called at exit automatically; call it yourself to free the group earlier.
    """
    global _started_here
    if _started_here and dist.is_initialized():
        dist.destroy_process_group()
    _started_here = False
