"""Training on 2 CPU processes (gloo, started by torchrun) takes the same step as one process on the global batch.

For CLIP's loss and PACL's φ̂ loss, the negatives are gathered across ranks (:mod:`vlseg.distributed`) and DDP averages
the gradients: the logged losses, the last step's gradients and the weights after it must equal a single process's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from vlseg.distributed import World, gather_with_grad, mean_over_ranks, world
from vlseg.losses import clip_loss, local_symmetric_infonce

WORKER = Path(__file__).with_name("ddp_worker.py")


def torchrun(nproc: int, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *args]
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return done


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    out = {}
    for nproc in (1, 2):
        folder = tmp_path_factory.mktemp(f"ddp{nproc}")
        torchrun(nproc, str(WORKER), str(folder))
        out[nproc] = folder
    return out


def test_the_worker_really_ran_on_two_processes(runs: dict[int, Path]) -> None:
    assert json.loads((runs[1] / "world0.json").read_text()) == {"rank": 0, "size": 1}
    for rank in (0, 1):
        assert json.loads((runs[2] / f"world{rank}.json").read_text()) == {"rank": rank, "size": 2}


@pytest.mark.parametrize("family", ["clip", "pacl"])
def test_two_processes_take_the_single_process_step(runs: dict[int, Path], family: str) -> None:
    single = load_file(str(runs[1] / family / "rank0" / "tensors.safetensors"))
    single_history = json.loads((runs[1] / family / "rank0" / "history.json").read_text())
    grads = [k for k in single if k.startswith("grad/")]
    assert len(grads) > 1 and all(single[k].abs().sum() > 0 for k in grads if "bias" not in k)  # real gradients
    for rank in (0, 1):
        shard = load_file(str(runs[2] / family / f"rank{rank}" / "tensors.safetensors"))
        history = json.loads((runs[2] / family / f"rank{rank}" / "history.json").read_text())
        assert set(shard) == set(single)
        # the logged loss is the mean of the ranks' local losses = the loss of the global batch
        assert len(history) == len(single_history)
        for row, single_row in zip(history, single_history):
            assert row["loss"] == pytest.approx(single_row["loss"], rel=1e-5)
        largest = max(single[key].abs().max().item() for key in grads)  # some gradients are 0 up to rounding
        for key in grads:  # (e.g. attention's key bias, which the softmax cancels)
            assert torch.allclose(shard[key], single[key], rtol=1e-4, atol=1e-6 * largest), key
        for key in (k for k in single if k.startswith("weight/")):
            assert torch.allclose(shard[key], single[key], atol=1e-5), key


def test_local_losses_average_to_the_global_loss() -> None:
    """The algebra of the module docstring, without processes: the ranks' local losses average to the global one."""
    generator = torch.Generator().manual_seed(0)
    images, texts = torch.randn(6, 5, generator=generator), torch.randn(6, 5, generator=generator)
    u, v = torch.nn.functional.normalize(images, dim=-1), torch.nn.functional.normalize(texts, dim=-1)
    logits = 10.0 * u @ v.t()  # (B, B)
    local = [local_symmetric_infonce(logits[r * 2:(r + 1) * 2], logits.t()[r * 2:(r + 1) * 2], offset=r * 2)
             for r in range(3)]
    assert torch.allclose(torch.stack(local).mean(), clip_loss(images, texts, 10.0), atol=1e-6)


def test_single_process_helpers_are_identities() -> None:
    assert world() == World() and world().is_main and not world().is_distributed
    x = torch.randn(3, 2)
    assert gather_with_grad(x) is x
    assert mean_over_ranks({"loss": 1.5}) == {"loss": 1.5}
    assert clip_loss(x, x + 1, 5.0, gather=True) == clip_loss(x, x + 1, 5.0)


def test_shards_cover_the_batch_and_refuse_uneven_splits() -> None:
    shards = [World(rank, 4).shard(12) for rank in range(4)]
    assert [list(range(12))[s] for s in shards] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]]
    with pytest.raises(ValueError, match=r"batch_size 10 does not split evenly over 4 processes"):
        World(1, 4).shard(10)


def test_torchrun_trains_and_only_rank_zero_writes(tmp_path: Path) -> None:
    """The documented command on 2 CPU processes: one set of weights and a card recording the 2 processes."""
    out = tmp_path / "weights"
    torchrun(2, "-m", "vlseg.train", "tiny-clip-shapes", "--steps", "2", "--out", str(out), "--device", "cpu")
    card = json.loads((out / "tiny-clip-shapes.json").read_text())
    assert card["device"] == "2 processes on cpu" and card["steps"] == 2
    assert sorted(p.name for p in out.iterdir()) == ["shapes-bpe.json", "tiny-clip-shapes.json",
                                                    "tiny-clip-shapes.safetensors"]
