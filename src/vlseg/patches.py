"""Patch-level views of a segmentation problem: labels per patch, logits per patch, logits per pixel.

**The patch-labelling rule.** A ViT sees an image as a grid of ``P × P`` patches. To score a prediction
per patch we need one label per patch: the *majority* label of its pixels, kept only when it covers more than
``min_fraction`` of the patch (default: more than half of its pixels); otherwise — a patch straddling two
objects, or mostly ``ignore_index`` pixels — the patch is labelled ``ignore_index`` and not scored. Ignored
pixels count in the patch's total, so a patch that is mostly "ignore" is ignored.

**Dense prediction to pixels.** Patch logits (B, T, K) are laid out on their ``G × G`` grid and upsampled
bilinearly to the image size *before* the argmax, so boundaries fall between patch centres rather than on the
patch grid.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from vlseg.zeroshot import zero_shot_logits


def patch_labels(
    semantic: Tensor, patch_size: int, *, min_fraction: float = 0.5, ignore_index: int = 255, num_labels: int = 256
) -> Tensor:
    """(N, H, W) integer masks → (N, H/P, W/P) majority label per patch, ``ignore_index`` without a clear majority."""
    semantic = torch.as_tensor(semantic)
    if semantic.ndim != 3 or semantic.is_floating_point():
        raise ValueError(f"semantic must be an integer (N, H, W) mask; got {tuple(semantic.shape)} {semantic.dtype}")
    n, height, width = semantic.shape
    if height % patch_size or width % patch_size:
        raise ValueError(f"mask size {height}×{width} is not a multiple of the patch size {patch_size}")
    if not 0.0 <= min_fraction < 1.0:
        raise ValueError(f"min_fraction must be in [0, 1), got {min_fraction}")
    gh, gw = height // patch_size, width // patch_size
    labels = semantic.long()
    if labels.min() < 0 or labels.max() >= num_labels:
        raise ValueError(f"labels must lie in [0, {num_labels})")
    # (N, gh, P, gw, P) -> (N, gh, gw, P*P): the pixels of each patch side by side
    per_patch = labels.view(n, gh, patch_size, gw, patch_size).permute(0, 1, 3, 2, 4).reshape(-1, patch_size**2)
    patch_index = torch.arange(per_patch.shape[0]).unsqueeze(1)  # (N*gh*gw, 1)
    counts = torch.bincount((patch_index * num_labels + per_patch).view(-1), minlength=per_patch.shape[0] * num_labels)
    counts = counts.view(-1, num_labels)  # (N*gh*gw, num_labels)
    if 0 <= ignore_index < num_labels:
        counts[:, ignore_index] = 0  # "ignore" never wins, but its pixels still count in the patch total
    best_count, best_label = counts.max(dim=1)
    clear = best_count > min_fraction * patch_size**2
    return torch.where(clear, best_label, torch.full_like(best_label, ignore_index)).view(n, gh, gw)


def patch_logits(patch_embeds: Tensor, class_embeds: Tensor) -> Tensor:
    """Cosine similarity of every patch with every class: (B, T, D) × (K, D) → (B, T, K)."""
    if patch_embeds.ndim != 3 or class_embeds.ndim != 2 or patch_embeds.shape[-1] != class_embeds.shape[-1]:
        raise ValueError(
            f"expected patch_embeds (B, T, D) and class_embeds (K, D); got {tuple(patch_embeds.shape)} and "
            f"{tuple(class_embeds.shape)}"
        )
    batch, tokens, dim = patch_embeds.shape
    return zero_shot_logits(patch_embeds.reshape(batch * tokens, dim), class_embeds).view(batch, tokens, -1)


def patch_grid(per_patch: Tensor) -> Tensor:
    """Per-patch values (B, T, K) in row-major order → maps on the square patch grid (B, K, G, G)."""
    if per_patch.ndim != 3:
        raise ValueError(f"per-patch values must be (B, T, K); got {tuple(per_patch.shape)}")
    batch, tokens, channels = per_patch.shape
    grid = math.isqrt(tokens)
    if grid * grid != tokens:
        raise ValueError(f"{tokens} patch tokens do not form a square grid")
    return per_patch.transpose(1, 2).reshape(batch, channels, grid, grid)


def logits_to_pixels(logits: Tensor, image_size: int | tuple[int, int]) -> Tensor:
    """Patch logits (B, T, K) on a square grid → pixel logits (B, K, H, W), bilinear upsampling."""
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    return F.interpolate(patch_grid(logits), size=size, mode="bilinear", align_corners=False)  # (B, K, H, W)


def pixel_patches(pixel_values: Tensor, patch_size: int) -> Tensor:
    """The raw input of a ViT's patch embedding: (B, 3, S, S) → (B, T, 3·P·P), patches in row-major grid order."""
    if pixel_values.ndim != 4:
        raise ValueError(f"pixel_values must be (B, C, S, S); got {tuple(pixel_values.shape)}")
    batch, channels, height, width = pixel_values.shape
    if height % patch_size or width % patch_size:
        raise ValueError(f"image size {height}×{width} is not a multiple of the patch size {patch_size}")
    grid_h, grid_w = height // patch_size, width // patch_size
    patches = pixel_values.reshape(batch, channels, grid_h, patch_size, grid_w, patch_size)
    return patches.permute(0, 2, 4, 1, 3, 5).reshape(batch, grid_h * grid_w, channels * patch_size**2)
