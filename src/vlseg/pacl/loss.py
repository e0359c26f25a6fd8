r"""PACL's loss: CLIP's symmetric InfoNCE with φ̂ (:mod:`vlseg.pacl.compatibility`) in place of the CLS cosine.

.. math::

    \ell_{ij} = s\,\hat\varphi(x_i, y_j), \qquad
    \mathcal{L} = \tfrac12\big(\mathrm{CE}_{\text{rows}}(\ell) + \mathrm{CE}_{\text{columns}}(\ell)\big),

with targets on the diagonal (image ``i`` goes with text ``i``) and :math:`s = e^t` CLIP's logit scale. On several
processes (``gather=True``) the negatives come from every rank, as for CLIP's loss (:mod:`vlseg.losses`): each rank
gathers the (B, T, D) patch embeddings and the (B, D) texts and scores its own rows and columns of φ̂.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vlseg.checks import as_tensor

from vlseg.losses import contrastive_loss, logit_scale_tensor
from vlseg.pacl.compatibility import pacl_compatibility


def pacl_loss(
    patch_embeds: Tensor, text_embeds: Tensor, logit_scale: float | Tensor, patch_temperature: float = 1.0, *,
    gather: bool = False, **chunks: int
) -> Tensor:
    """Symmetric InfoNCE over φ̂: pair i is image i with text i, every other pair of the batch a negative.

    ``gather``: under ``torch.distributed``, the inputs are this rank's shard and the negatives come from every rank.
    """
    patch_embeds, text_embeds = as_tensor(patch_embeds, "patch_embeds"), as_tensor(text_embeds, "text_embeds")
    if patch_embeds.shape[0] != text_embeds.shape[0] or patch_embeds.shape[0] < 2:
        raise ValueError(
            f"need B >= 2 matching pairs; got {patch_embeds.shape[0]} images and {text_embeds.shape[0]} texts"
        )
    scale = logit_scale_tensor(logit_scale, patch_embeds.device)
    def logits(patches: Tensor, texts: Tensor) -> Tensor:  # (B_img, T, D), (B_txt, D) → (B_img, B_txt)
        return scale * pacl_compatibility(patches, texts, patch_temperature, **chunks)

    return contrastive_loss(patch_embeds, text_embeds, logits, gather)


class PaclLoss(nn.Module):
    """:func:`pacl_loss` with CLIP's learnable (or fixed) logit scale ``exp(t)``, t₀ = log(1/0.07)."""

    def __init__(self, patch_temperature: float = 1.0, init_temperature: float = 0.07, learnable: bool = True) -> None:
        super().__init__()
        self.patch_temperature = patch_temperature
        self.log_scale = nn.Parameter(torch.tensor(float(torch.log(torch.tensor(1.0 / init_temperature)))),
                                      requires_grad=learnable)

    def forward(self, patch_embeds: Tensor, text_embeds: Tensor, gather: bool = False) -> Tensor:
        return pacl_loss(patch_embeds, text_embeds, self.log_scale.exp(), self.patch_temperature, gather=gather)
