"""Training CRIS on ShapesWorld referring expressions.

:class:`CrisRecipe` is the documented recipe: AdamW, warm-up + cosine, batches of fresh training scenes with one
expression each (never one naming a held-out class), the CLIP fine-tuned at 0.1× the head's learning rate. The
shipped model and the paper's two ablations are recipes that differ only in their :class:`CrisConfig`
(``CrisRecipe().with_model(use_decoder=False)``), registered in :mod:`vlseg.registry`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor

from vlseg.checks import check_number
from vlseg.clip import ClipBundle
from vlseg.cris.data import check_referring_batch, referring_batch, with_pseudo_words
from vlseg.cris.evaluation import evaluate_cris
from vlseg.cris.loss import text_to_pixel_contrastive_loss
from vlseg.cris.model import CRIS, CrisConfig
from vlseg.data.vocabulary import check_world
from vlseg.distributed import world
from vlseg.training import Recipe, TrainResult, fit


@dataclass(frozen=True)
class CrisRecipe(Recipe):
    steps: int = 1500
    batch_size: int = 64
    lr: float = 1e-3  # the head's; the CLIP trains at backbone_lr_scale (0.1) times this, as in the paper
    weight_decay: float = 0.01
    warmup_steps: int = 100
    seed: int = 0
    world: str = "v1"  # which ShapesWorld the scenes and expressions come from (vlseg.data.WORLDS)
    model: CrisConfig = field(default_factory=lambda: CrisConfig(fine_tune=True))
    pseudo_words: float = 0.0  # share of training expressions given one invented word (with_pseudo_words; not in CRIS)
    full_resolution_loss: bool = False  # the loss on logits upsampled to the mask, not on a shrunk mask (not in CRIS)

    def __post_init__(self) -> None:
        check_world(self.world)
        check_number(self.pseudo_words, "pseudo_words", 0.0, 1.0, what="a share of expressions in [0, 1]")
        if not isinstance(self.full_resolution_loss, bool):
            raise TypeError(f"full_resolution_loss must be a bool; got {type(self.full_resolution_loss).__name__} "
                            f"{self.full_resolution_loss!r}")

    def with_model(self, **changes: Any) -> "CrisRecipe":
        """The same recipe with some :class:`CrisConfig` fields changed (an ablation)."""
        return replace(self, model=replace(self.model, **changes))


def cris_step_fn(model: CRIS, recipe: CrisRecipe) -> Callable[[int], dict[str, Tensor]]:
    """One step: fresh scenes, one expression each (none naming a held-out class), text-to-pixel loss."""

    here = world()

    def step(index: int) -> dict[str, Tensor]:
        batch = referring_batch(recipe.batch_size, seed=recipe.seed, split="train", block=index, heldout_names=False,
                                world=recipe.world)
        check_referring_batch(batch.images, batch.masks, batch.texts)
        images, masks, texts = batch.images, batch.masks, batch.texts
        if recipe.pseudo_words:  # the same on every rank: seeded by the step
            texts = with_pseudo_words(texts, recipe.pseudo_words, np.random.default_rng([recipe.seed, index, 47]))
        if here.is_distributed:  # B ≤ batch_size expressions: cut to a multiple of the ranks, keep this rank's shard
            shard = here.shard(len(texts) - len(texts) % here.size, "the step's number of expressions")
            images, masks, texts = images[shard], masks[shard], texts[shard]
        pixel_values = model.bundle.pixel_values(images)
        logits = model(pixel_values, **model.bundle.tokenize(texts)).logits  # (b, 1, h, w)
        return {"loss": text_to_pixel_contrastive_loss(logits, masks.to(logits.device), recipe.full_resolution_loss)}

    return step


def train_cris(bundle: ClipBundle, recipe: CrisRecipe = CrisRecipe(), *, device: str | None = None,
               progress: bool = True, eval_every: int = 0) -> tuple[CRIS, TrainResult]:
    """Train a fresh CRIS on ``bundle`` (deep-copied first if the recipe fine-tunes it); ``eval_every`` > 0 scores
    200 held-out scenes of the recipe's world every so many steps into ``result.evals``."""
    torch.manual_seed(recipe.seed)
    model = CRIS(bundle, recipe.model)
    result = fit(model, cris_step_fn(model, recipe), recipe.train_config(device),
                 run_config={"clip": bundle.name, "recipe": asdict(recipe)}, progress=progress, desc="CRIS",
                 eval_fn=lambda: evaluate_cris(model, n_scenes=200, world=recipe.world), eval_every=eval_every)
    return model, result
