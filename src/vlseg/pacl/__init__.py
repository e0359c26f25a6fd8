"""PACL (Mukhoti et al., 2023): patch-aligned contrastive learning, one module per part.

:mod:`~vlseg.pacl.compatibility` (φ̂ over all pairs, without a B×B×D tensor) → :mod:`~vlseg.pacl.embedder` (e_v, the
trained part) → :mod:`~vlseg.pacl.loss` (InfoNCE over φ̂) → :mod:`~vlseg.pacl.model` (frozen CLIP + e_v, with
``segment`` and ``query_maps``) → :mod:`~vlseg.pacl.training` (the recipe) and :mod:`~vlseg.pacl.evaluation`.
"""

from vlseg.pacl.compatibility import pacl_compatibility, pacl_compatibility_naive, patch_weights, pooled_embeds
from vlseg.pacl.embedder import VisionEmbedder
from vlseg.pacl.evaluation import evaluate_pacl_segmentation, pacl_image_accuracy, pacl_targets_report
from vlseg.pacl.loss import PaclLoss, pacl_loss
from vlseg.pacl.model import PaclConfig, PaclModel
from vlseg.pacl.training import PaclRecipe, pacl_step_fn, train_pacl

__all__ = [
    "PaclConfig",
    "PaclLoss",
    "PaclModel",
    "PaclRecipe",
    "VisionEmbedder",
    "evaluate_pacl_segmentation",
    "pacl_compatibility",
    "pacl_compatibility_naive",
    "pacl_image_accuracy",
    "pacl_loss",
    "pacl_targets_report",
    "pacl_step_fn",
    "patch_weights",
    "pooled_embeds",
    "train_pacl",
]
