"""`advq train` under torchrun: two CPU processes (Gloo) share each batch; rank 0 alone writes.

Run as a script (``torchrun --nproc_per_node 2 tests/test_distributed.py OUT RECORD``),
this file is the driver: it trains with ``advq_cli.training.train`` and records, through
a ``BatchObserver``, the training indices each process saw.
"""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from advq_cli import get_dataset, load_model
from advq_cli.errors import AdvqError
from advq_cli.training import TrainConfig, train
from advq_cli.training.distributed import World
from advq_cli.training.evaluation import correctness
from advq_cli.training.loop import epoch_seed

from conftest import FAST_DIGITS

# 1201 training examples in batches of 200: the last batch holds one example, so rank 1
# gets none of it and stands in with a weightless row; 201 evaluation examples split 101/100.
N_SUBSET, BATCH, EVAL, EPOCHS = 1201, 200, 201, 2


class IndexRecorder:
    """Keeps the global training indices of every batch this process trained on."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def observe(self, indices: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> None:
        self.batches.append(indices.tolist())


def settings(out: Path, subset: Path) -> TrainConfig:
    return TrainConfig(
        **{**FAST_DIGITS, "epochs": EPOCHS}, batch_size=BATCH, eval_examples=EVAL, subset=str(subset), out=out
    )


def drive(out: Path, record: Path, subset: Path) -> None:
    recorder = IndexRecorder()
    result = train(settings(out, subset), observer=recorder)
    rank = World.from_environment().rank
    history = [[h.train_loss, h.train_robust_acc, h.test_clean_acc, h.test_robust_acc] for h in result.history]
    (record / f"rank{rank}.json").write_text(json.dumps({"batches": recorder.batches, "history": history}))


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, np.ndarray]:
    root = tmp_path_factory.mktemp("ddp")
    subset = np.sort(np.random.default_rng(0).choice(get_dataset("digits").n_train, N_SUBSET, replace=False))
    np.save(root / "subset.npy", subset)
    (root / "record").mkdir()
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        __file__, str(root / "run"), str(root / "record"), str(root / "subset.npy"),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return root / "run", root / "record", subset


@pytest.mark.slow
def test_rank_zero_alone_writes_the_usual_run_folder(ddp_run):
    run, record, _ = ddp_run
    assert sorted(p.name for p in run.iterdir()) == ["best.pt", "config.yaml", "history.csv", "last.pt"]
    rows = list(csv.DictReader((run / "history.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    # both processes return the same summed statistics, those rank 0 wrote
    ranks = [json.loads((record / f"rank{r}.json").read_text())["history"] for r in (0, 1)]
    assert ranks[0] == ranks[1]
    assert [float(r["test_robust_acc"]) for r in rows] == pytest.approx([h[3] for h in ranks[0]], abs=1e-6)


@pytest.mark.slow
def test_two_processes_learn_what_one_does_with_the_same_global_batch(ddp_run, tmp_path: Path):
    run, _, _ = ddp_run
    single = train(settings(tmp_path / "single", run.parent / "subset.npy"))
    rows = list(csv.DictReader((run / "history.csv").open()))
    # only the attacks' random starts differ; a per-process batch of 200 (half the steps) would be far off
    assert [float(r["train_loss"]) for r in rows] == pytest.approx([h.train_loss for h in single.history], abs=0.05)


@pytest.mark.slow
def test_the_checkpoint_is_the_plain_model_and_the_split_evaluation_adds_up(ddp_run):
    run, _, _ = ddp_run
    model = load_model(run / "best.pt")
    images, labels = get_dataset("digits").split(train=False)
    clean = correctness(model, images[:EVAL], labels[:EVAL]).float().mean().item()
    rows = list(csv.DictReader((run / "history.csv").open()))
    robust = [float(r["test_robust_acc"]) for r in rows]
    best_row = rows[int(np.argmax(robust))]
    assert clean == pytest.approx(float(best_row["test_clean_acc"]), abs=1e-6)


@pytest.mark.slow
def test_the_processes_train_on_disjoint_shards_of_each_global_batch(ddp_run):
    _, record, subset = ddp_run
    seen = [json.loads((record / f"rank{r}.json").read_text())["batches"] for r in (0, 1)]
    n_batches = math.ceil(N_SUBSET / BATCH)
    assert [len(s) for s in seen] == [EPOCHS * n_batches, EPOCHS * (n_batches - 1)]  # rank 1: no share of a 1-row batch
    for epoch in range(1, EPOCHS + 1):
        seed = epoch_seed(FAST_DIGITS["seed"], epoch)
        order = torch.randperm(N_SUBSET, generator=torch.Generator().manual_seed(seed))
        expected = subset[order.numpy()]
        rank0 = seen[0][(epoch - 1) * n_batches : epoch * n_batches]
        rank1 = seen[1][(epoch - 1) * (n_batches - 1) : epoch * (n_batches - 1)] + [[]]
        for b in range(n_batches):
            batch = expected[b * BATCH : (b + 1) * BATCH].tolist()
            half = math.ceil(len(batch) / 2)
            assert rank0[b] == batch[:half] and rank1[b] == batch[half:]
        trained = [i for part in rank0 + rank1 for i in part]
        assert sorted(trained) == subset.tolist()  # disjoint, and together the whole epoch


@pytest.mark.parametrize("size", [1, 2, 3, 5])
@pytest.mark.parametrize("length", [1, 2, 7, 100])
def test_weighted_shard_losses_average_to_the_global_batch_mean(size: int, length: int):
    rows = torch.arange(length) * 10
    losses = torch.rand(length, dtype=torch.float64)
    shards = [World(rank, size, rank).shard(rows) for rank in range(size)]
    real = [s for s in shards if s.weight]
    assert torch.equal(torch.cat([s.rows for s in real]), rows)
    # DDP averages the processes' gradients: the mean of the weighted shard losses is the batch's mean loss
    weighted = sum(losses[s.rows // 10].mean() * s.weight for s in shards) / size
    assert weighted.item() == pytest.approx(losses.mean().item(), rel=1e-12)
    parts = [World(rank, size, rank).part(length) for rank in range(size)]
    assert [p.stop - p.start for p in parts] == [len(s.rows) if s.weight else 0 for s in shards]


def test_torchrun_variables_are_read_and_checked():
    assert World.from_environment({}) == World()
    master = {"MASTER_ADDR": "localhost", "MASTER_PORT": "29500"}
    assert World.from_environment({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1", **master}) == World(3, 4, 1)
    assert World.from_environment({"WORLD_SIZE": "1", "RANK": "0", "LOCAL_RANK": "0"}) == World()
    with pytest.raises(AdvqError, match="Inconsistent"):
        World.from_environment({"WORLD_SIZE": "2", "RANK": "2", "LOCAL_RANK": "0", **master})
    with pytest.raises(AdvqError, match="torchrun"):
        World.from_environment({"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1"})
    assert World(0, 2, 0).seed(123) == 123 != World(1, 2, 1).seed(123)


if __name__ == "__main__":
    drive(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
