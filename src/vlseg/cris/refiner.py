r"""A pixel refiner (not in CRIS): the mask's outline read from the image's own pixels.

CRIS predicts its logits at stride 4 of the ViT grid, from CLIP features that hold one vector per patch (8 × 8 pixels
for the tiny CLIP). Nothing in them says where inside a patch an object's edge runs, so the logits, upsampled
bilinearly, draw soft, rounded outlines: on ShapesWorld v2 most of the remaining error of a trained model is there
(chapter 05's prec@0.9). The refiner upsamples the logits to the CLIP input's resolution :math:`S \times S`, stacks
them with the normalised pixels :math:`x` and adds what a small convolutional network makes of the two:

.. math::

    \ell' = \mathrm{up}(\ell) + r\big([\mathrm{up}(\ell),\, x]\big), \qquad
    r = \mathrm{conv}_{3\times3} \circ \mathrm{ReLU} \circ \mathrm{conv}_{3\times3} \circ \mathrm{ReLU} \circ
        \mathrm{conv}_{3\times3}.

Its last convolution starts at zero, so training starts from CRIS's own logits. It reads no words: it can move an
outline that CRIS drew towards an edge of the image, but cannot pick another object. Its receptive field is 7 × 7
pixels. The idea is the guided upsampling of a coarse mask by the image it belongs to; CRIS's official code has no
such step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vlseg.checks import check_positive_int


class PixelRefiner(nn.Module):
    """Coarse logits (B, 1, h, w) and the CLIP's input pixels (B, 3, S, S) → refined logits (B, 1, S, S)."""

    def __init__(self, channels: int = 16) -> None:
        super().__init__()
        self.channels = check_positive_int(channels, "channels")
        self.body = nn.Sequential(
            nn.Conv2d(1 + 3, channels, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(channels, channels, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(channels, 1, kernel_size=3, padding=1),
        )
        nn.init.zeros_(self.body[-1].weight)  # r = 0 at the start: CRIS's logits, upsampled
        nn.init.zeros_(self.body[-1].bias)

    def forward(self, logits: Tensor, pixel_values: Tensor) -> Tensor:
        if logits.ndim != 4 or logits.shape[1] != 1 or pixel_values.ndim != 4 or pixel_values.shape[1] != 3 \
                or logits.shape[0] != pixel_values.shape[0]:
            raise ValueError(f"expected logits (B, 1, h, w) and pixel_values (B, 3, S, S); got {tuple(logits.shape)} "
                             f"and {tuple(pixel_values.shape)}")
        upsampled = F.interpolate(logits, size=pixel_values.shape[-2:], mode="bilinear", align_corners=False)
        stacked = torch.cat([upsampled, pixel_values.to(upsampled.dtype)], dim=1)  # (B, 4, S, S)
        return upsampled + self.body(stacked)  # (B, 1, S, S)
