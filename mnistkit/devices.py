"""Devices, numeric precision and seeding, each decided in one place.

* :func:`resolve_device` turns ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"`` or a
  :class:`torch.device` into a concrete, available :class:`torch.device`.
* :func:`resolve_precision` turns ``"32"``, ``"bf16-mixed"`` or ``"16-mixed"`` into a
  :class:`PrecisionPlan` whose :meth:`~PrecisionPlan.autocast` is the context every forward pass
  runs under.
* :func:`seed_everything` seeds Python, NumPy and PyTorch and returns a :class:`torch.Generator`
  for shuffling.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import random
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mnistkit import _choices
from mnistkit._validation import as_int, fail
from mnistkit.exceptions import DeviceError, PrecisionFallbackWarning

__all__ = [
    "PRECISIONS",
    "PrecisionPlan",
    "available_devices",
    "cpu_has_native_bf16",
    "describe_hardware",
    "resolve_device",
    "resolve_precision",
    "retain_freed_memory",
    "seed_everything",
]

#: The precisions mnistkit accepts, in the spelling Lightning popularised, and ``"auto"``.
PRECISIONS: tuple[str, ...] = _choices.PRECISIONS

DeviceLike = str | torch.device


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def available_devices() -> list[str]:
    """List the device names usable on this machine, best first.

    Returns
    -------
    list of str
        For example ``["cuda:0", "cuda:1", "cpu"]`` or ``["mps", "cpu"]``; ``"cpu"`` is always
        last.
    """
    names = (
        [f"cuda:{i}" for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    )
    if _mps_available():
        names.append("mps")
    names.append("cpu")
    return names


def resolve_device(spec: DeviceLike | None = "auto") -> torch.device:
    """Resolve a device specification to an available :class:`torch.device`.

    Parameters
    ----------
    spec : str or torch.device or None, default="auto"
        ``"auto"`` (or ``None``) picks CUDA, then Apple's MPS, then the CPU. ``"cuda"`` means
        the current CUDA device, ``"cuda:N"`` a given one.

    Returns
    -------
    torch.device
        A device on which tensors can be allocated now.

    Raises
    ------
    DeviceError
        If the name is not understood, or names a device this machine does not have; the
        message lists the devices that are available.
    """
    if spec is None or (isinstance(spec, str) and spec.strip().lower() == "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if isinstance(spec, torch.device):
        device = spec
    elif isinstance(spec, str):
        try:
            device = torch.device(spec.strip().lower())
        except (RuntimeError, ValueError):
            raise DeviceError(
                f"Argument 'device' must be one of 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps' "
                f"but got {spec!r}; available here: {', '.join(available_devices())}."
            ) from None
    else:
        raise DeviceError(
            f"Argument 'device' must be a str or torch.device but got {type(spec).__name__} "
            f"({spec!r})."
        )
    available = ", ".join(available_devices())
    if device.type == "cpu":
        return torch.device("cpu")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(
                f"Device {str(device)!r} was requested but CUDA is not available "
                f"(torch {torch.__version__}, built with CUDA {torch.version.cuda}); "
                f"available here: {available}. Pass device='auto' or 'cpu'."
            )
        index = torch.cuda.current_device() if device.index is None else device.index
        if index >= torch.cuda.device_count():
            raise DeviceError(
                f"Device {str(device)!r} was requested but this machine has "
                f"{torch.cuda.device_count()} CUDA device(s); available here: {available}."
            )
        return torch.device("cuda", index)
    if device.type == "mps":
        if not _mps_available():
            raise DeviceError(
                f"Device 'mps' was requested but Apple's MPS backend is not available; "
                f"available here: {available}."
            )
        return torch.device("mps")
    raise DeviceError(
        f"Argument 'device' must be one of 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps' but got "
        f"{str(device)!r}; available here: {available}."
    )


@dataclass(frozen=True, slots=True)
class PrecisionPlan:
    """How the forward pass runs: full float32, or autocast to a 16-bit type.

    Parameters
    ----------
    precision : str
        The precision actually used, one of :data:`PRECISIONS`.
    device_type : str
        ``"cpu"``, ``"cuda"`` or ``"mps"``.
    dtype : torch.dtype or None
        The autocast dtype, or ``None`` for plain float32.
    use_grad_scaler : bool
        Whether float16 gradients need loss scaling (CUDA ``"16-mixed"`` only).
    """

    precision: str
    device_type: str
    dtype: torch.dtype | None
    use_grad_scaler: bool

    def grad_scaler(self) -> torch.amp.GradScaler | None:
        """A new gradient scaler when this precision needs loss scaling, else ``None``.

        Returns
        -------
        torch.amp.GradScaler or None
            For :attr:`device_type`, when :attr:`use_grad_scaler`.
        """
        return torch.amp.GradScaler(self.device_type) if self.use_grad_scaler else None

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        """Context manager under which forward passes and losses are computed.

        Yields
        ------
        None
            Inside the block, :func:`torch.autocast` to :attr:`dtype` is active, or nothing
            changes for float32.
        """
        if self.dtype is None:
            yield
            return
        with torch.autocast(device_type=self.device_type, dtype=self.dtype):
            yield


#: oneDNN's instruction-set caps (``ONEDNN_MAX_CPU_ISA``) that still compute bfloat16 in
#: hardware; any lower cap (``AVX2``, ``AVX512_CORE``, ...) makes oneDNN emulate it.
_BF16_ISAS = frozenset(
    {
        "ALL",
        "AVX512_CORE_BF16",
        "AVX512_CORE_FP16",
        "AVX512_CORE_AMX",
        "AVX512_CORE_AMX_FP16",
        "AVX10_1_512",
        "AVX10_1_512_AMX",
        "AVX10_1_512_AMX_FP16",
    }
)


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AVX-512 BF16 or AMX), as PyTorch is
    allowed to use it.

    PyTorch's own kernels follow ``ATEN_CPU_CAPABILITY`` and oneDNN's follow
    ``ONEDNN_MAX_CPU_ISA`` (or ``DNNL_MAX_CPU_ISA``); capped below AVX-512 (``avx2``,
    ``AVX2``), bfloat16 would be emulated, slower than float32, so this answers ``False``
    then, and ``precision="auto"`` trains in float32. The caps also let one machine
    measure what a CPU without AVX-512 does (``benchmarks/RESULTS.md``).

    Returns
    -------
    bool
        ``False`` also when PyTorch cannot tell.
    """
    cpu = torch.cpu
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    if not any(bool(getattr(cpu, name, lambda: False)()) for name in checks):
        return False
    if not torch.backends.cpu.get_cpu_capability().upper().startswith("AVX512"):
        return False
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA") or "ALL"
    return isa.strip().upper() in _BF16_ISAS


def _auto_precision(device: torch.device) -> str:
    if device.type == "cuda":
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    if device.type == "cpu" and cpu_has_native_bf16():
        return "bf16-mixed"
    return "32"


def resolve_precision(precision: str, device: torch.device) -> PrecisionPlan:
    """Choose the autocast plan for ``precision`` on ``device``.

    Parameters
    ----------
    precision : {"32", "bf16-mixed", "16-mixed", "auto"}
        ``"32"`` trains in float32. The mixed modes run matrix multiplications and convolutions
        in a 16-bit type under :func:`torch.autocast` while weights stay float32. ``"auto"``
        picks ``"bf16-mixed"`` on CUDA GPUs that support it (else ``"16-mixed"``) and on CPUs
        that compute bfloat16 in hardware (see :func:`cpu_has_native_bf16`), else ``"32"``.
    device : torch.device
        The resolved device (see :func:`resolve_device`).

    Returns
    -------
    PrecisionPlan
        The precision actually used (after any fallback) and how to run it.

    Raises
    ------
    DeviceError
        If ``precision`` is not one of :data:`PRECISIONS`.

    Warns
    -----
    PrecisionFallbackWarning
        ``"16-mixed"`` on the CPU falls back to ``"bf16-mixed"`` (float16 autocast on CPUs is
        slow and needs loss scaling); ``"bf16-mixed"`` on a CUDA GPU without bfloat16 support
        falls back to ``"16-mixed"``; mixed precision on MPS falls back to ``"32"``.
    """
    if precision not in PRECISIONS:
        raise DeviceError(
            f"Argument 'precision' must be one of {', '.join(map(repr, PRECISIONS))} but got "
            f"{precision!r}."
        )
    kind = device.type
    if precision == "auto":
        precision = _auto_precision(device)
    if precision == "32":
        return PrecisionPlan("32", kind, None, use_grad_scaler=False)
    if kind == "mps":
        warnings.warn(
            f"precision={precision!r} is not supported on MPS by mnistkit; using '32'.",
            PrecisionFallbackWarning,
            stacklevel=2,
        )
        return PrecisionPlan("32", kind, None, use_grad_scaler=False)
    if kind == "cpu":
        if precision == "16-mixed":
            warnings.warn(
                "precision='16-mixed' on the CPU falls back to 'bf16-mixed' (float16 autocast "
                "on CPUs is slow and needs loss scaling).",
                PrecisionFallbackWarning,
                stacklevel=2,
            )
        return PrecisionPlan("bf16-mixed", kind, torch.bfloat16, use_grad_scaler=False)
    # CUDA
    if precision == "bf16-mixed":
        if torch.cuda.is_bf16_supported():
            return PrecisionPlan("bf16-mixed", kind, torch.bfloat16, use_grad_scaler=False)
        warnings.warn(
            f"precision='bf16-mixed' is not supported on {device}; using '16-mixed'.",
            PrecisionFallbackWarning,
            stacklevel=2,
        )
    return PrecisionPlan("16-mixed", kind, torch.float16, use_grad_scaler=True)


_MALLOC_TUNED = False
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters, from glibc's malloc.h


def retain_freed_memory() -> bool:
    """Let glibc's ``malloc`` keep freed blocks for reuse instead of returning them at once.

    A training step on the CPU allocates and frees the same large activation buffers (a few
    MB each) every step. With glibc's default settings many of them are served by ``mmap``
    or trimmed from the heap as soon as they are freed, so the next step takes them again
    from the operating system, zeroed page by page: hundreds of thousands of page faults per
    epoch. This raises the ``mmap`` threshold to 32 MiB (glibc's maximum) and the trim
    threshold to 256 MiB, so that those buffers stay in the process's heap and are reused
    without a page fault (measured in ``benchmarks/RESULTS.md``).

    The settings hold for the whole process, whatever it does next, so no library call
    makes them unasked: ``mnistkit train`` and ``mnistkit ensemble`` turn them on (through
    ``retain_freed_memory=True`` of :func:`mnistkit.run.run_training` and
    :func:`~mnistkit.run.run_ensemble`); call this yourself to have them in your own
    training script.

    Returns
    -------
    bool
        Whether the settings are in effect (``False`` off Linux or without glibc).
    """
    global _MALLOC_TUNED
    if _MALLOC_TUNED:
        return True
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    mmap_set = int(libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)) == 1
    trim_set = int(libc.mallopt(_M_TRIM_THRESHOLD, 256 << 20)) == 1
    _MALLOC_TUNED = mmap_set and trim_set
    return _MALLOC_TUNED


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python's, NumPy's and PyTorch's random number generators.

    Parameters
    ----------
    seed : int
        A non-negative integer below 2**32.

    Returns
    -------
    torch.Generator
        A CPU generator seeded with ``seed``, meant for shuffling and augmentation, so that
        data order does not depend on how much other code drew from the global generator.

    Raises
    ------
    ConfigError
        If ``seed`` is not an integer in ``[0, 2**32)``.
    """
    if as_int(seed) is None or not 0 <= seed < 2**32:
        raise fail("seed", seed, "an integer in [0, 2**32)")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def describe_hardware(device: torch.device) -> str:
    """A short description of the processor behind ``device``, for records of a run.

    Parameters
    ----------
    device : torch.device
        Where a run trained.

    Returns
    -------
    str
        The GPU's name for CUDA, else the CPU's model name (from ``/proc/cpuinfo`` where
        there is one) and its number of logical cores.
    """
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    name = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                name = line.partition(":")[2].strip()
                break
    return f"{name}, {os.cpu_count()} logical cores"
