"""Data-parallel training on real MNIST: sharding, torchrun with 2 CPU processes, faults."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mnistkit import (
    Callback,
    ConfigError,
    DeviceLoader,
    DistributedError,
    RunView,
    TrainConfig,
    Trainer,
    get_model,
    run_training,
    seed_everything,
)
from mnistkit.datasets import DatasetSplits
from mnistkit.distributed import DistributedContext, setup

ROOT = Path(__file__).resolve().parents[1]

#: Run by torchrun on every rank: one epoch of the linear model through run_training, then
#: each rank leaves what it drew and a hash of its weights in ``sys.argv[2]`` (the test's
#: own files; the library writes only into the output folder, and only on rank 0).
TRAIN_SCRIPT = """
import hashlib, json, sys
import torch
from mnistkit import EpochLog, TrainConfig, run_training
out, probe = sys.argv[1], sys.argv[2]
config = TrainConfig(epochs=1, batch_size=128, device="cpu", progress=False, schedule="none")
result = run_training(out, model="linear", config=config, figures=False, download=False,
                      callbacks=[EpochLog()])
trainer = result.trainer
weights = b"".join(v.numpy().tobytes() for v in trainer.model.state_dict().values())
rank = trainer.distributed.rank
torch.save(trainer.train_loader.last_order, f"{probe}/order{rank}.pt")
with open(f"{probe}/rank{rank}.json", "w") as f:
    json.dump({"sha": hashlib.sha256(weights).hexdigest(),
               "accuracy": result.report.accuracy}, f)
"""

#: Rank 1 raises in its third training step (through the augmentation, which every rank
#: runs), while rank 0 waits in a collective.
FAIL_SCRIPT = """
import os
from mnistkit import TrainConfig, Trainer, datasets, get_model
data = datasets.load("mnist", download=False)
steps = []
def augment(batch, generator):
    steps.append(1)
    if os.environ["RANK"] == "1" and len(steps) == 3:
        raise RuntimeError("rank 1 fails on purpose")
    return batch
config = TrainConfig(epochs=1, batch_size=64, device="cpu", progress=False,
                     distributed_timeout=20)
Trainer(get_model("linear"), config, augment=augment).fit(data.train.subset(slice(0, 2000)))
"""


#: Rank 0 writes a training state after epoch 1; every rank resumes from it to epoch 2 and
#: must end with the weights of an uninterrupted 2-epoch run.
RESUME_SCRIPT = """
import hashlib, pathlib, sys
import torch.distributed as dist
from mnistkit import TrainConfig, Trainer, TrainingStateCheckpoint, datasets, get_model
from mnistkit import seed_everything
state, train = sys.argv[1], datasets.load("mnist", download=False).train.subset(slice(0, 1500))
config = TrainConfig(epochs=2, batch_size=64, device="cpu", progress=False, schedule="step")
def trained(config, **fit):
    seed_everything(0)
    trainer = Trainer(get_model("linear"), config, callbacks=[TrainingStateCheckpoint(state)])
    trainer.fit(train, **fit)
    dist.barrier()  # rank 0 has written the state before anyone reads it
    weights = b"".join(v.numpy().tobytes() for v in trainer.model.state_dict().values())
    return hashlib.sha256(weights).hexdigest()
whole = trained(config)
trained(config.replace(epochs=1))
resumed = trained(config, resume_from=state)
verdict = "same" if resumed == whole else "DIFFERENT"
# one file per rank: two processes printing to one pipe may interleave their lines
pathlib.Path(f"{state}.rank{dist.get_rank()}").write_text(f"resumed {verdict}")
"""


def _torchrun(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Start 2 processes on this machine with torchrun, importing this checkout."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            *args,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# ------------------------------------------------------------------------------ sharding
@pytest.mark.parametrize(("n", "batch_size", "world"), [(1000, 64, 2), (1001, 64, 3), (130, 64, 2)])
def test_shards_see_every_example_once_per_epoch(
    mnist: DatasetSplits, n: int, batch_size: int, world: int
) -> None:
    split = mnist.train.subset(slice(0, n))
    whole = DeviceLoader(split, batch_size=batch_size, shuffle=True)
    shards = [
        DeviceLoader(split, batch_size=batch_size, shuffle=True, num_replicas=world, rank=r)
        for r in range(world)
    ]
    for _ in range(2):  # each epoch: a new permutation, the same on every rank
        alone = [labels for _, labels in whole]
        parts = [[labels for _, labels in shard] for shard in shards]
        assert {len(p) for p in parts} == {len(whole)}  # same number of steps on every rank
        # step b of all ranks together is step b of one process with the same seed
        for b, labels in enumerate(alone):
            assert torch.equal(torch.cat([p[b] for p in parts]), labels)
            assert sum(len(p[b]) for p in parts) == whole.global_batch_size(b)
        drawn = torch.cat([s.last_order for s in shards if s.last_order is not None])
        assert torch.equal(drawn.sort().values, torch.arange(n))  # each exactly once


def test_loader_checks_rank(mnist: DatasetSplits) -> None:
    with pytest.raises(ConfigError, match="rank"):
        DeviceLoader(mnist.test, num_replicas=2, rank=2)


# ------------------------------------------------------------------------------ launch
def test_settings_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="distributed"):
        TrainConfig(distributed="ddp")
    with pytest.raises(ConfigError, match="distributed_timeout"):
        TrainConfig(distributed_timeout=0)
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert DistributedContext.from_environment() is None
    context, device = setup("auto", "cpu")  # alone: no process group
    assert not context.enabled
    assert (context.world_size, context.is_main, device.type) == (1, True, "cpu")
    with pytest.raises(DistributedError, match="torchrun"):
        setup("gloo", "cpu")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert DistributedContext.from_environment() == DistributedContext(1, 1, 2, None)
    with pytest.raises(DistributedError, match="nccl backend needs CUDA"):
        setup("nccl", "cpu")  # a wrong launch fails before any connection is tried


def test_two_cpu_processes_train_as_one(mnist: DatasetSplits, tmp_path: Path) -> None:
    script, probe, out = tmp_path / "train.py", tmp_path / "probe", tmp_path / "ddp"
    script.write_text(TRAIN_SCRIPT, encoding="utf-8")
    probe.mkdir()
    result = _torchrun(str(script), str(out), str(probe))
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in out.glob("*.safetensors")) == ["model.safetensors"]
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert (metrics["world_size"], metrics["backend"]) == (2, "gloo")
    assert result.stdout.count("epoch 1/1") == 1  # rank 0 alone logs
    ranks = [json.loads((probe / f"rank{r}.json").read_text()) for r in range(2)]
    assert ranks[0]["sha"] == ranks[1]["sha"]  # bit-identical weights
    orders = [torch.load(probe / f"order{r}.pt") for r in range(2)]
    assert abs(len(orders[0]) - len(orders[1])) <= 64
    drawn = torch.cat(orders).sort().values
    assert torch.equal(drawn, torch.arange(len(mnist.train)))  # every image once
    # one process with the same global batch size
    config = TrainConfig(epochs=1, batch_size=128, device="cpu", progress=False, schedule="none")
    alone = run_training(tmp_path / "one", model="linear", config=config, figures=False)
    assert alone.metrics["world_size"] == 1
    assert abs(alone.report.accuracy - metrics["test_accuracy"]) < 0.003


@pytest.mark.usefixtures("data_root")  # the script loads MNIST from MNISTKIT_DATA_DIR
def test_resume_under_ddp(tmp_path: Path) -> None:
    script = tmp_path / "resume.py"
    script.write_text(RESUME_SCRIPT, encoding="utf-8")
    result = _torchrun(str(script), str(tmp_path / "state.pt"))
    assert result.returncode == 0, result.stderr[-3000:]
    verdicts = [(tmp_path / f"state.pt.rank{r}").read_text() for r in range(2)]
    assert verdicts == ["resumed same", "resumed same"]


@pytest.mark.usefixtures("data_root")  # the script loads MNIST from MNISTKIT_DATA_DIR
def test_a_failing_rank_fails_the_run_quickly(tmp_path: Path) -> None:
    script = tmp_path / "fail.py"
    script.write_text(FAIL_SCRIPT, encoding="utf-8")
    started = time.monotonic()
    result = _torchrun(str(script), timeout=120)
    assert result.returncode != 0
    assert time.monotonic() - started < 60
    assert result.stderr.count("RuntimeError: rank 1 fails on purpose") == 1


def test_trainer_alone_reports_world_size_one(mnist: DatasetSplits) -> None:
    seed_everything(0)
    config = TrainConfig(epochs=1, batch_size=64, device="cpu", progress=False)
    trainer = Trainer(get_model("linear"), config)
    trainer.fit(mnist.train.subset(slice(0, 500)))
    assert trainer.distributed == DistributedContext()
    assert trainer.train_loader is not None
    order = trainer.train_loader.last_order
    assert order is not None
    assert torch.equal(order.sort().values, torch.arange(500))


class _StopAfter(Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, run: RunView, epoch: int, record: dict[str, float]) -> None:
        if epoch == self.epoch:
            run.request_stop()


def test_a_one_process_group_trains_as_no_group(mnist: DatasetSplits, tmp_path: Path) -> None:
    """The data-parallel code path in this process: a gloo group of one rank.

    The same seed, data and settings must give what training without a group gives: the
    loss summed over the (global) batch and scaled by world size / global count is the mean,
    the epoch totals summed over ranks are this rank's, and a stop one rank asks for is
    agreed by all. (torchrun's processes above check two ranks; they run in subprocesses.)
    """
    train, val = mnist.train.subset(slice(0, 1500)), mnist.train.subset(slice(1500, 2000))
    config = TrainConfig(
        epochs=3, batch_size=100, lr=0.05, label_smoothing=0.2, device="cpu", progress=False
    )

    def fit(strategy: str) -> Trainer:
        seed_everything(0)
        trainer = Trainer(
            get_model("mlp", hidden_sizes=(32,), dropout=0.0),
            config.replace(distributed=strategy),
            callbacks=[_StopAfter(2)],
        )
        trainer.fit(train, val)
        return trainer

    alone = fit("off")
    assert not alone.distributed.enabled
    torch.distributed.init_process_group(
        "gloo", init_method=(tmp_path / "store").as_uri(), rank=0, world_size=1
    )
    try:
        grouped = fit("auto")
    finally:
        torch.distributed.destroy_process_group()
    assert grouped.distributed == DistributedContext(0, 0, 1, "gloo")
    assert "rank=0/1" in repr(grouped)
    assert len(grouped.history) == len(alone.history) == 2  # the stop asked after epoch 2
    for mine, theirs in zip(grouped.history.records, alone.history.records, strict=True):
        for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
            assert mine[key] == pytest.approx(theirs[key], rel=1e-5, abs=1e-7), key
    theirs_state = alone.model.state_dict()
    for name, tensor in grouped.model.state_dict().items():
        torch.testing.assert_close(tensor, theirs_state[name], rtol=1e-5, atol=1e-6, msg=name)
