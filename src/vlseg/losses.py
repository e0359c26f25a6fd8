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

**On several processes** (``gather=True``; :mod:`vlseg.distributed`), each rank holds ``b`` of the ``B`` pairs,
gathers every rank's embeddings (gradients flow back to its own shard) and computes the cross-entropies of *its*
``b`` rows and ``b`` columns of the ``B × B`` matrix; the mean of these local losses over the ranks is the loss
above, on the global batch.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vlseg.checks import as_tensor, check_finite
from vlseg.distributed import gather_with_grad, world

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


def local_symmetric_infonce(image_rows: Tensor, text_rows: Tensor, offset: int) -> Tensor:
    """This rank's share of :func:`symmetric_infonce`: its ``b`` rows (images against all ``B`` texts) and its ``b``
    columns (texts against all ``B`` images), each (b, B), whose matching pair sits at column ``offset + i``."""
    if image_rows.shape != text_rows.shape or image_rows.ndim != 2:
        raise ValueError(f"image_rows and text_rows must both be (b, B); got {tuple(image_rows.shape)} and "
                         f"{tuple(text_rows.shape)}")
    targets = offset + torch.arange(image_rows.shape[0], device=image_rows.device)  # (b,)
    return 0.5 * (F.cross_entropy(image_rows, targets) + F.cross_entropy(text_rows, targets))


def contrastive_loss(image_embeds: Tensor, text_embeds: Tensor,
                     compatibility: Callable[[Tensor, Tensor], Tensor], gather: bool = False) -> Tensor:
    """Symmetric InfoNCE of matching pairs under ``compatibility(images, texts) -> (B_img, B_txt)`` logits.

    With ``gather`` (under ``torch.distributed``) the inputs are this rank's shard, the negatives come from every
    rank, and the result is this rank's local loss (whose mean over the ranks is the global one).
    """
    if not gather or not world().is_distributed:
        return symmetric_infonce(compatibility(image_embeds, text_embeds))
    all_images, all_texts = gather_with_grad(image_embeds), gather_with_grad(text_embeds)  # (B, …), (B, D)
    image_rows = compatibility(image_embeds, all_texts)  # (b, B)
    text_rows = compatibility(all_images, text_embeds).t()  # (b, B)
    return local_symmetric_infonce(image_rows, text_rows, offset=world().rank * image_embeds.shape[0])


def clip_loss(image_embeds: Tensor, text_embeds: Tensor, logit_scale: float | Tensor, *, gather: bool = False) -> Tensor:
    """CLIP's symmetric InfoNCE.

    Args:
        image_embeds: (B, D), pair i matches ``text_embeds[i]``; normalised here.
        text_embeds: (B, D); normalised here.
        logit_scale: the multiplier :math:`s` (already exponentiated), a float or 0-d tensor,
            clamped at 100 as in CLIP.
        gather: under ``torch.distributed``, the inputs are this rank's shard and the negatives are gathered from
            every rank (see the module's docstring); ignored in a single process.
    Returns:
        0-d tensor: the mean of the image→text and text→image cross-entropies.
    """
    image_embeds, text_embeds = _check_pairs(image_embeds, text_embeds)
    scale = logit_scale_tensor(logit_scale, image_embeds.device)
    image_embeds = F.normalize(image_embeds.float(), dim=-1)  # (B, D)
    text_embeds = F.normalize(text_embeds.float(), dim=-1)  # (B, D)
    return contrastive_loss(image_embeds, text_embeds, lambda u, v: scale * u @ v.t(), gather)  # logits (B, B)


class ClipLoss(nn.Module):
    """:func:`clip_loss` as a module with CLIP's learnable temperature ``logit_scale = exp(t)``, t₀ = log(1/0.07)."""

    def __init__(self, init_temperature: float = 0.07, learnable: bool = True) -> None:
        super().__init__()
        log_scale = torch.tensor(math.log(1.0 / init_temperature))
        self.log_scale = nn.Parameter(log_scale, requires_grad=learnable)

    def forward(self, image_embeds: Tensor, text_embeds: Tensor, gather: bool = False) -> Tensor:
        return clip_loss(image_embeds, text_embeds, self.log_scale.exp(), gather=gather)


def infonce_mi_lower_bound(loss: float | Tensor, batch_size: int) -> float | Tensor:
    r"""The InfoNCE bound on mutual information, :math:`\log k - \mathcal{L}` (nats), with :math:`k` = ``batch_size``."""
    if batch_size < 2:
        raise ValueError(f"batch_size must be >= 2, got {batch_size}")
    return math.log(batch_size) - loss
