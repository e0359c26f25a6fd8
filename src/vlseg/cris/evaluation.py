"""Scoring any referring segmenter the same way: mIoU / oIoU / prec@X of a ``predict(images, texts) -> masks`` on
fixed validation batches (:data:`EVAL_SETS`: held-out scenes; expressions naming held-out classes; and by kind),
cached so that every method is scored on the very same expressions — in ShapesWorld ("v1", "v2") or in the shifted
test world."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor

from vlseg.cris.data import (ReferringBatch, concat_referring_batches, referring_batch, referring_chunks,
                             shifted_referring_batch)
from vlseg.cris.model import CRIS
from vlseg.data.referring import KINDS
from vlseg.data.worlds import check_evaluation_world
from vlseg.metrics import mask_ious, referring_metrics

PredictFn = Callable[[np.ndarray, list[str]], Tensor]  # (images (B, H, W, 3), B expressions) → (B, H, W) bool

EVAL_SEED = 11
EVAL_SETS: dict[str, dict[str, Any]] = {
    # name → referring_batch arguments; validation scenes never seen in training.
    "held-out scenes": {"n_scenes": 400, "heldout_names": False},
    "held-out class names": {"n_scenes": 1200, "heldout_names": True},
}
OTHER_WORLD_SETS: dict[str, dict[str, Any]] = {
    # a model trained on v2 is also scored here (held-out scenes, no held-out class names):
    "held-out phrasings": {"n_scenes": 400, "heldout_names": False, "world": "v2", "phrasings": "heldout"},
    "v1": {"n_scenes": 400, "heldout_names": False, "world": "v1"},
    "shifted": {"n_scenes": 400, "heldout_names": False, "world": "shifted"},
}
KIND_SCENES = 800  # validation scenes per expression kind for the by-kind scores (one expression of that kind each)


def evaluation_batches(n_scenes: int, seed: int = EVAL_SEED, heldout_names: bool | None = None,
                       kinds: tuple[str, ...] | None = None, batch_size: int = 100, world: str = "v1",
                       phrasings: str | None = None, styles: tuple[str, ...] | None = None) -> tuple[ReferringBatch, ...]:
    """The validation batches of one evaluation set, generated once and shared by every method scored on it.

    ``world``: ShapesWorld's "v1" or "v2" (``phrasings``: "seen" or "heldout" templates, v2 only), or the shifted test
    world (``styles``: "plain" and/or "free" wordings, shifted only). ``kinds`` and ``styles`` may be lists.
    """
    kinds, styles = (tuple(value) if isinstance(value, list) else value for value in (kinds, styles))
    return _evaluation_batches(n_scenes, seed, heldout_names, kinds, batch_size, world, phrasings, styles)


@functools.lru_cache(maxsize=16)
def _evaluation_batches(n_scenes: int, seed: int = EVAL_SEED, heldout_names: bool | None = None,
                       kinds: tuple[str, ...] | None = None, batch_size: int = 100, world: str = "v1",
                       phrasings: str | None = None, styles: tuple[str, ...] | None = None) -> tuple[ReferringBatch, ...]:
    """:func:`evaluation_batches`, cached (its arguments hashable)."""
    world = check_evaluation_world(world)
    if world == "shifted":
        if phrasings is not None:
            raise ValueError(f"phrasings applies to ShapesWorld's worlds, not world='shifted'; got {phrasings!r} "
                             "(use styles=('plain',) or ('free',))")
        whole = shifted_referring_batch(n_scenes, seed=seed, heldout_names=heldout_names, kinds=kinds, styles=styles)
        return referring_chunks(whole, batch_size)
    if styles is not None:
        raise ValueError(f"styles applies to world='shifted' only; got styles={styles!r} with world={world!r}")
    return tuple(referring_batch(min(batch_size, n_scenes - block), seed=seed, split="val", block=block,
                                 heldout_names=heldout_names, kinds=kinds, world=world, phrasings=phrasings)
                 for block in range(0, n_scenes, batch_size))


@torch.no_grad()
def predictions_and_targets(predict: PredictFn, n_scenes: int = 400, seed: int = EVAL_SEED,
                            heldout_names: bool | None = None, kinds: tuple[str, ...] | None = None,
                            batch_size: int = 100, *, world: str = "v1", phrasings: str | None = None,
                            styles: tuple[str, ...] | None = None) -> tuple[Tensor, Tensor]:
    """``predict`` run on one evaluation set: predicted and true masks, both (N, H, W) bool."""
    batches = evaluation_batches(n_scenes, seed, heldout_names, kinds, batch_size, world, phrasings, styles)
    predictions = torch.cat([torch.as_tensor(predict(batch.images, batch.texts)).cpu() for batch in batches])
    return predictions, torch.cat([batch.masks for batch in batches])


def expression_ious(predict: PredictFn, n_scenes: int = 400, seed: int = EVAL_SEED,
                    heldout_names: bool | None = None, kinds: tuple[str, ...] | None = None, batch_size: int = 100, *,
                    world: str = "v1", phrasings: str | None = None,
                    styles: tuple[str, ...] | None = None) -> tuple[Tensor, ReferringBatch]:
    """``predict``'s IoU on each expression of one evaluation set (N,), and the set itself as one batch (its texts,
    kinds and templates in the same order), to group the expressions as one likes (:func:`miou_by`)."""
    predictions, targets = predictions_and_targets(predict, n_scenes, seed, heldout_names, kinds, batch_size,
                                                   world=world, phrasings=phrasings, styles=styles)
    batches = evaluation_batches(n_scenes, seed, heldout_names, kinds, batch_size, world, phrasings, styles)
    return mask_ious(predictions, targets), concat_referring_batches(batches)


def miou_by(ious: Tensor, labels: Sequence[str]) -> dict[str, dict[str, float]]:
    """mIoU (in %) and number of expressions of each label, for per-expression ``ious`` (N,) and N ``labels``,
    labels in the order they first occur."""
    ious = torch.as_tensor(ious)
    if ious.ndim != 1 or len(labels) != len(ious):
        raise ValueError(f"ious must be (N,) with one label each; got ious of shape {tuple(ious.shape)} and "
                         f"{len(labels)} labels")
    groups: dict[str, list[int]] = {}
    for index, label in enumerate(labels):
        groups.setdefault(label, []).append(index)
    return {label: {"mIoU": 100 * float(ious[rows].double().mean()), "n": float(len(rows))}
            for label, rows in groups.items()}


def evaluate_referring(predict: PredictFn, n_scenes: int = 400, seed: int = EVAL_SEED,
                       heldout_names: bool | None = None, kinds: tuple[str, ...] | None = None,
                       batch_size: int = 100, *, world: str = "v1", phrasings: str | None = None,
                       styles: tuple[str, ...] | None = None) -> dict[str, float]:
    """mIoU, oIoU and prec@X of any ``predict(images, texts)`` on validation scenes (one expression each).

    ``world``, ``phrasings`` and ``styles`` choose the scenes and wordings (:func:`evaluation_batches`). The result
    also holds ``"n"``, the number of expressions scored (scenes without an eligible one are skipped).
    """
    predictions, targets = predictions_and_targets(predict, n_scenes, seed, heldout_names, kinds, batch_size,
                                                   world=world, phrasings=phrasings, styles=styles)
    return referring_metrics(predictions, targets) | {"n": float(len(targets))}


def evaluate_cris(model: CRIS, n_scenes: int = 400, seed: int = EVAL_SEED, heldout_names: bool | None = None,
                  kinds: tuple[str, ...] | None = None, batch_size: int = 100, *, world: str = "v1",
                  phrasings: str | None = None, styles: tuple[str, ...] | None = None) -> dict[str, float]:
    """:func:`evaluate_referring` of ``model.predict``."""
    return evaluate_referring(model.predict, n_scenes, seed, heldout_names, kinds, batch_size, world=world,
                              phrasings=phrasings, styles=styles)


def evaluate_on_sets(predict: PredictFn, world: str = "v1") -> dict[str, dict[str, float]]:
    """The chapter's table: every :data:`EVAL_SETS` entry, plus mIoU by expression kind on held-out scenes, all in
    ShapesWorld ``world``. In "v2" also every :data:`OTHER_WORLD_SETS` entry (held-out phrasings, v1, shifted)."""
    if world not in ("v1", "v2"):
        raise ValueError(f"world must be ShapesWorld's 'v1' or 'v2' (the worlds a model trains on); got {world!r}")
    results = {name: evaluate_referring(predict, **arguments, world=world) for name, arguments in EVAL_SETS.items()}
    for kind in KINDS:
        results[kind] = evaluate_referring(predict, n_scenes=KIND_SCENES, heldout_names=False, kinds=(kind,),
                                           world=world)
    if world != "v1":
        results |= {name: evaluate_referring(predict, **arguments) for name, arguments in OTHER_WORLD_SETS.items()}
    return results


