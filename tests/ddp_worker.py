"""Run by tests/test_distributed.py under ``torchrun``: a training step of the tiny CLIP and two of PACL's embedder,
then every rank writes its loss history and its gradients (and the weights after the step) to ``OUT/rank<R>/``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from vlseg.clip import build_tiny_clip
from vlseg.clip_training import ClipRecipe, train_clip
from vlseg.distributed import init_from_environment, shutdown, world
from vlseg.pacl import PaclRecipe, train_pacl

GLOBAL_BATCH = 8


def dump(folder: Path, module: torch.nn.Module, history: list[dict[str, float]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {f"grad/{n}": p.grad.contiguous() for n, p in module.named_parameters() if p.grad is not None}
    tensors |= {f"weight/{n}": p.detach().contiguous() for n, p in module.named_parameters() if p.requires_grad}
    save_file(tensors, str(folder / "tensors.safetensors"))
    (folder / "history.json").write_text(json.dumps(history))


def main(out: Path) -> None:
    torch.set_num_threads(1)
    here = init_from_environment("cpu")
    # the tiny CLIP: a mixed batch (half one-object scenes), so the shard of a concatenated batch is exercised too
    clip_recipe = ClipRecipe(steps=1, batch_size=GLOBAL_BATCH, warmup_steps=1, single_object_fraction=0.0)
    bundle, clip_run = train_clip(clip_recipe, device="cpu", progress=False)
    dump(out / "clip" / f"rank{here.rank}", bundle.model, clip_run.history)
    # PACL's embedder on a (random, frozen) tiny CLIP: captions and prompt texts, φ̂ over the gathered batch; two
    # steps, as the MLP branch's output layer starts at zero, so the first step leaves its input layer's gradient zero
    pacl_recipe = PaclRecipe(steps=2, batch_size=GLOBAL_BATCH, warmup_steps=1, hidden_dim=32)
    model, pacl_run = train_pacl(build_tiny_clip(seed=1), pacl_recipe, device="cpu", progress=False)
    dump(out / "pacl" / f"rank{here.rank}", model, pacl_run.history)
    (out / f"world{here.rank}.json").write_text(json.dumps({"rank": here.rank, "size": world().size}))
    shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
