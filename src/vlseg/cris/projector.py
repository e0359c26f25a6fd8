r"""CRIS's projector: a per-pixel visual vector and a per-sentence 3×3 kernel; their convolution is the mask logit.

* **visual path**: F_c (B, d, h, w) is upsampled ×2 twice (each: bilinear ×2 → 3×3 conv), then a 1×1 conv gives
  :math:`z_v` (B, c, 4h, 4w) — stride 4 relative to F_v;
* **text path**: a Linear maps the sentence feature :math:`F_s` to :math:`c \cdot 3 \cdot 3 + 1` numbers, a 3×3
  kernel over the :math:`c` channels and a bias, one per sample;
* **dynamic convolution**: each sample's kernel is applied to its own visual map — a *grouped* convolution with
  one group per sample — giving one logit per pixel (B, 1, 4h, 4w).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from vlseg.cris.neck import conv_block


def dynamic_conv(features: Tensor, kernels: Tensor, biases: Tensor) -> Tensor:
    """Sample b's kernel on sample b's map: (B, c, H, W), (B, c, k, k), (B,) → (B, 1, H, W), one grouped conv."""
    batch, channels, height, width = features.shape
    if kernels.shape[:2] != (batch, channels) or kernels.shape[-1] != kernels.shape[-2] or biases.shape != (batch,):
        raise ValueError(
            f"expected kernels (B, c, k, k) and biases (B,) for features {tuple(features.shape)}; got "
            f"{tuple(kernels.shape)} and {tuple(biases.shape)}"
        )
    size = kernels.shape[-1]
    out = F.conv2d(features.reshape(1, batch * channels, height, width), kernels, biases, padding=size // 2, groups=batch)
    return out.view(batch, 1, height, width)


class Projector(nn.Module):
    """F_c as a map (B, d, h, w) and the sentence feature (B, S) → pixel logits (B, 1, 4h, 4w)."""

    def __init__(self, dim: int, sentence_dim: int, channels: int = 64, kernel_size: int = 3) -> None:
        super().__init__()
        self.channels, self.kernel_size = channels, kernel_size
        self.up1 = conv_block(dim, dim // 2, 3)
        self.up2 = conv_block(dim // 2, channels, 3)
        self.visual_out = nn.Conv2d(channels, channels, kernel_size=1)
        self.text_out = nn.Linear(sentence_dim, channels * kernel_size * kernel_size + 1)

    def pixel_features(self, visual_map: Tensor) -> Tensor:
        """z_v: (B, d, h, w) → (B, c, 4h, 4w)."""
        upsampled = self.up1(F.interpolate(visual_map, scale_factor=2, mode="bilinear", align_corners=False))
        upsampled = self.up2(F.interpolate(upsampled, scale_factor=2, mode="bilinear", align_corners=False))
        return self.visual_out(upsampled)

    def text_kernels(self, sentence: Tensor) -> tuple[Tensor, Tensor]:
        """(B, S) → kernels (B, c, k, k) and biases (B,)."""
        params = self.text_out(sentence)  # (B, c·k·k + 1)
        kernels = params[:, :-1].view(-1, self.channels, self.kernel_size, self.kernel_size)
        return kernels, params[:, -1]

    def forward(self, visual_map: Tensor, sentence: Tensor) -> Tensor:
        return dynamic_conv(self.pixel_features(visual_map), *self.text_kernels(sentence))  # (B, 1, 4h, 4w)
