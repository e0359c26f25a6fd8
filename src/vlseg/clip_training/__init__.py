"""Training the tiny CLIP, in the shape of the method packages: the model is :mod:`vlseg.clip` (``transformers``'
``CLIPModel``), the loss :func:`vlseg.losses.clip_loss`, then :mod:`~vlseg.clip_training.training` (recipe, step,
loop) and :mod:`~vlseg.clip_training.evaluation` (zero-shot top-1)."""

from vlseg.clip_training.evaluation import evaluate_zero_shot
from vlseg.clip_training.training import ClipRecipe, clip_step_fn, train_clip

__all__ = ["ClipRecipe", "clip_step_fn", "evaluate_zero_shot", "train_clip"]
