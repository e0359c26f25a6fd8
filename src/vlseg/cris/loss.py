r"""CRIS's text-to-pixel contrastive loss.

The projector gives one logit per pixel, :math:`\ell_i = z_t^\top z_v^i` (+ bias): the sentence's dynamic kernel
against the pixel's feature. Pixels inside the referred object's mask are positives, all others negatives, and
the paper's loss is

.. math::

    \mathcal{L} = \frac{1}{N}\sum_{i=1}^{N} \begin{cases}
        -\log \sigma(\ell_i) & \text{pixel } i \text{ in the mask,} \\
        -\log\big(1 - \sigma(\ell_i)\big) & \text{otherwise,}
    \end{cases}

averaged over all :math:`N` pixels. With the mask value :math:`m_i \in \{0, 1\}` the two cases are one expression,
:math:`-\,[\,m_i \log \sigma(\ell_i) + (1 - m_i) \log(1 - \sigma(\ell_i))\,]`: exactly per-pixel binary
cross-entropy on the logits. So "contrastive" here means "sigmoid BCE that pulls the text towards the object's
pixels and pushes it from the rest" — which is how the official code computes it
(``binary_cross_entropy_with_logits``), and how we do: the log-sigmoid form is numerically stable where
:math:`\log(1 - \sigma(\ell))` written out is not.

**Where the loss is computed.** The logits are on a grid four times finer than the patches: 32 × 32 for ShapesWorld's
64 px images (8 px patches), 56 × 56 for a ViT-B/16 at 224 px. The official code shrinks the mask to that grid by
nearest interpolation. For ShapesWorld that keeps one pixel of each 2 × 2 block — its top-left one, half a pixel from
the block's centre, where the bilinear upsampling at inference puts the coarse value — so even a coarse prediction
that matched the shrunk mask exactly would score only 88.3 mIoU on ShapesWorld v2's held-out scenes (85.5 on the
shifted world, whose objects are smaller; ``benchmarks/cris_loss_resolution.py --ceiling``).
``upsample_logits=True`` (not in CRIS) computes the same BCE on the logits bilinearly upsampled to the mask's size
instead: the prediction is still made at stride 4, but is judged where it is evaluated, at every pixel of the image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def text_to_pixel_contrastive_loss(pixel_logits: Tensor, masks: Tensor, upsample_logits: bool = False) -> Tensor:
    """Mean per-pixel sigmoid BCE. ``pixel_logits`` (B, h, w) or (B, 1, h, w); ``masks`` (B, H, W) in {0, 1}.

    Masks of another size are brought to (h, w) by nearest interpolation (as the official code does), or, with
    ``upsample_logits``, the logits are brought to (H, W) bilinearly (not in CRIS; see the module's docstring).
    """
    if not isinstance(upsample_logits, bool):
        raise TypeError(f"upsample_logits must be a bool; got {type(upsample_logits).__name__} {upsample_logits!r}")
    if pixel_logits.ndim == 4:
        if pixel_logits.shape[1] != 1:
            raise ValueError(f"pixel_logits must be (B, h, w) or (B, 1, h, w); got {tuple(pixel_logits.shape)}")
        pixel_logits = pixel_logits[:, 0]
    if pixel_logits.ndim != 3 or masks.ndim != 3 or pixel_logits.shape[0] != masks.shape[0]:
        raise ValueError(
            f"expected pixel_logits (B, h, w) and masks (B, H, W) with the same B; got {tuple(pixel_logits.shape)} "
            f"and {tuple(masks.shape)}"
        )
    masks = masks.float()
    if masks.numel() and not torch.all((masks == 0) | (masks == 1)):
        raise ValueError("masks must hold only 0 and 1")
    if masks.shape[-2:] != pixel_logits.shape[-2:] and upsample_logits:
        pixel_logits = F.interpolate(pixel_logits[:, None].float(), size=masks.shape[-2:], mode="bilinear",
                                     align_corners=False)[:, 0]  # (B, H, W), as the prediction is upsampled
    elif masks.shape[-2:] != pixel_logits.shape[-2:]:
        masks = F.interpolate(masks[:, None], size=pixel_logits.shape[-2:], mode="nearest")[:, 0]
    return F.binary_cross_entropy_with_logits(pixel_logits.float(), masks)
