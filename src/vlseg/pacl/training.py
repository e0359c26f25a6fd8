"""Training PACL's vision embedder on ShapesWorld captions, with the CLIP frozen.

The recipe:

* the tiny CLIP of chapter 01, frozen: its last-block patch tokens (after ``post_layernorm``) go into the
  :class:`~vlseg.pacl.VisionEmbedder`; its text embeddings are the targets and stay fixed;
* optionally (``tuned_blocks`` > 0; route (c), not the paper's protocol) a trainable copy of the CLIP's last vision
  blocks, at ``tail_lr_scale`` × the learning rate (:mod:`vlseg.pacl.tuned_tail`);
* fresh training scenes of 1–4 objects at every step (step ``i`` uses block ``i``), paired with their captions;
* as the paper does, class names in prompt templates as *extra texts*: each image is also paired with one prompt
  naming one of its objects ("a picture of a red star."), named as a training caption would name it (a held-out
  class only by its colour or its shape);
* the loss is the mean of two symmetric InfoNCE losses over φ̂ — images against captions, images against
  prompts — with a learnable logit scale (CLIP's initial 1/0.07);
* on several processes (``torchrun``), each rank embeds its shard of the step's batch and φ̂'s negatives are
  gathered from every rank (:mod:`vlseg.distributed`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from vlseg.checks import check_int, check_number
from vlseg.clip import ClipBundle
from vlseg.data import generate_batch
from vlseg.data.captions import describe, with_article
from vlseg.data.vocabulary import check_world
from vlseg.distributed import world
from vlseg.losses import infonce_mi_lower_bound
from vlseg.pacl.model import PaclConfig, PaclModel
from vlseg.text import PROMPT_TEMPLATES
from vlseg.training import Recipe, TrainResult, fit


@dataclass(frozen=True)
class PaclRecipe(Recipe):
    steps: int = 3000
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_steps: int = 50
    patch_temperature: float = 0.05
    hidden_dim: int = 384
    prompt_texts: bool = True
    seed: int = 0
    world: str = "v1"  # which ShapesWorld the scenes and captions come from (vlseg.data.WORLDS)
    context_kernel: int = 1  # e_v's spatial context (1 = per patch, the paper's protocol)
    tuned_blocks: int = 0  # route (c): fine-tune a copy of CLIP's last k vision blocks (0 = frozen, the paper)
    tail_lr_scale: float = 0.1  # the tuned blocks' learning rate, as a multiple of ``lr``

    def __post_init__(self) -> None:
        check_world(self.world)
        check_int(self.tuned_blocks, "tuned_blocks", low=0)
        check_number(self.tail_lr_scale, "tail_lr_scale", 0.0, open_interval=True, what="a multiple of lr > 0")

    @property
    def model(self) -> PaclConfig:
        """The model's hyper-parameters (kept flat in the recipe, as the shipped card records them)."""
        return PaclConfig(self.patch_temperature, self.hidden_dim, self.context_kernel, self.tuned_blocks)


def prompt_texts(objects: Sequence[Sequence[Any]], rng: np.random.Generator) -> list[str]:
    """One class prompt per scene, naming one random object as a training caption would (held-out: partially)."""
    texts = []
    for scene_objects in objects:
        obj = scene_objects[rng.integers(len(scene_objects))]
        template = PROMPT_TEMPLATES[rng.integers(len(PROMPT_TEMPLATES))]
        texts.append(template.format(with_article(describe(obj, rng, hide_heldout=True))))
    return texts


def pacl_step_fn(model: PaclModel, recipe: PaclRecipe) -> Callable[[int], dict[str, Tensor]]:
    """One step: fresh scenes, captions (+ prompts), InfoNCE over φ̂."""

    here = world()
    shard = here.shard(recipe.batch_size)  # all of it in a single process

    def step(index: int) -> dict[str, Tensor]:
        batch = generate_batch(recipe.batch_size, seed=recipe.seed, split="train", block=index, world=recipe.world)
        captions = list(batch.captions)[shard]  # this rank's shard of the step's batch
        prompts = prompt_texts(batch.objects, np.random.default_rng([recipe.seed, index, 7]))[shard]
        device = next(model.embedder.parameters()).device
        patch_embeds = model.patch_embeds(model.bundle.pixel_values(batch.images[shard]).to(device))  # (b, T, D)
        text_embeds = model.text_embeds(captions + prompts if recipe.prompt_texts else captions)  # (b or 2b, D)
        local = len(captions)
        caption_loss = model.loss(patch_embeds, text_embeds[:local], gather=here.is_distributed)
        logs = {"caption_loss": caption_loss, "mi_bound": infonce_mi_lower_bound(caption_loss, recipe.batch_size)}
        loss = caption_loss
        if recipe.prompt_texts:
            logs["prompt_loss"] = model.loss(patch_embeds, text_embeds[local:], gather=here.is_distributed)
            loss = 0.5 * (caption_loss + logs["prompt_loss"])
        return {"loss": loss, "logit_scale": model.loss.log_scale.exp()} | logs

    return step


def train_pacl(
    bundle: ClipBundle,
    recipe: PaclRecipe = PaclRecipe(),
    *,
    device: str | None = None,
    progress: bool = True,
    eval_fn: Callable[[PaclModel], dict[str, float]] | None = None,
    eval_every: int = 0,
) -> tuple[PaclModel, TrainResult]:
    """Train PACL's vision embedder on top of the frozen ``bundle``."""
    torch.manual_seed(recipe.seed)
    model = PaclModel(bundle, recipe.model)
    if model.tuned_tail is not None:
        for param in model.tuned_tail.parameters():
            param.lr_scale = recipe.tail_lr_scale  # read by vlseg.training.make_optimizer
    result = fit(
        model,
        pacl_step_fn(model, recipe),
        recipe.train_config(device),
        run_config={"clip": bundle.name, "recipe": asdict(recipe)},
        progress=progress,
        desc="PACL embedder",
        eval_fn=(lambda: eval_fn(model)) if eval_fn is not None else None,
        eval_every=eval_every,
    )
    return model, result
