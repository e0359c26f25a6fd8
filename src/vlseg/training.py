"""One training loop for every chapter and every method.

:func:`fit` knows nothing about CLIP, PACL or CRIS: it is handed the trainable module and a
``step_fn(step) -> {"loss": tensor, ...}`` that builds the batch of that step and returns the loss
(and anything else worth logging). The loop is

* seeded (``torch.manual_seed``; data comes from ``step_fn``, which should derive its batch from the
  step index so that a resumed run sees the same data),
* device-agnostic (the module is moved to ``cuda`` > ``mps`` > ``cpu``; bf16 autocast on CUDA),
* AdamW with linear warm-up and cosine decay, gradient clipping,
* shown with a tqdm progress bar and returning the logged history for plotting,
* checkpointed to safetensors atomically, with a resume that refuses a checkpoint from another config,
* distributed when started by ``torchrun`` (:mod:`vlseg.distributed`): the step runs inside PyTorch's
  ``DistributedDataParallel``, which averages the gradients of the ranks; ``step_fn`` keeps its rank's shard of the
  step's batch; only rank 0 shows progress, evaluates and writes checkpoints.

The shipped models are trained from the command line, ``python -m vlseg.train NAME`` (:mod:`vlseg.train`).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from vlseg.checkpoint import load_checkpoint, optimizer_tensors, restore_optimizer, save_checkpoint
from vlseg.device import autocast_for
from vlseg.distributed import mean_over_ranks, rank_device, world


@dataclass
class TrainConfig:
    steps: int
    lr: float = 1e-3
    weight_decay: float = 0.1
    warmup_steps: int = 50
    final_lr_fraction: float = 0.05
    grad_clip: float | None = 1.0
    seed: int = 0
    device: str | None = None
    log_every: int = 1
    checkpoint_every: int = 0  # 0: only at the end (when a checkpoint path is given)


class Recipe:
    """Mixin for the frozen recipe dataclasses of the course (CLIP, PACL, CRIS): each has ``steps``, ``lr``,
    ``weight_decay``, ``warmup_steps`` and ``seed``, and hands them to :func:`fit` as a :class:`TrainConfig`."""

    def train_config(self, device: str | None = None) -> TrainConfig:
        return TrainConfig(steps=self.steps, lr=self.lr, weight_decay=self.weight_decay,  # type: ignore[attr-defined]
                           warmup_steps=self.warmup_steps, seed=self.seed, device=device)  # type: ignore[attr-defined]


@dataclass
class TrainResult:
    history: list[dict[str, float]] = field(default_factory=list)
    evals: list[dict[str, float]] = field(default_factory=list)  # from eval_fn, with step and training seconds
    steps: int = 0
    seconds: float = 0.0  # training time, evaluation excluded

    def column(self, key: str) -> np.ndarray:
        """One logged quantity over the steps, e.g. ``result.column("loss")``."""
        return np.array([row[key] for row in self.history if key in row])

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.seconds if self.seconds else float("nan")


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


def lr_factor(step: int, config: TrainConfig) -> float:
    """Linear warm-up to 1, then cosine decay to ``final_lr_fraction``."""
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return config.final_lr_fraction + (1 - config.final_lr_fraction) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def make_optimizer(module: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW; weight decay on matrices only (not on biases, norms, scales).

    A parameter with an attribute ``lr_scale`` (e.g. a fine-tuned backbone at 0.1) trains at that multiple of the
    learning rate; :func:`fit` keeps the ratio through warm-up and decay.
    """
    groups: dict[tuple[bool, float], list[nn.Parameter]] = {}
    for param in module.parameters():
        if param.requires_grad:
            groups.setdefault((param.ndim >= 2, float(getattr(param, "lr_scale", 1.0))), []).append(param)
    param_groups = [
        {"params": params, "weight_decay": config.weight_decay if decay else 0.0, "lr_scale": scale, "lr": config.lr * scale}
        for (decay, scale), params in sorted(groups.items(), key=lambda item: (not item[0][0], -item[0][1]))
    ]
    return torch.optim.AdamW(param_groups, lr=config.lr, betas=(0.9, 0.98), eps=1e-6)


class StepModule(nn.Module):
    """``module`` with ``step_fn`` as its forward pass, so that DistributedDataParallel sees the step's computation
    (DDP synchronises the gradients of what runs inside its ``forward``). Its parameters are ``module``'s."""

    def __init__(self, module: nn.Module, step_fn: Callable[[int], dict[str, Tensor]]) -> None:
        super().__init__()
        self.module = module
        self.step_fn = step_fn

    def forward(self, step: int) -> dict[str, Tensor]:
        return self.step_fn(step)


def distributed_step(module: nn.Module, step_fn: Callable[[int], dict[str, Tensor]],
                     device: torch.device) -> Callable[[int], dict[str, Tensor]]:
    """``step_fn`` itself in a single process; under ``torch.distributed``, the same step run by DDP."""
    if not world().is_distributed:
        return step_fn
    return nn.parallel.DistributedDataParallel(
        StepModule(module, step_fn), device_ids=[device.index] if device.type == "cuda" else None,
        find_unused_parameters=True)  # CRIS leaves some of CLIP's parameters (e.g. its logit scale) unused


def fit(
    module: nn.Module,
    step_fn: Callable[[int], dict[str, Tensor]],
    config: TrainConfig,
    *,
    run_config: dict[str, Any] | None = None,
    checkpoint_path: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    desc: str = "training",
    eval_fn: Callable[[], dict[str, float]] | None = None,
    eval_every: int = 0,
) -> TrainResult:
    """Train ``module`` for ``config.steps`` steps of ``step_fn``.

    Args:
        module: the parameters to train (frozen ones have ``requires_grad=False``); moved to the device.
        step_fn: ``step_fn(step)`` returns a dict with a scalar ``"loss"`` and other scalars to log.
        run_config: JSON-able description of the model and data; stored in checkpoints and compared
            on resume (with the training config).
        checkpoint_path: where to write the checkpoint (atomically) every ``checkpoint_every`` steps
            and at the end.
        resume: continue from ``checkpoint_path`` if it exists (it must have the same config).
        eval_fn, eval_every: call ``eval_fn()`` (module in eval mode, no grad) every ``eval_every``
            steps and at the end; its numbers are kept in ``result.evals`` with the step and the
            training time so far (evaluation time is not counted as training time).
    """
    if config.steps < 1:
        raise ValueError(f"steps must be >= 1, got {config.steps}")
    seed_everything(config.seed)
    device = rank_device(config.device)
    main = world().is_main
    module.to(device)
    module.train()
    run_step = distributed_step(module, step_fn, device)  # after .to(device): DDP starts from rank 0's weights
    optimizer = make_optimizer(module, config)
    full_config = {"run": run_config or {}, "train": {k: v for k, v in asdict(config).items() if k != "device"}}
    result = TrainResult()
    start = 0
    if resume and checkpoint_path is not None and Path(checkpoint_path).exists():
        tensors, metadata = load_checkpoint(checkpoint_path, expected_config=full_config, device=device)
        module.load_state_dict({k[len("model/") :]: v for k, v in tensors.items() if k.startswith("model/")})
        restore_optimizer(optimizer, tensors, metadata["optimizer"])
        start = metadata["step"]
        result.history = metadata["history"]
        result.evals = metadata.get("evals", [])
        result.seconds = metadata["seconds"]

    def write_checkpoint(step: int) -> None:
        opt_tensors, opt_extras = optimizer_tensors(optimizer)
        tensors = {f"model/{k}": v for k, v in module.state_dict().items()} | opt_tensors
        save_checkpoint(
            checkpoint_path,
            tensors,
            {"config": full_config, "step": step, "history": result.history, "evals": result.evals,
             "seconds": result.seconds, "optimizer": opt_extras},
        )

    bar = tqdm(range(start, config.steps), desc=desc, disable=not (progress and main), initial=start, total=config.steps)
    for step in bar:
        tic = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = config.lr * lr_factor(step, config) * group.get("lr_scale", 1.0)
        with autocast_for(device):
            logs = run_step(step)
        loss = logs["loss"]
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss is {loss.item()} at step {step}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip:
            torch.nn.utils.clip_grad_norm_(module.parameters(), config.grad_clip)
        optimizer.step()
        result.seconds += time.perf_counter() - tic  # training time: steps only, not logging/eval/checkpoints
        if step % config.log_every == 0 or step == config.steps - 1:
            row = {"step": step, "lr": optimizer.param_groups[0]["lr"]}
            row |= mean_over_ranks({k: float(v.detach().float()) if isinstance(v, Tensor) else float(v)
                                    for k, v in logs.items()})
            result.history.append(row)
            bar.set_postfix(loss=f"{row['loss']:.3f}")
        if not main:
            continue  # rank 0 evaluates and writes; the others go on to the next step (and wait for it there)
        if eval_fn is not None and eval_every and ((step + 1) % eval_every == 0 or step == config.steps - 1):
            module.eval()
            with torch.no_grad():
                scores = eval_fn()
            module.train()
            result.evals.append({"step": step + 1, "seconds": round(result.seconds, 2)} | scores)
        if checkpoint_path is not None and config.checkpoint_every and (step + 1) % config.checkpoint_every == 0:
            write_checkpoint(step + 1)
    bar.close()
    result.steps = config.steps
    module.eval()
    if checkpoint_path is not None and main:
        write_checkpoint(config.steps)
    return result
