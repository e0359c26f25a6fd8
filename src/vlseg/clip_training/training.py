r"""Training the tiny CLIP on ShapesWorld (the model is :mod:`vlseg.clip`, the loss :func:`vlseg.losses.clip_loss`).

The recipe (what was measured to work on a 2-core CPU is written down in chapter 01 and
``benchmarks/``):

* a *stream* of fresh scenes: step ``i`` trains on block ``i`` of the training split, so the model
  never sees the same scene twice and a resumed run sees the same data;
* a curriculum: one-object scenes first (every caption then names the whole image), then batches
  that are half one-object scenes and half scenes of 1–4 objects with incomplete captions (an
  earlier run that switched to 1–4-object scenes only lost single-object accuracy at the switch and
  ended below the 95% target: its record is ``benchmarks/results/clip_run_single_then_multi.json``,
  plotted in chapter 01);
* CLIP's symmetric InfoNCE (:func:`vlseg.losses.clip_loss`) with CLIP's learnable temperature
  (``CLIPModel.logit_scale``), AdamW, warm-up and cosine decay;
* on several processes (``torchrun``), each rank embeds its shard of the step's batch and the loss gathers the
  negatives of every rank (:mod:`vlseg.distributed`): the same step as one process with the whole batch;
* optionally (``dense_weight`` > 0; not in CLIP) a *dense-aware* term: PACL's loss over the CLIP's own projected
  patch tokens, :math:`\mathcal{L} = \mathcal{L}_{\text{CLS}} + w\,\mathcal{L}_{\hat\varphi}` with
  :func:`vlseg.pacl.loss.pacl_loss`, so that pre-training itself asks the patches to match the caption.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor
from transformers import PreTrainedTokenizerFast

from vlseg.clip import TINY_CLIP_SPEC, ClipBundle, build_tiny_clip
from vlseg.clip_training.evaluation import evaluate_zero_shot
from vlseg.data import concat_batches, generate_batch
from vlseg.checks import check_number
from vlseg.data.vocabulary import check_world
from vlseg.distributed import world
from vlseg.losses import clip_loss, infonce_mi_lower_bound
from vlseg.pacl.loss import pacl_loss
from vlseg.text import shipped_tokenizer
from vlseg.training import Recipe, TrainResult, fit

MIXED_STREAM = 1_000_000  # block offset of the one-object half of mixed batches


@dataclass(frozen=True)
class ClipRecipe(Recipe):
    steps: int = 4400
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.1
    warmup_steps: int = 100
    single_object_fraction: float = 0.5  # curriculum: this share of the steps uses one-object scenes only
    mixed_single_share: float = 0.5  # afterwards, this share of each batch is still one-object scenes
    seed: int = 0
    world: str = "v1"  # which ShapesWorld the captions and images come from (vlseg.data.WORLDS)
    dense_weight: float = 0.0  # w of the dense-aware term (0: CLIP's loss alone)
    dense_temperature: float = 0.05  # PACL's patch temperature τ in that term

    def __post_init__(self) -> None:
        check_world(self.world)
        check_number(self.dense_weight, "dense_weight", 0.0, what="a weight >= 0")
        check_number(self.dense_temperature, "dense_temperature", 0.0, open_interval=True, what="a temperature > 0")

    @property
    def single_object_steps(self) -> int:
        return int(round(self.single_object_fraction * self.steps))


def clip_step_fn(bundle: ClipBundle, recipe: ClipRecipe) -> Callable[[int], dict[str, Tensor]]:
    """The training step of the tiny CLIP: fresh scenes, their captions, symmetric InfoNCE."""

    n_single = int(round(recipe.mixed_single_share * recipe.batch_size))
    here = world()
    shard = here.shard(recipe.batch_size)  # all of it in a single process

    def step(index: int) -> dict[str, Tensor]:
        if index < recipe.single_object_steps:
            batch = generate_batch(recipe.batch_size, seed=recipe.seed, split="train", block=index, num_objects=(1, 1),
                                   world=recipe.world)
        else:  # blocks of a second stream (offset) for the one-object half, so the two halves are independent
            parts = [generate_batch(n_single, seed=recipe.seed, split="train", block=MIXED_STREAM + index,
                                    num_objects=(1, 1), world=recipe.world)] if n_single else []
            parts.append(generate_batch(recipe.batch_size - n_single, seed=recipe.seed, split="train", block=index,
                                        world=recipe.world))
            batch = concat_batches(parts)
        pixel_values = bundle.pixel_values(batch.images[shard])  # this rank's shard
        text_embeds = bundle.text_embeds(**bundle.tokenize(batch.captions[shard]))  # (b, D)
        logit_scale = bundle.model.logit_scale.exp()
        if recipe.dense_weight == 0:
            image_embeds = bundle.image_embeds(pixel_values)  # (b, D)
        else:
            image_embeds, patch_embeds = bundle.image_and_patch_embeds(pixel_values)  # (b, D), (b, T, D)
        loss = clip_loss(image_embeds, text_embeds, logit_scale, gather=here.is_distributed)  # negatives: all B
        logs = {"mi_bound": infonce_mi_lower_bound(loss, recipe.batch_size), "logit_scale": logit_scale}
        if recipe.dense_weight != 0:
            logs["cls_loss"] = loss
            logs["dense_loss"] = pacl_loss(patch_embeds, text_embeds, logit_scale, recipe.dense_temperature,
                                           gather=here.is_distributed)
            loss = loss + recipe.dense_weight * logs["dense_loss"]
        return {"loss": loss} | logs

    return step


@torch.no_grad()
def with_tokenizer(bundle: ClipBundle, tokenizer: PreTrainedTokenizerFast) -> ClipBundle:
    """A copy of ``bundle`` that reads text with ``tokenizer``, its token embeddings carried over from the old one.

    A new vocabulary's token is a byte-level string; the old BPE cuts that same string into its own tokens, and the
    new row is the mean of their embeddings (a token both vocabularies share keeps its row exactly). Everything
    else — positions, the text transformer, the vision tower — is copied unchanged. Used to continue a CLIP trained
    on one world on another world's text, whose tokenizer fits that text (v1's BPE cuts v2's captions to up to 48
    tokens, past the context of 32; v2's own BPE keeps them under it).
    """
    old_model = bundle.tokenizer.backend_tokenizer.model
    new = copy.deepcopy(bundle)
    new.tokenizer = tokenizer
    old_table = bundle.model.text_model.embeddings.token_embedding.weight  # (V, W)
    new_table = new.model.text_model.embeddings.token_embedding.weight  # (V, W)
    if len(tokenizer) > new_table.shape[0]:
        raise ValueError(f"tokenizer has {len(tokenizer)} tokens but the CLIP's embedding table has only "
                         f"{new_table.shape[0]} rows")
    old_vocabulary = bundle.tokenizer.get_vocab()
    for token, new_id in tokenizer.get_vocab().items():
        if token in old_vocabulary:
            new_table[new_id] = old_table[old_vocabulary[token]]
        else:  # cut by the old BPE into pieces it knows (byte-level: always possible)
            pieces = [piece.id for piece in old_model.tokenize(token)]
            new_table[new_id] = old_table[pieces].mean(0)
    return new


def train_clip(
    recipe: ClipRecipe = ClipRecipe(),
    *,
    device: str | None = None,
    progress: bool = True,
    checkpoint_path: str | Path | None = None,
    resume: bool = False,
    eval_every: int = 0,
    initial: ClipBundle | None = None,
) -> tuple[ClipBundle, TrainResult]:
    """Train a tiny CLIP with ``recipe``: from scratch, or on from a copy of ``initial``. Returns the model and its
    training history.

    ``initial`` (a curriculum across worlds, e.g. the v1 CLIP continued on v2) is copied, with its token embeddings
    carried over to the new world's tokenizer (:func:`with_tokenizer`); ``initial`` itself is not changed. With ``eval_every``, zero-shot accuracy
    (10 validation scenes per class) is measured every ``eval_every`` steps: the accuracy-against-training-time curve.
    """
    if initial is not None:
        if not isinstance(initial, ClipBundle):
            raise TypeError(f"initial must be a ClipBundle (e.g. vlseg.pretrained('tiny-clip-shapes')) or None; "
                            f"got {type(initial).__name__}")
        bundle = (copy.deepcopy(initial) if recipe.world == "v1"
                  else with_tokenizer(initial, shipped_tokenizer(recipe.world)))
        for param in bundle.model.parameters():
            param.requires_grad_(True)
    else:
        # each world has its tokenizer, trained on its own training text
        bundle = build_tiny_clip(shipped_tokenizer(recipe.world), seed=recipe.seed)

    def quick_eval() -> dict[str, float]:
        metrics = evaluate_zero_shot(bundle, n_per_class=10, world=recipe.world)
        return {k: v for k, v in metrics.items() if k.startswith("top1")}

    result = fit(
        bundle.model,
        clip_step_fn(bundle, recipe),
        recipe.train_config(device),
        run_config={"model": TINY_CLIP_SPEC, "recipe": asdict(recipe)},
        checkpoint_path=checkpoint_path,
        resume=resume,
        progress=progress,
        desc="tiny CLIP",
        eval_fn=quick_eval if eval_every else None,
        eval_every=eval_every,
    )
    return bundle, result
