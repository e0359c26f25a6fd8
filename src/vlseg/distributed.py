r"""Training on several processes with ``torch.distributed``: the few pieces the course needs.

Launch any shipped model's training on ``N`` processes (GPUs, or CPU processes with the ``gloo`` backend)::

    torchrun --nproc_per_node=N -m vlseg.train pacl-shapes

``torchrun`` starts ``N`` copies of the command and tells each its ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``
through the environment; :func:`init_from_environment` joins them into one process group (NCCL on CUDA, gloo on
CPU). :func:`vlseg.training.fit` then wraps the model in PyTorch's ``DistributedDataParallel`` (DDP), which
averages the gradients of the ranks after every backward pass. Three things are the course's own:

* **Data from the step index.** Every rank draws step ``i``'s *global* batch (a pure function of the seed and
  ``i``, as in a single process) and keeps its shard, :meth:`World.shard`. The global batch is therefore the same
  whatever ``N`` is — which is what makes a distributed run comparable with a single process. Drawing the whole
  batch on every rank is redundant work; ShapesWorld is cheap to draw, a real data set would use a sharded sampler.
* **Negatives from every rank.** A contrastive loss computed on the local shard alone would see only ``B/N``
  negatives per row: a different objective. :func:`gather_with_grad` concatenates the embeddings of all ranks with
  ``torch.distributed.nn.functional.all_gather``, whose backward pass routes each rank's gradient back to the
  shard it came from (as open_clip's ``gather_with_grad``). Each rank then scores *its* rows against *all*
  columns (open_clip's ``local_loss``): for rank :math:`r` with :math:`b` pairs out of :math:`B = Nb`,

  .. math::

      \mathcal{L}_r = \tfrac12\Big(-\tfrac1b\sum_{i \in r} \log\frac{e^{\ell_{ii}}}{\sum_{j=1}^{B} e^{\ell_{ij}}}
                                   -\tfrac1b\sum_{j \in r} \log\frac{e^{\ell_{jj}}}{\sum_{i=1}^{B} e^{\ell_{ij}}}\Big),
      \qquad \tfrac1N \sum_r \mathcal{L}_r = \mathcal{L},

  the single-process loss on the global batch. DDP averages the gradients over the ranks, so every rank applies
  :math:`\nabla \tfrac1N\sum_r \mathcal{L}_r = \nabla\mathcal{L}`: the same step as one process with the global
  batch (``tests/test_distributed.py`` checks losses and gradients with 2 CPU processes).
* **Rank 0 speaks.** Only rank 0 shows the progress bar, evaluates, and writes checkpoints and weights; the logged
  numbers are averaged over the ranks first (:func:`mean_over_ranks`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_functional
from torch import Tensor

from vlseg.device import pick_device


@dataclass(frozen=True)
class World:
    """Where this process stands: its ``rank`` among ``size`` processes (``local_rank`` on its machine)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that logs, evaluates and writes files."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.size > 1

    def shard(self, n: int, what: str = "batch_size") -> slice:
        """This rank's part of ``n`` items: ``n`` must split evenly, so that every rank's loss weighs the same."""
        if n % self.size:
            raise ValueError(f"{what} {n} does not split evenly over {self.size} processes (--nproc_per_node); "
                             f"choose a {what} that is a multiple of {self.size}")
        per_rank = n // self.size
        return slice(self.rank * per_rank, (self.rank + 1) * per_rank)


def world() -> World:
    """The current process group's view (a single process when ``torch.distributed`` is not initialised)."""
    if not (dist.is_available() and dist.is_initialized()):
        return World()
    return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", dist.get_rank())))


def init_from_environment(device: str | None = None) -> World:
    """Join the process group ``torchrun`` describes in the environment (``WORLD_SIZE`` > 1); else do nothing.

    The backend is NCCL when this rank trains on CUDA, gloo otherwise (CPU processes).
    """
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1 or dist.is_initialized():
        return world()
    if "RANK" not in os.environ or "MASTER_ADDR" not in os.environ:
        raise RuntimeError(f"WORLD_SIZE is {size} but RANK/MASTER_ADDR are not set: start several processes with "
                           "`torchrun --nproc_per_node=N -m vlseg.train NAME`, not by setting WORLD_SIZE by hand")
    on_cuda = pick_device(device).type == "cuda"
    if on_cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend="nccl" if on_cuda else "gloo")
    return world()


def rank_device(preferred: str | torch.device | None = None) -> torch.device:
    """The device of this rank: ``cuda:LOCAL_RANK`` when training on CUDA with several processes, else as
    :func:`vlseg.device.pick_device` chooses."""
    device = pick_device(preferred)
    here = world()
    if device.type == "cuda" and here.is_distributed:
        return torch.device("cuda", here.local_rank)
    return device


def gather_with_grad(tensor: Tensor) -> Tensor:
    """Concatenate ``tensor`` (b, …) of every rank along dim 0 → (N·b, …), rank order; gradients flow back to
    each rank's own shard. In a single process, ``tensor`` itself."""
    if not world().is_distributed:
        return tensor
    return torch.cat(dist_functional.all_gather(tensor.contiguous()), dim=0)


def mean_over_ranks(values: dict[str, float]) -> dict[str, float]:
    """The mean over the ranks of each logged number (every rank must call it, with the same keys)."""
    if not world().is_distributed:
        return values
    keys = sorted(values)
    device = torch.device("cuda", world().local_rank) if dist.get_backend() == "nccl" else torch.device("cpu")
    stacked = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(stacked)
    return {k: float(v) / world().size for k, v in zip(keys, stacked.tolist())}


def shutdown() -> None:
    """Leave the process group (after training), if one was joined."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
