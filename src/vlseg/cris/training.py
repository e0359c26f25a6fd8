"""Training CRIS on ShapesWorld referring expressions, and scoring any referring segmenter the same way.

* :class:`CrisRecipe` – the documented recipe (AdamW, warm-up + cosine, batches of fresh training scenes with one
  expression each, never one naming a held-out class; CLIP fine-tuned at 0.1× the head's learning rate);
* :func:`evaluate_referring` – mIoU / oIoU / prec@X of any ``predict(images, texts) -> masks`` on fixed
  validation batches (:data:`EVAL_SETS`: held-out scenes; expressions naming held-out classes), cached so that
  every method is scored on the very same expressions;
* :data:`CRIS_VARIANTS` and :func:`train_and_ship_cris` – the shipped model and the paper's two ablations (no
  decoder; 1×1 dot product instead of the dynamic kernel), each made by one command,
  ``python -m vlseg.train cris --variant <name>``.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable

import numpy as np

import torch
from torch import Tensor

from vlseg.clip import ClipBundle
from vlseg.cris.data import ReferringBatch, check_referring_batch, referring_batch
from vlseg.cris.loss import text_to_pixel_contrastive_loss
from vlseg.cris.model import CRIS, CrisConfig
from vlseg.data.referring import KINDS
from vlseg.metrics import referring_metrics
from vlseg.train import Recipe, TrainResult, fit


@dataclass(frozen=True)
class CrisRecipe(Recipe):
    steps: int = 1500
    batch_size: int = 64
    lr: float = 1e-3  # the head's; the CLIP trains at backbone_lr_scale (0.1) times this, as in the paper
    weight_decay: float = 0.01
    warmup_steps: int = 100
    seed: int = 0
    model: CrisConfig = field(default_factory=lambda: CrisConfig(fine_tune=True))


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
               progress: bool = True, eval_every: int = 0) -> tuple[CRIS, TrainResult]:
    """Train a fresh CRIS on ``bundle`` (deep-copied first if the recipe fine-tunes it); ``eval_every`` > 0 scores
    200 held-out scenes every so many steps into ``result.evals``."""
    torch.manual_seed(recipe.seed)
    model = CRIS(bundle, recipe.model)
    result = fit(model, cris_step_fn(model, recipe), recipe.train_config(device),
                 run_config={"clip": bundle.name, "recipe": asdict(recipe)}, progress=progress, desc="CRIS",
                 eval_fn=lambda: evaluate_cris(model, n_scenes=200), eval_every=eval_every)
    return model, result


PredictFn = Callable[[np.ndarray, list[str]], Tensor]  # (images (B, H, W, 3), B expressions) → (B, H, W) bool

EVAL_SEED = 11
EVAL_SETS: dict[str, dict[str, Any]] = {
    # name → referring_batch arguments; validation scenes never seen in training.
    "held-out scenes": {"n_scenes": 400, "heldout_names": False},
    "held-out class names": {"n_scenes": 1200, "heldout_names": True},
}
KIND_SCENES = 800  # validation scenes per expression kind for the by-kind scores (one expression of that kind each)


@functools.lru_cache(maxsize=16)
def evaluation_batches(n_scenes: int, seed: int = EVAL_SEED, heldout_names: bool | None = None,
                       kinds: tuple[str, ...] | None = None, batch_size: int = 100) -> tuple[ReferringBatch, ...]:
    """The validation batches of one evaluation set, generated once and shared by every method scored on it."""
    return tuple(referring_batch(min(batch_size, n_scenes - block), seed=seed, split="val", block=block,
                                 heldout_names=heldout_names, kinds=kinds) for block in range(0, n_scenes, batch_size))


@torch.no_grad()
def predictions_and_targets(predict: PredictFn, n_scenes: int = 400, seed: int = EVAL_SEED,
                            heldout_names: bool | None = None, kinds: tuple[str, ...] | None = None,
                            batch_size: int = 100) -> tuple[Tensor, Tensor]:
    """``predict`` run on one evaluation set: predicted and true masks, both (N, H, W) bool."""
    batches = evaluation_batches(n_scenes, seed, heldout_names, kinds, batch_size)
    predictions = torch.cat([torch.as_tensor(predict(batch.images, batch.texts)).cpu() for batch in batches])
    return predictions, torch.cat([batch.masks for batch in batches])


def evaluate_referring(predict: PredictFn, n_scenes: int = 400, seed: int = EVAL_SEED,
                       heldout_names: bool | None = None, kinds: tuple[str, ...] | None = None,
                       batch_size: int = 100) -> dict[str, float]:
    """mIoU, oIoU and prec@X of any ``predict(images, texts)`` on validation scenes (one expression each).

    The result also holds ``"n"``, the number of expressions scored (scenes without an eligible one are skipped).
    """
    predictions, targets = predictions_and_targets(predict, n_scenes, seed, heldout_names, kinds, batch_size)
    return referring_metrics(predictions, targets) | {"n": float(len(targets))}


def evaluate_cris(model: CRIS, n_scenes: int = 400, seed: int = EVAL_SEED, heldout_names: bool | None = None,
                  kinds: tuple[str, ...] | None = None, batch_size: int = 100) -> dict[str, float]:
    """:func:`evaluate_referring` of ``model.predict``."""
    return evaluate_referring(model.predict, n_scenes, seed, heldout_names, kinds, batch_size)


def evaluate_on_sets(predict: PredictFn) -> dict[str, dict[str, float]]:
    """The chapter's table: every :data:`EVAL_SETS` entry, plus mIoU by expression kind on held-out scenes."""
    results = {name: evaluate_referring(predict, **arguments) for name, arguments in EVAL_SETS.items()}
    for kind in KINDS:
        results[kind] = evaluate_referring(predict, n_scenes=KIND_SCENES, heldout_names=False, kinds=(kind,))
    return results


# The shipped model and the paper's two ablations, trained with the same recipe.
CRIS_VARIANTS: dict[str, dict[str, Any]] = {
    "cris-shapes": {},
    "cris-shapes-no-decoder": {"use_decoder": False},
    "cris-shapes-dot": {"kernel_size": 1},
}


def variant_recipe(name: str, steps: int | None = None) -> CrisRecipe:
    """The documented recipe of a shipped CRIS variant (optionally with another number of steps)."""
    if name not in CRIS_VARIANTS:
        raise ValueError(f"unknown CRIS variant {name!r}; known: {list(CRIS_VARIANTS)}")
    recipe = CrisRecipe()
    recipe = replace(recipe, model=replace(recipe.model, **CRIS_VARIANTS[name]))
    return recipe if steps is None else replace(recipe, steps=steps)


def train_and_ship_cris(name: str = "cris-shapes", recipe: CrisRecipe | None = None, out_dir: Any = None,
                        device: str | None = None) -> Any:
    """The documented command (``python -m vlseg.train cris --variant …``): train, evaluate, ship.

    Metrics on the card are measured on the weights as shipped (float16), on every :data:`EVAL_SETS` entry and
    per expression kind.
    """
    from pathlib import Path

    from vlseg.pretrained import WEIGHTS_DIR, expected_config, pretrained, rounded_state, run_card, write_model

    recipe = recipe or variant_recipe(name)
    bundle = pretrained("tiny-clip-shapes", device=device)
    model, result = train_cris(bundle, recipe, device=device, eval_every=250)
    model.to("cpu").eval()
    state = rounded_state(model)
    metrics = evaluate_on_sets(model.predict)
    card = run_card(asdict(recipe), result) | {
        "metrics": {split: {k: round(v, 4) for k, v in values.items()} for split, values in metrics.items()},
        "eval": {"seed": EVAL_SEED, "sets": EVAL_SETS, "kinds_scenes": KIND_SCENES},
    }
    path = write_model(Path(out_dir or WEIGHTS_DIR), name, state, expected_config(name, bundle), card)
    print(f"wrote {path}")
    return path
