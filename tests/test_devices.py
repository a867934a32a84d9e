"""mnistkit.devices: resolution, precision plans and seeding (CI has no GPU)."""

from __future__ import annotations

import os
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

import mnistkit
from mnistkit.devices import available_devices, resolve_device, resolve_precision, seed_everything


def test_auto_and_cpu() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available() and torch.backends.mps.is_available():
        expected = "mps"
    assert resolve_device("auto").type == expected
    assert resolve_device(None).type == expected
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert available_devices()[-1] == "cpu"


@pytest.mark.parametrize("spec", ["gpu", "cuda:x", "tpu", ""])
def test_bad_names(spec: str) -> None:
    with pytest.raises(
        mnistkit.DeviceError, match="'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"
    ) as info:
        resolve_device(spec)
    assert repr(spec) in str(info.value)
    assert "available here: " in str(info.value)
    assert isinstance(info.value, ValueError)


def test_bad_type() -> None:
    with pytest.raises(mnistkit.DeviceError, match="str or torch.device"):
        resolve_device(3)  # type: ignore[arg-type]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
@pytest.mark.parametrize("spec", ["cuda", "cuda:0", "cuda:3"])
def test_unavailable_cuda(spec: str) -> None:
    with pytest.raises(mnistkit.DeviceError, match="CUDA is not available") as info:
        resolve_device(spec)
    assert "available here: cpu" in str(info.value)


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="checks the error without MPS")
def test_unavailable_mps() -> None:
    with pytest.raises(mnistkit.DeviceError, match="MPS backend is not available"):
        resolve_device("mps")


def test_precision_plans_on_cpu() -> None:
    cpu = torch.device("cpu")
    plan = resolve_precision("32", cpu)
    assert plan.dtype is None and plan.precision == "32"
    with plan.autocast():
        assert torch.mm(torch.ones(2, 2), torch.ones(2, 2)).dtype == torch.float32
    plan = resolve_precision("bf16-mixed", cpu)
    with plan.autocast():
        assert torch.mm(torch.ones(2, 2), torch.ones(2, 2)).dtype == torch.bfloat16
    with pytest.warns(mnistkit.PrecisionFallbackWarning, match="falls back to 'bf16-mixed'"):
        plan = resolve_precision("16-mixed", cpu)
    assert plan.precision == "bf16-mixed" and not plan.use_grad_scaler


def test_auto_precision_follows_the_kernels_caps(monkeypatch: pytest.MonkeyPatch) -> None:
    # "auto" trains in bfloat16 only where it is computed in hardware and PyTorch may use
    # that hardware: capping oneDNN or ATen below AVX-512 (as on a CPU without it) means float32
    from mnistkit.devices import cpu_has_native_bf16

    cpu = torch.device("cpu")
    native = cpu_has_native_bf16()
    assert resolve_precision("auto", cpu).precision == ("bf16-mixed" if native else "32")
    for cap in ("AVX2", "avx512_core", "SSE41"):
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
        assert not cpu_has_native_bf16(), cap
        assert resolve_precision("auto", cpu).precision == "32"
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "avx512_core_amx")
    assert cpu_has_native_bf16() == native
    code = (
        "import torch\n"
        "from mnistkit.devices import cpu_has_native_bf16, resolve_precision\n"
        "print(torch.backends.cpu.get_cpu_capability(), cpu_has_native_bf16(),\n"
        "      resolve_precision('auto', torch.device('cpu')).precision)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "ONEDNN_MAX_CPU_ISA"}
    capped = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "ATEN_CPU_CAPABILITY": "avx2"},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert capped.stdout.split() == ["AVX2", "False", "32"]


def test_precision_fallback_on_mps_is_documented() -> None:
    with pytest.warns(mnistkit.PrecisionFallbackWarning):
        plan = resolve_precision("bf16-mixed", torch.device("mps"))
    assert plan.precision == "32"


def test_bad_precision() -> None:
    with pytest.raises(mnistkit.DeviceError, match="'32', 'bf16-mixed', '16-mixed'"):
        resolve_precision("fp8", torch.device("cpu"))


def test_seed_everything_repeats() -> None:
    gen = seed_everything(123)
    first = (random.random(), np.random.rand(), torch.rand(3), torch.randperm(10, generator=gen))
    gen = seed_everything(123)
    second = (random.random(), np.random.rand(), torch.rand(3), torch.randperm(10, generator=gen))
    assert first[0] == second[0] and first[1] == second[1]
    assert torch.equal(first[2], second[2]) and torch.equal(first[3], second[3])


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, "1", True])
def test_bad_seed(seed: object) -> None:
    with pytest.raises(mnistkit.ConfigError, match="'seed'"):
        seed_everything(seed)  # type: ignore[arg-type]


_CHURN = """
import resource, sys, torch
if sys.argv[1] == "tuned":
    from mnistkit.devices import retain_freed_memory
    assert retain_freed_memory()
x = torch.randn(128, 32, 28, 28)
def rounds(count):  # what a training step does: large buffers freed and taken again
    for _ in range(count):
        y = torch.relu(x * 2.0)
        z = y.sum(dim=0, keepdim=True) + y
        del y, z
rounds(20)  # the first rounds touch the buffers' memory for the first time
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
rounds(100)  # the steady state, as in a training run's later steps
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="glibc's malloc: Linux only (CI is Linux)"
)
def test_retained_memory_ends_the_page_fault_churn() -> None:
    def faults(mode: str) -> int:
        done = subprocess.run(
            [sys.executable, "-c", _CHURN, mode], capture_output=True, text=True, check=True
        )
        return int(done.stdout.strip())

    # 100 rounds of 12.8 MB buffers after a warm-up: when tuned, the freed buffers are kept
    # and reused, so not one buffer's 3,125 pages is faulted in again (measured 0 in six
    # runs). Untuned, glibc returns them and faults them in again in most runs (937,600
    # pages), but its own sliding mmap threshold sometimes ends the churn by itself (0), so
    # only the tuned process is held to a bound; the untuned count is shown beside it.
    tuned = faults("tuned")
    assert tuned < 3_000, f"tuned {tuned} page faults (untuned: {faults('plain')})"
