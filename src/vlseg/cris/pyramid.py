"""Three scales from one ViT: the deviation from CRIS's ResNet, as a simple pyramid.

CRIS reads three stages of a CLIP ResNet (strides 8, 16 and 32). A vision transformer has one resolution, the patch
grid (stride P, the patch size). Following ViTDet's "simple pyramid", we take the tokens of three intermediate
layers, lay them out on the grid, and resample them: the shallowest of the three is upsampled ×2 (transposed
convolution), the middle one kept (1×1 convolution), the deepest downsampled ×2 (strided convolution). For a
ViT-B/16 that gives strides 8/16/32, the paper's; for the tiny CLIP (P = 8) strides 4/8/16 — the whole model then
works at twice the paper's resolution relative to the patch size, which 64-pixel images need.
"""

from __future__ import annotations

from torch import Tensor, nn

from vlseg.patches import patch_grid


class SimplePyramid(nn.Module):
    """Three (B, 1 + T, C) hidden states → maps at 2×, 1× and ½× the patch grid with ``out_channels`` channels."""

    def __init__(self, in_channels: int, out_channels: tuple[int, int, int]) -> None:
        super().__init__()
        fine, middle, coarse = out_channels
        self.up = nn.ConvTranspose2d(in_channels, fine, kernel_size=2, stride=2)
        self.keep = nn.Conv2d(in_channels, middle, kernel_size=1)
        self.down = nn.Conv2d(in_channels, coarse, kernel_size=3, stride=2, padding=1)

    def forward(self, hidden_states: tuple[Tensor, Tensor, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        if len(hidden_states) != 3:
            raise ValueError(f"need the hidden states of three layers; got {len(hidden_states)}")
        shallow, middle, deep = (patch_grid(h[:, 1:]) for h in hidden_states)  # CLS dropped: (B, C, G, G) each
        return self.up(shallow), self.keep(middle), self.down(deep)  # (B, C3, 2G, 2G), (B, C4, G, G), (B, C5, G/2, G/2)
