"""Training PACL's vision embedder on ShapesWorld captions, with the CLIP frozen, and evaluating it.

The recipe:

* the tiny CLIP of chapter 01, frozen: its last-block patch tokens (after ``post_layernorm``) go into the
  :class:`~vlseg.pacl.VisionEmbedder`; its text embeddings are the targets and stay fixed;
* fresh training scenes of 1–4 objects at every step (step ``i`` uses block ``i``), paired with their captions;
* as the paper does, class names in prompt templates as *extra texts*: each image is also paired with one prompt
  naming one of its objects ("a picture of a red star."), named as a training caption would name it (a held-out
  class only by its colour or its shape);
* the loss is the mean of two symmetric InfoNCE losses over φ̂ — images against captions, images against
  prompts — with a learnable logit scale (CLIP's initial 1/0.07).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from vlseg.clip import ClipBundle
from vlseg.data import CLASS_NAMES, HELDOUT_CLASSES, class_indices, generate_batch, single_object_scenes
from vlseg.data.captions import describe, with_article
from vlseg.losses import infonce_mi_lower_bound
from vlseg.pacl import PaclLoss, VisionEmbedder, pacl_compatibility
from vlseg.segmentation import SegmentationResult, class_targets, evaluate_segmentation
from vlseg.train import Recipe, TrainResult, fit
from vlseg.zeroshot import PROMPT_TEMPLATES, class_text_embeds, top1_accuracy

EVAL_SCENES, EVAL_SEED = 500, 7  # the validation scenes of chapter 02


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


class PaclModel(nn.Module):
    """A frozen CLIP with PACL's trainable vision embedder (and the loss's logit scale).

    Only ``embedder`` and ``loss`` are parameters of this module; the CLIP is held as a plain attribute, so
    checkpoints hold the trained part alone.
    """

    def __init__(self, bundle: ClipBundle, patch_temperature: float = 0.05, hidden_dim: int | None = None) -> None:
        super().__init__()
        self.bundle = bundle
        for param in bundle.model.parameters():
            param.requires_grad_(False)
        self.embedder = VisionEmbedder.from_projection(bundle.model.visual_projection, hidden_dim)
        self.loss = PaclLoss(patch_temperature=patch_temperature)

    @property
    def patch_temperature(self) -> float:
        return self.loss.patch_temperature

    @torch.no_grad()
    def patch_tokens(self, pixel_values: Tensor) -> Tensor:
        """Frozen CLIP: last-block patch tokens after ``post_layernorm``, (B, 3, S, S) → (B, T, C)."""
        hidden = self.bundle.model.vision_model(pixel_values=pixel_values).last_hidden_state[:, 1:]  # (B, T, C)
        return self.bundle.model.vision_model.post_layernorm(hidden)

    def patch_embeds(self, pixel_values: Tensor) -> Tensor:
        """PACL's embedded patches e_v(f̂_v(x)): (B, 3, S, S) → (B, T, D)."""
        return self.embedder(self.patch_tokens(pixel_values))

    @torch.no_grad()
    def text_embeds(self, texts: Sequence[str]) -> Tensor:
        """Frozen CLIP text embeddings (B, D), not normalised."""
        return self.bundle.encode_texts(list(texts), normalize=False)

    def to(self, *args: Any, **kwargs: Any) -> "PaclModel":
        self.bundle.model.to(*args, **kwargs)
        return super().to(*args, **kwargs)


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

    def step(index: int) -> dict[str, Tensor]:
        batch = generate_batch(recipe.batch_size, seed=recipe.seed, split="train", block=index)
        texts = list(batch.captions)
        if recipe.prompt_texts:
            texts += prompt_texts(batch.objects, np.random.default_rng([recipe.seed, index, 7]))
        device = next(model.embedder.parameters()).device
        patch_embeds = model.patch_embeds(model.bundle.pixel_values(batch.images).to(device))  # (B, T, D)
        text_embeds = model.text_embeds(texts)  # (B or 2B, D)
        caption_loss = model.loss(patch_embeds, text_embeds[: recipe.batch_size])
        logs = {"caption_loss": caption_loss, "mi_bound": infonce_mi_lower_bound(caption_loss, recipe.batch_size)}
        loss = caption_loss
        if recipe.prompt_texts:
            logs["prompt_loss"] = model.loss(patch_embeds, text_embeds[recipe.batch_size :])
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
    model = PaclModel(bundle, recipe.patch_temperature, recipe.hidden_dim)
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


# ---- evaluation ------------------------------------------------------------------------------------
def heldout_and_seen() -> tuple[list[int], list[int]]:
    heldout = class_indices(list(HELDOUT_CLASSES))
    return [k for k in range(len(CLASS_NAMES)) if k not in heldout], heldout


@torch.no_grad()
def evaluate_pacl_segmentation(
    model: PaclModel, n_scenes: int = EVAL_SCENES, seed: int = EVAL_SEED, progress: bool = False
) -> tuple[dict[str, float], SegmentationResult]:
    """Zero-shot segmentation of chapter 02's validation scenes with PACL's patch embeddings."""
    scenes = generate_batch(n_scenes, seed=seed, split="val")
    result = evaluate_segmentation(
        model.bundle, scenes.images, class_targets(scenes.semantic), CLASS_NAMES,
        patch_embed_fn=model.patch_embeds, progress=progress,
    )
    seen, heldout = heldout_and_seen()
    scores = {"patch_accuracy": result.patch_accuracy, "miou": result.miou,
              "miou_seen": result.group_miou(seen), "miou_heldout": result.group_miou(heldout)}
    return scores, result


@torch.no_grad()
def pacl_image_accuracy(model: PaclModel, n_per_class: int = 20, seed: int = 1234) -> dict[str, float]:
    """Image-level zero-shot classification with φ̂ (text-conditioned pooling) instead of CLIP's CLS token."""
    scenes, targets = single_object_scenes(n_per_class, seed=seed)
    class_embeds = class_text_embeds(model.bundle, list(CLASS_NAMES))  # (K, D)
    patch_embeds = model.patch_embeds(model.bundle.pixel_values(scenes.images, resize=True))  # (N, T, D)
    predictions = pacl_compatibility(patch_embeds, class_embeds, model.patch_temperature).argmax(-1).cpu()
    targets = torch.as_tensor(targets)
    seen, heldout = heldout_and_seen()
    is_heldout = torch.isin(targets, torch.tensor(heldout))
    return {"top1_all": top1_accuracy(predictions, targets),
            "top1_seen": top1_accuracy(predictions[~is_heldout], targets[~is_heldout]),
            "top1_heldout": top1_accuracy(predictions[is_heldout], targets[is_heldout])}


def train_and_ship_pacl(recipe: PaclRecipe = PaclRecipe(), out_dir: Any = None, device: str | None = None) -> Any:
    """The documented command (``python -m vlseg.train pacl``): train the embedder, evaluate it, ship it.

    The metrics on the card are measured on the weights as shipped (float16): segmentation of chapter 02's
    validation scenes, and image-level zero-shot accuracy with φ̂.
    """
    from pathlib import Path

    from vlseg.pretrained import WEIGHTS_DIR, expected_config, pretrained, rounded_state, run_card, write_model

    bundle = pretrained("tiny-clip-shapes", device=device)
    model, result = train_pacl(
        bundle, recipe, device=device, eval_every=250,
        eval_fn=lambda m: evaluate_pacl_segmentation(m, n_scenes=200)[0],
    )
    model.to("cpu")
    state = rounded_state(model)
    segmentation, _ = evaluate_pacl_segmentation(model)
    image_level = pacl_image_accuracy(model)
    card = run_card(asdict(recipe), result) | {
        "metrics": {k: round(v, 4) for k, v in (segmentation | {f"image_{k}": v for k, v in image_level.items()}).items()},
        "eval": {"segmentation_scenes": EVAL_SCENES, "segmentation_seed": EVAL_SEED, "image_n_per_class": 20,
                 "image_seed": 1234},
    }
    path = write_model(Path(out_dir or WEIGHTS_DIR), "pacl-shapes", state, expected_config("pacl-shapes", bundle), card)
    print(f"wrote {path}")
    return path
