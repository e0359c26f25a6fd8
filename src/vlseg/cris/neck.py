r"""CRIS's cross-modal neck: a text-gated feature pyramid → F_v at the middle scale.

With the three scales :math:`v_3, v_4, v_5` (fine, middle, coarse) and the sentence feature :math:`F_s`:

1. **gate the coarsest scale with the text**: :math:`f_5 = \mathrm{act}\big(\mathrm{conv}_{1\times1}(v_5) \odot g(F_s)\big)`,
   :math:`g` = Linear → norm → ReLU, one gate per channel; only this scale sees the text;
2. **fuse downwards to the middle scale**: :math:`f_4 = \mathrm{conv}_{1\times1}[\mathrm{conv}_{3\times3}(v_4),\, \mathrm{up}(f_5)]`,
   :math:`f_3 = \mathrm{conv}_{1\times1}[\mathrm{avgpool}(\mathrm{conv}_{3\times3}(v_3)),\, f_4]` (both at the middle scale);
3. **aggregate**: a 3×3 conv on each of :math:`f_3, f_4, \mathrm{up}(f_5)`, concatenate, reduce with a 1×1 conv;
4. **CoordConv**: append normalised x/y coordinate channels and apply two 3×3 convs → :math:`F_v` (B, C, h, w).

Deviation: the official code normalises with BatchNorm. BatchNorm1d on the sentence feature fails at batch size 1
in training, and batch statistics couple samples; we use GroupNorm (convs) and LayerNorm (text gate), which behave
the same for any batch size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def conv_block(in_channels: int, out_channels: int, kernel_size: int) -> nn.Sequential:
    """Conv → GroupNorm → ReLU, 'same' padding."""
    groups = 8 if out_channels % 8 == 0 else 1
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
        nn.GroupNorm(groups, out_channels),
        nn.ReLU(inplace=True),
    )


def coordinate_channels(features: Tensor) -> Tensor:
    """(B, C, h, w) → (B, C + 2, h, w): x and y in [−1, 1] appended (CoordConv)."""
    batch, _, height, width = features.shape
    ys = torch.linspace(-1, 1, height, device=features.device, dtype=features.dtype)
    xs = torch.linspace(-1, 1, width, device=features.device, dtype=features.dtype)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    coords = torch.stack([grid_x, grid_y]).expand(batch, 2, height, width)
    return torch.cat([features, coords], dim=1)


class CrossModalNeck(nn.Module):
    """(v3, v4, v5) visual maps and the sentence feature (B, S) → F_v (B, C, h, w) at v4's resolution."""

    def __init__(self, in_channels: tuple[int, int, int], sentence_dim: int, channels: int) -> None:
        super().__init__()
        c3, c4, c5 = in_channels
        self.text_gate = nn.Sequential(nn.Linear(sentence_dim, channels), nn.LayerNorm(channels), nn.ReLU())
        self.coarse_proj = nn.Conv2d(c5, channels, kernel_size=1, bias=False)
        self.coarse_act = nn.Sequential(nn.GroupNorm(8 if channels % 8 == 0 else 1, channels), nn.ReLU())
        self.middle_proj = conv_block(c4, channels, 3)
        self.middle_fuse = conv_block(2 * channels, channels, 1)
        self.fine_proj = conv_block(c3, channels, 3)
        self.fine_fuse = conv_block(2 * channels, channels, 1)
        self.out_coarse, self.out_middle, self.out_fine = (conv_block(channels, channels, 3) for _ in range(3))
        self.aggregate = conv_block(3 * channels, channels, 1)
        self.coord = nn.Sequential(conv_block(channels + 2, channels, 3), conv_block(channels, channels, 3))

    def forward(self, scales: tuple[Tensor, Tensor, Tensor], sentence: Tensor) -> Tensor:
        fine, middle, coarse = scales  # (B, c3, 2h, 2w), (B, c4, h, w), (B, c5, h/2, w/2)
        if sentence.ndim != 2 or sentence.shape[0] != middle.shape[0]:
            raise ValueError(f"sentence must be (B, S) with B = {middle.shape[0]}; got {tuple(sentence.shape)}")
        size = middle.shape[-2:]
        gate = self.text_gate(sentence)[:, :, None, None]  # (B, C, 1, 1)
        f5 = self.coarse_act(self.coarse_proj(coarse) * gate)  # (B, C, h/2, w/2): the text-gated scale
        f5_up = F.interpolate(f5, size=size, mode="bilinear", align_corners=False)  # (B, C, h, w)
        f4 = self.middle_fuse(torch.cat([self.middle_proj(middle), f5_up], dim=1))  # (B, C, h, w)
        f3 = F.adaptive_avg_pool2d(self.fine_proj(fine), size)  # (B, C, h, w)
        f3 = self.fine_fuse(torch.cat([f3, f4], dim=1))
        coarse_out = F.interpolate(self.out_coarse(f5), size=size, mode="bilinear", align_corners=False)
        merged = self.aggregate(torch.cat([self.out_fine(f3), self.out_middle(f4), coarse_out], dim=1))
        return self.coord(coordinate_channels(merged))  # (B, C, h, w): F_v
