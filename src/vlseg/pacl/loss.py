r"""PACL's loss: CLIP's symmetric InfoNCE with φ̂ (:mod:`vlseg.pacl.compatibility`) in place of the CLS cosine.

.. math::

    \ell_{ij} = s\,\hat\varphi(x_i, y_j), \qquad
    \mathcal{L} = \tfrac12\big(\mathrm{CE}_{\text{rows}}(\ell) + \mathrm{CE}_{\text{columns}}(\ell)\big),

with targets on the diagonal (image ``i`` goes with text ``i``) and :math:`s = e^t` CLIP's logit scale.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vlseg.checks import as_tensor

from vlseg.losses import logit_scale_tensor, symmetric_infonce
from vlseg.pacl.compatibility import pacl_compatibility


def pacl_loss(
    patch_embeds: Tensor, text_embeds: Tensor, logit_scale: float | Tensor, patch_temperature: float = 1.0, **chunks: int
) -> Tensor:
    """Symmetric InfoNCE over φ̂: pair i is image i with text i, every other pair of the batch a negative."""
    patch_embeds, text_embeds = as_tensor(patch_embeds, "patch_embeds"), as_tensor(text_embeds, "text_embeds")
    if patch_embeds.shape[0] != text_embeds.shape[0] or patch_embeds.shape[0] < 2:
        raise ValueError(
            f"need B >= 2 matching pairs; got {patch_embeds.shape[0]} images and {text_embeds.shape[0]} texts"
        )
    scale = logit_scale_tensor(logit_scale, patch_embeds.device)
    return symmetric_infonce(scale * pacl_compatibility(patch_embeds, text_embeds, patch_temperature, **chunks))


class PaclLoss(nn.Module):
    """:func:`pacl_loss` with CLIP's learnable (or fixed) logit scale ``exp(t)``, t₀ = log(1/0.07)."""

    def __init__(self, patch_temperature: float = 1.0, init_temperature: float = 0.07, learnable: bool = True) -> None:
        super().__init__()
        self.patch_temperature = patch_temperature
        self.log_scale = nn.Parameter(torch.tensor(float(torch.log(torch.tensor(1.0 / init_temperature)))),
                                      requires_grad=learnable)

    def forward(self, patch_embeds: Tensor, text_embeds: Tensor) -> Tensor:
        return pacl_loss(patch_embeds, text_embeds, self.log_scale.exp(), self.patch_temperature)
