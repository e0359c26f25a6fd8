"""The shipped models of the course, one entry each: what they are, how they are built, trained and evaluated.

Everything about a shipped model is derived from its :class:`ShippedModel` entry in :data:`REGISTRY`:
``vlseg.pretrained(name)`` and ``vlseg.model_card(name)`` (:mod:`vlseg.shipped`), the command that trains it
(``python -m vlseg.train NAME``, :mod:`vlseg.train`), and the tests that check its card. Adding a model is adding
one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

from torch import Tensor, nn

from vlseg.checkpoint import state_digest
from vlseg.clip import TINY_CLIP_SPEC, ClipBundle, build_tiny_clip
from vlseg.clip_training import ClipRecipe, evaluate_zero_shot, train_clip
from vlseg.cris import CRIS, CrisRecipe, EVAL_SETS, evaluate_on_sets, train_cris
from vlseg.cris.evaluation import EVAL_SEED as CRIS_EVAL_SEED
from vlseg.cris.evaluation import KIND_SCENES, OTHER_WORLD_SETS
from vlseg.pacl import PaclModel, PaclRecipe, evaluate_pacl_segmentation, pacl_image_accuracy, train_pacl
from vlseg.pacl.evaluation import EVAL_SCENES, EVAL_SEED, IMAGE_N_PER_CLASS, IMAGE_SEED
from vlseg.pacl.tuned_tail import TunedVisionTail
from vlseg.text import shipped_tokenizer, tokenizer_digest, tokenizer_file
from vlseg.training import TrainResult

Model = Any  # a ClipBundle (for a CLIP) or an nn.Module (PACL, CRIS)
Metrics = tuple[dict[str, Any], dict[str, Any]]  # (the card's metrics, how they were measured)


@dataclass(frozen=True)
class ShippedModel:
    """One shipped model. ``base`` names the shipped model it is built on (its CLIP), if any; the callables get
    that base model (or ``None``) and the recipe."""

    name: str
    family: str  # "clip", "pacl" or "cris"
    summary: str
    recipe: Any  # the documented recipe (a frozen dataclass with the training hyper-parameters and the model's)
    config: Callable[[Any, ClipBundle | None], dict[str, Any]]  # what the weights are checked against when loaded
    build: Callable[[Any, ClipBundle | None], Model]  # a fresh, untrained model
    train: Callable[[Any, ClipBundle | None, str | None], tuple[Model, TrainResult]]  # (recipe, base, device)
    evaluate: Callable[[Model], Metrics]  # the metrics on the card, measured on the shipped (float16) weights
    minutes: int  # CPU minutes to train (2 cores), said before a retraining starts
    base: str | None = None
    files: Callable[[Model, Any, Any], None] | None = None  # (model, recipe, folder): extra files next to the weights
    # A fine-tuned copy of (part of) the base, shipped as int8 differences from it (vlseg.deltas): given the recipe
    # and the base, the base's tensors it started from, named as in the shipped state dict; and, for the card, which
    # of the shipped tensors those are.
    delta_base: Callable[[Any, ClipBundle], dict[str, Tensor]] | None = None
    delta_tensors: str = ""

    @property
    def command(self) -> str:
        return f"python -m vlseg.train {self.name}"


def trained_module(model: Model) -> nn.Module:
    """The module whose ``state_dict`` is shipped: the CLIPModel of a bundle, else the model itself."""
    return model.model if isinstance(model, ClipBundle) else model


def _rounded(metrics: dict[str, float]) -> dict[str, float]:
    return {key: round(float(value), 4) for key, value in metrics.items()}


# ---- the tiny CLIP -------------------------------------------------------------------------------------------------
def _clip_config(recipe: ClipRecipe, base: ClipBundle | None) -> dict[str, Any]:
    config = {"model": TINY_CLIP_SPEC, "tokenizer": tokenizer_digest(shipped_tokenizer(recipe.world))}
    if base is not None:  # continued from another shipped CLIP: refused if that one changes
        config["from"] = state_digest(base.model.state_dict())
    return config


def _clip_build(recipe: ClipRecipe, base: ClipBundle | None) -> ClipBundle:
    return build_tiny_clip(shipped_tokenizer(recipe.world), seed=recipe.seed)


def _clip_evaluator(world: str) -> Callable[[ClipBundle], Metrics]:
    """Zero-shot top-1 on the CLIP's own world; a CLIP of another world than v1 is also scored on v1 and shifted."""

    def evaluate(bundle: ClipBundle) -> Metrics:
        metrics = evaluate_zero_shot(bundle, world=world)
        card = {k: v for k, v in metrics.items() if k.startswith("top1")}
        if world != "v1":
            for other in ("v1", "shifted"):
                scores = evaluate_zero_shot(bundle, world=other)
                card |= {f"{other}_{k}": v for k, v in scores.items() if k.startswith("top1")}
        how = {"n_per_class": metrics["n_per_class"], "seed": metrics["seed"]}
        return _rounded(card), how if world == "v1" else how | {"world": world}

    return evaluate


def _write_tokenizer(bundle: ClipBundle, recipe: ClipRecipe, out_dir: Any) -> None:
    path = out_dir / tokenizer_file(recipe.world)
    if not path.exists():
        bundle.tokenizer.backend_tokenizer.save(str(path))


def _clip_train(recipe: ClipRecipe, base: ClipBundle | None, device: str | None) -> tuple[ClipBundle, TrainResult]:
    return train_clip(recipe, device=device, eval_every=250, initial=base)


def _clip(name: str, summary: str, recipe: ClipRecipe, minutes: int, base: str | None = None) -> ShippedModel:
    return ShippedModel(
        name=name, family="clip", summary=summary, recipe=recipe, config=_clip_config, build=_clip_build,
        train=_clip_train, evaluate=_clip_evaluator(recipe.world), minutes=minutes, files=_write_tokenizer, base=base)


# ---- PACL ----------------------------------------------------------------------------------------------------------
def _pacl_config(recipe: PaclRecipe, base: ClipBundle) -> dict[str, Any]:
    config = {"patch_temperature": recipe.patch_temperature, "hidden_dim": recipe.hidden_dim,
              "clip": state_digest(base.model.state_dict())}
    if recipe.context_kernel != 1:  # recorded only when used, so that cards written before it existed still match
        config["context_kernel"] = recipe.context_kernel
    if recipe.tuned_blocks:
        config["tuned_blocks"] = recipe.tuned_blocks
    return config


def _pacl_train(recipe: PaclRecipe, base: ClipBundle, device: str | None) -> tuple[PaclModel, TrainResult]:
    return train_pacl(base, recipe, device=device, eval_every=250,
                      eval_fn=lambda model: evaluate_pacl_segmentation(model, n_scenes=200, world=recipe.world)[0])


def _pacl_evaluator(world: str) -> Callable[[PaclModel], Metrics]:
    """Segmentation and φ̂'s image-level accuracy on the embedder's own world; an embedder of another world than v1
    is also segmenting v1 and the shifted world (``v1_miou``, ``shifted_miou``, ...)."""

    def evaluate(model: PaclModel) -> Metrics:
        segmentation, _ = evaluate_pacl_segmentation(model, world=world)
        image_level = pacl_image_accuracy(model, world=world)
        card = segmentation | {f"image_{k}": v for k, v in image_level.items()}
        if world != "v1":
            for other in ("v1", "shifted"):
                scores, _ = evaluate_pacl_segmentation(model, world=other)
                card |= {f"{other}_{k}": v for k, v in scores.items()}
        how = {"segmentation_scenes": EVAL_SCENES, "segmentation_seed": EVAL_SEED,
               "image_n_per_class": IMAGE_N_PER_CLASS, "image_seed": IMAGE_SEED}
        return _rounded(card), how if world == "v1" else how | {"world": world}

    return evaluate


def _tuned_tail_base(recipe: PaclRecipe, base: ClipBundle) -> dict[str, Tensor]:
    return TunedVisionTail.source_state(base, recipe.tuned_blocks)


def _pacl(name: str, summary: str, recipe: PaclRecipe, minutes: int = 25,
          base: str = "tiny-clip-shapes") -> ShippedModel:
    tuned = recipe.tuned_blocks > 0  # a tuned tail is a fine-tuned copy of the CLIP's last blocks: stored as deltas
    return ShippedModel(
        name=name, family="pacl", summary=summary, recipe=recipe, config=_pacl_config,
        build=lambda recipe, base: PaclModel(base, recipe.model), train=_pacl_train,
        evaluate=_pacl_evaluator(recipe.world), minutes=minutes, base=base,
        delta_base=_tuned_tail_base if tuned else None,
        delta_tensors=f"tuned_tail.* (its last {recipe.tuned_blocks} vision blocks and post-LayerNorm)" if tuned else "")


# ---- CRIS ----------------------------------------------------------------------------------------------------------
def _cris_config(recipe: CrisRecipe, base: ClipBundle) -> dict[str, Any]:
    return {"model": recipe.model.as_dict(), "clip": state_digest(base.model.state_dict())}


def _cris_evaluator(world: str) -> Callable[[CRIS], Metrics]:
    """The evaluation sets (and kinds) in the model's own world; a model of another world than v1 is also scored on
    held-out phrasings, on v1 and on the shifted world (:data:`vlseg.cris.evaluation.OTHER_WORLD_SETS`)."""

    def evaluate(model: CRIS) -> Metrics:
        metrics = evaluate_on_sets(model.predict, world=world)
        how = {"seed": CRIS_EVAL_SEED, "sets": EVAL_SETS, "kinds_scenes": KIND_SCENES}
        return ({split: _rounded(values) for split, values in metrics.items()},
                how if world == "v1" else how | {"world": world, "other_sets": OTHER_WORLD_SETS})

    return evaluate


def _cris_clip_base(recipe: CrisRecipe, base: ClipBundle) -> dict[str, Tensor]:
    return {f"clip.{key}": value for key, value in base.model.state_dict().items()}


def _cris(name: str, summary: str, recipe: CrisRecipe, base: str = "tiny-clip-shapes",
          minutes: int = 25) -> ShippedModel:
    return ShippedModel(
        name=name, family="cris", summary=summary, recipe=recipe, config=_cris_config,
        build=lambda recipe, base: CRIS(base, recipe.model),
        train=lambda recipe, base, device: train_cris(base, recipe, device=device, eval_every=250),
        evaluate=_cris_evaluator(recipe.world), minutes=minutes, base=base,
        delta_base=_cris_clip_base, delta_tensors="clip.*")


REGISTRY: dict[str, ShippedModel] = {entry.name: entry for entry in (
    _clip("tiny-clip-shapes", "the tiny CLIP (transformers' CLIPModel) trained on ShapesWorld", ClipRecipe(),
          minutes=30),
    _clip("tiny-clip-shapes-v2",
          "the tiny CLIP continued on the wider ShapesWorld v2 (a curriculum: v1 first, then v2)",
          ClipRecipe(world="v2", steps=4000, lr=1e-3, single_object_fraction=0.3), minutes=40, base="tiny-clip-shapes"),
    _pacl("pacl-shapes", "PACL's vision embedder on the frozen tiny CLIP", PaclRecipe(), minutes=20),
    _pacl("pacl-shapes-context",
          "PACL's vision embedder with a 3×3 spatial-context branch (not in the paper), on the frozen tiny CLIP",
          PaclRecipe(context_kernel=3, lr=3e-3)),
    _pacl("pacl-shapes-v2", "PACL's vision embedder (the paper's protocol) on the frozen v2 CLIP, trained on v2",
          PaclRecipe(world="v2"), minutes=20, base="tiny-clip-shapes-v2"),
    _pacl("pacl-shapes-v2-context",
          "PACL's embedder with the 3×3 context branch (not in the paper), on the frozen v2 CLIP, trained on v2",
          PaclRecipe(world="v2", context_kernel=3, lr=3e-3), base="tiny-clip-shapes-v2"),
    _pacl("pacl-shapes-v2-tuned",
          "routes (c)+(d), not in the paper: PACL's 3×3 context embedder over a trainable copy of the v2 CLIP's last "
          "3 vision blocks, trained on v2",
          PaclRecipe(world="v2", context_kernel=3, lr=3e-3, tuned_blocks=3, tail_lr_scale=1 / 3, steps=4000),
          minutes=55, base="tiny-clip-shapes-v2"),
    _cris("cris-shapes", "CRIS on the tiny CLIP, fine-tuned at 0.1× the head's learning rate", CrisRecipe()),
    _cris("cris-shapes-no-decoder", "ablation: CRIS without the vision-language decoder",
          CrisRecipe().with_model(use_decoder=False)),
    _cris("cris-shapes-dot", "ablation: a 1×1 dot product instead of CRIS's 3×3 dynamic kernel",
          CrisRecipe().with_model(kernel_size=1)),
    _cris("cris-shapes-v2",
          "CRIS on the v2 CLIP, trained on ShapesWorld v2 for twice the v1 model's steps, half its expressions given "
          "an invented word, its loss on logits upsampled to the mask, a pixel refiner after the projector (the last "
          "three not in CRIS)",
          CrisRecipe(world="v2", steps=3000, pseudo_words=0.5, full_resolution_loss=True)
          .with_model(refiner_channels=16), base="tiny-clip-shapes-v2", minutes=55),
)}


def names(family: str | None = None) -> tuple[str, ...]:
    """The shipped models, in registry order (of one family: "clip", "pacl", "cris")."""
    return tuple(name for name, entry in REGISTRY.items() if family is None or entry.family == family)


def entry(name: str) -> ShippedModel:
    """The registry entry of ``name``, or a ValueError listing the known names."""
    if not isinstance(name, str) or name not in REGISTRY:
        raise ValueError(f"unknown pretrained model {name!r}; known: {list(REGISTRY)}")
    return REGISTRY[name]


def recipe_with(name: str, steps: int | None = None) -> Any:
    """The documented recipe of ``name``, optionally with another number of steps."""
    recipe = entry(name).recipe
    return recipe if steps is None else replace(recipe, steps=steps)
