"""Training CRIS on ShapesWorld referring expressions, and evaluating it with the referring metrics."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable

import torch
from torch import Tensor

from vlseg.clip import ClipBundle
from vlseg.cris.data import check_referring_batch, referring_batch
from vlseg.cris.loss import text_to_pixel_contrastive_loss
from vlseg.cris.model import CRIS, CrisConfig
from vlseg.metrics import referring_metrics
from vlseg.train import TrainConfig, TrainResult, fit


@dataclass(frozen=True)
class CrisRecipe:
    steps: int = 2000
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 100
    seed: int = 0
    model: CrisConfig = field(default_factory=CrisConfig)

    def train_config(self, device: str | None = None) -> TrainConfig:
        return TrainConfig(steps=self.steps, lr=self.lr, weight_decay=self.weight_decay,
                           warmup_steps=self.warmup_steps, seed=self.seed, device=device)


def cris_step_fn(model: CRIS, recipe: CrisRecipe) -> Callable[[int], dict[str, Tensor]]:
    """One step: fresh scenes, one expression each (none naming a held-out class), text-to-pixel loss."""

    def step(index: int) -> dict[str, Tensor]:
        batch = referring_batch(recipe.batch_size, seed=recipe.seed, split="train", block=index, heldout_names=False)
        check_referring_batch(batch.images, batch.masks, batch.texts)
        pixel_values = model.bundle.pixel_values(batch.images)
        logits = model(pixel_values, **model.bundle.tokenize(batch.texts))["logits"]  # (B, 1, h, w)
        return {"loss": text_to_pixel_contrastive_loss(logits, batch.masks.to(logits.device))}

    return step


def train_cris(bundle: ClipBundle, recipe: CrisRecipe = CrisRecipe(), *, device: str | None = None,
               progress: bool = True) -> tuple[CRIS, TrainResult]:
    torch.manual_seed(recipe.seed)
    model = CRIS(bundle, recipe.model)
    result = fit(model, cris_step_fn(model, recipe), recipe.train_config(device),
                 run_config={"clip": bundle.name, "recipe": asdict(recipe)}, progress=progress, desc="CRIS")
    return model, result


@torch.no_grad()
def evaluate_cris(model: CRIS, n_scenes: int = 400, seed: int = 11, heldout_names: bool | None = None,
                  batch_size: int = 100) -> dict[str, float]:
    """mIoU, oIoU and prec@X on validation scenes (one expression each)."""
    predictions, targets = [], []
    for block in range(0, n_scenes, batch_size):
        batch = referring_batch(min(batch_size, n_scenes - block), seed=seed, split="val", block=block,
                                heldout_names=heldout_names)
        predictions.append(model.predict(batch.images, batch.texts).cpu())
        targets.append(batch.masks)
    return referring_metrics(torch.cat(predictions), torch.cat(targets))
