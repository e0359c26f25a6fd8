r"""Contrastive losses and the mutual-information view of InfoNCE.

CLIP's objective (Radford et al., 2021) is a symmetric InfoNCE. For a batch of :math:`B` matching
pairs with L2-normalised embeddings :math:`u_i` (images) and :math:`v_j` (texts) and a temperature
multiplier :math:`s` (``logit_scale``, already exponentiated):

.. math::

    \ell_{ij} = s\, u_i^\top v_j, \qquad
    \mathcal{L} = \tfrac12\Big(
        -\tfrac1B\sum_i \log\frac{e^{\ell_{ii}}}{\sum_j e^{\ell_{ij}}}
        -\tfrac1B\sum_j \log\frac{e^{\ell_{jj}}}{\sum_i e^{\ell_{ij}}}\Big).

Each row is a :math:`B`-way classification "which text goes with this image?" (and each column the
reverse). van den Oord et al. (2018) show that for :math:`k = B` samples

.. math:: I(x; y) \;\ge\; \log k - \mathcal{L}_{\text{InfoNCE}},

so lowering the loss raises a lower bound on the mutual information between images and texts; the
bound can never exceed :math:`\log k` (the loss is non-negative), however much information there is.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vlseg.checks import as_tensor, check_finite

MAX_LOGIT_SCALE = 100.0  # CLIP clamps exp(t) at 100


def _check_pairs(image_embeds: Tensor, text_embeds: Tensor) -> tuple[Tensor, Tensor]:
    image_embeds, text_embeds = as_tensor(image_embeds, "image_embeds"), as_tensor(text_embeds, "text_embeds")
    if image_embeds.ndim != 2 or text_embeds.ndim != 2:
        raise ValueError(
            f"image_embeds and text_embeds must be (B, D); got {tuple(image_embeds.shape)} and {tuple(text_embeds.shape)}"
        )
    if image_embeds.shape != text_embeds.shape:
        raise ValueError(
            f"image_embeds {tuple(image_embeds.shape)} and text_embeds {tuple(text_embeds.shape)} must have the "
            "same shape: pair i is image i with text i"
        )
    if image_embeds.shape[0] < 2:
        raise ValueError("a contrastive loss needs a batch of at least 2 pairs")
    return check_finite(image_embeds, "image_embeds"), check_finite(text_embeds, "text_embeds")


def logit_scale_tensor(logit_scale: float | Tensor, device: torch.device) -> Tensor:
    """CLIP's multiplier s = exp(t), checked (a positive number or 0-d tensor) and clamped at 100, as a float32 tensor."""
    if isinstance(logit_scale, bool) or not isinstance(logit_scale, (int, float, np.integer, np.floating, Tensor)):
        raise TypeError(f"logit_scale must be a float or a 0-d tensor; got a {type(logit_scale).__name__}")
    scale = torch.as_tensor(logit_scale, dtype=torch.float32, device=device)
    if scale.ndim != 0:
        raise ValueError(f"logit_scale must be a float or a 0-d tensor; got shape {tuple(scale.shape)}")
    if not bool(scale > 0):
        raise ValueError(f"logit_scale must be positive (it multiplies cosines: exp(t) with CLIP's t); got {float(scale)}")
    return scale.clamp(max=MAX_LOGIT_SCALE)


def symmetric_infonce(logits: Tensor) -> Tensor:
    """Mean of the row-wise and column-wise cross-entropies of a (B, B) logit matrix with targets on the diagonal."""
    if logits.ndim != 2 or logits.shape[0] != logits.shape[1]:
        raise ValueError(f"logits must be a square (B, B) matrix; got {tuple(logits.shape)}")
    targets = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.t(), targets))


def clip_loss(image_embeds: Tensor, text_embeds: Tensor, logit_scale: float | Tensor) -> Tensor:
    """CLIP's symmetric InfoNCE.

    Args:
        image_embeds: (B, D), pair i matches ``text_embeds[i]``; normalised here.
        text_embeds: (B, D); normalised here.
        logit_scale: the multiplier :math:`s` (already exponentiated), a float or 0-d tensor,
            clamped at 100 as in CLIP.
    Returns:
        0-d tensor: the mean of the image→text and text→image cross-entropies.
    """
    image_embeds, text_embeds = _check_pairs(image_embeds, text_embeds)
    scale = logit_scale_tensor(logit_scale, image_embeds.device)
    image_embeds = F.normalize(image_embeds.float(), dim=-1)  # (B, D)
    text_embeds = F.normalize(text_embeds.float(), dim=-1)  # (B, D)
    logits = scale * image_embeds @ text_embeds.t()  # (B, B)
    return symmetric_infonce(logits)


class ClipLoss(nn.Module):
    """:func:`clip_loss` as a module with CLIP's learnable temperature ``logit_scale = exp(t)``, t₀ = log(1/0.07)."""

    def __init__(self, init_temperature: float = 0.07, learnable: bool = True) -> None:
        super().__init__()
        log_scale = torch.tensor(math.log(1.0 / init_temperature))
        self.log_scale = nn.Parameter(log_scale, requires_grad=learnable)

    def forward(self, image_embeds: Tensor, text_embeds: Tensor) -> Tensor:
        return clip_loss(image_embeds, text_embeds, self.log_scale.exp())


def infonce_mi_lower_bound(loss: float | Tensor, batch_size: int) -> float | Tensor:
    r"""The InfoNCE bound on mutual information, :math:`\log k - \mathcal{L}` (nats), with :math:`k` = ``batch_size``."""
    if batch_size < 2:
        raise ValueError(f"batch_size must be >= 2, got {batch_size}")
    return math.log(batch_size) - loss
