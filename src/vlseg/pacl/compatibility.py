r"""PACL's patch-aligned compatibility function φ̂ (Mukhoti et al., 2023, §5), for every image–text pair.

Notation: an image gives ``T`` embedded patch vectors :math:`p_1 … p_T \in \mathbb{R}^D` (the vision embedder's
output), a text gives :math:`y \in \mathbb{R}^D` (CLIP's text embedding). PACL's compatibility of image and text:

.. math::

    s_t = \cos(p_t, y), \qquad
    a_t = \frac{e^{s_t/\tau}}{\sum_{t'} e^{s_{t'}/\tau}}, \qquad
    \hat v = \sum_t a_t\, p_t, \qquad
    \hat\varphi = \cos(\hat v, y).

The text picks the patches that resemble it (:math:`a`, summing to 1 over the patches), and the image is
summarised by their weighted average :math:`\hat v` — *text-conditioned* pooling. :math:`\tau` is
``patch_temperature``; the paper writes the softmax of cosines without one (:math:`\tau = 1`), under which the
weights are nearly uniform (cosines lie in [−1, 1]).

**All pairs, without a B×B×D tensor.** InfoNCE needs :math:`\hat\varphi` for *every* image–text pair of the batch:
image ``i`` pooled with text ``j``'s weights. Naively :math:`\hat v_{ij}` is a ``(B_img, B_txt, D)`` tensor. It is
never needed. With :math:`u = y/\lVert y\rVert` and :math:`G_i = P_i P_i^\top` the ``T × T`` Gram matrix of image
``i``'s patches,

.. math::

    \hat v_{ij}^\top u_j = \sum_t a_{ijt}\, p_{it}^\top u_j = \sum_t a_{ijt}\,\lVert p_{it}\rVert\, s_{ijt},
    \qquad
    \lVert \hat v_{ij}\rVert^2 = a_{ij}^\top G_i\, a_{ij},

so :math:`\hat\varphi_{ij} = \hat v_{ij}^\top u_j / \lVert \hat v_{ij}\rVert` needs only ``(B_img, B_txt, T)``
quantities. Those are computed for a chunk of texts (and of images) at a time, so memory stays bounded whatever
the batch size; the cost is :math:`O(B_{img} T^2 D + B_{img} B_{txt} T (D + T))` instead of
:math:`O(B_{img} B_{txt} T D)`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from vlseg.checks import as_tensor, check_number, check_positive_int


DEFAULT_TEXT_CHUNK = 64
DEFAULT_IMAGE_CHUNK = 128


def _check_inputs(patch_embeds: Tensor, text_embeds: Tensor, patch_temperature: float) -> tuple[Tensor, Tensor]:
    patch_embeds, text_embeds = as_tensor(patch_embeds, "patch_embeds"), as_tensor(text_embeds, "text_embeds")
    if patch_embeds.ndim != 3 or text_embeds.ndim != 2 or patch_embeds.shape[-1] != text_embeds.shape[-1]:
        raise ValueError(
            "expected patch_embeds (B_img, T, D) and text_embeds (B_txt, D) with the same D; got "
            f"{tuple(patch_embeds.shape)} and {tuple(text_embeds.shape)}"
        )
    if not check_number(patch_temperature, "patch_temperature") > 0:
        raise ValueError(f"patch_temperature must be a positive float, got {patch_temperature}")
    if patch_embeds.shape[0] == 0 or text_embeds.shape[0] == 0 or patch_embeds.shape[1] == 0:
        raise ValueError(f"empty input: patch_embeds {tuple(patch_embeds.shape)}, text_embeds {tuple(text_embeds.shape)}")
    return patch_embeds, text_embeds


def patch_weights(patch_embeds: Tensor, text_embeds: Tensor, patch_temperature: float = 1.0) -> Tensor:
    """The weights a(x, y): softmax over patches of cos(p_t, y) / τ. (B_img, T, D), (B_txt, D) → (B_img, B_txt, T).

    Every (image, text) pair; meant for pictures and small batches (the result is B_img·B_txt·T numbers).
    """
    patch_embeds, text_embeds = _check_inputs(patch_embeds, text_embeds, patch_temperature)
    unit_patches = F.normalize(patch_embeds.float(), dim=-1)  # (B_img, T, D)
    unit_texts = F.normalize(text_embeds.float(), dim=-1)  # (B_txt, D)
    cosines = torch.einsum("itd,jd->ijt", unit_patches, unit_texts)  # (B_img, B_txt, T)
    return torch.softmax(cosines / patch_temperature, dim=-1)


def pacl_compatibility_naive(patch_embeds: Tensor, text_embeds: Tensor, patch_temperature: float = 1.0) -> Tensor:
    """φ̂ for every pair, written as in the paper: builds the (B_img, B_txt, D) pooled vectors. For checks only."""
    weights = patch_weights(patch_embeds, text_embeds, patch_temperature)  # (B_img, B_txt, T)
    pooled = torch.einsum("ijt,itd->ijd", weights, patch_embeds.float())  # (B_img, B_txt, D): the big tensor
    return F.cosine_similarity(pooled, text_embeds.float()[None], dim=-1)  # (B_img, B_txt)


def pacl_compatibility(
    patch_embeds: Tensor,
    text_embeds: Tensor,
    patch_temperature: float = 1.0,
    *,
    text_chunk_size: int = DEFAULT_TEXT_CHUNK,
    image_chunk_size: int = DEFAULT_IMAGE_CHUNK,
    eps: float = 1e-12,
) -> Tensor:
    """PACL's compatibility φ̂ for every image–text pair. (B_img, T, D), (B_txt, D) → (B_img, B_txt), float32.

    Args:
        patch_embeds: the embedded patches of each image, used as given (not normalised) for the pooling.
        text_embeds: one embedding per text.
        patch_temperature: τ of the softmax over patches (positive; 1 is the paper's literal formula).
        text_chunk_size, image_chunk_size: how many texts and images are processed at once; peak extra memory is
            about ``image_chunk_size · T · (T + 5·text_chunk_size)`` floats, whatever B_img and B_txt.

    Inputs in half precision are computed in float32 (the softmax and the Gram form need the range).
    """
    patch_embeds, text_embeds = _check_inputs(patch_embeds, text_embeds, patch_temperature)
    text_chunk_size = check_positive_int(text_chunk_size, "text_chunk_size")
    image_chunk_size = check_positive_int(image_chunk_size, "image_chunk_size")
    patches = patch_embeds.float()  # (B_img, T, D); no copy for float32 input
    unit_texts = F.normalize(text_embeds.float(), dim=-1)  # (B_txt, D): u
    patch_norms = patches.norm(dim=-1).clamp_min(eps)  # (B_img, T)
    rows = []
    for i0 in range(0, patches.shape[0], image_chunk_size):
        chunk = slice(i0, i0 + image_chunk_size)
        gram = patches[chunk] @ patches[chunk].transpose(1, 2)  # (b, T, T): G_i = P_i P_iᵀ
        columns = []
        for j0 in range(0, unit_texts.shape[0], text_chunk_size):
            dots = torch.einsum("itd,jd->ijt", patches[chunk], unit_texts[j0 : j0 + text_chunk_size])  # (b, c, T): p_tᵀu
            cosines = dots / patch_norms[chunk].unsqueeze(1)  # (b, c, T): s
            weights = torch.softmax(cosines / patch_temperature, dim=-1)  # (b, c, T): a
            along_text = (weights * dots).sum(-1)  # (b, c): v̂ᵀu = Σ_t a_t p_tᵀu
            squared_norm = (torch.bmm(weights, gram) * weights).sum(-1)  # (b, c): aᵀ G a = |v̂|²
            columns.append(along_text / squared_norm.clamp_min(eps).sqrt())
        rows.append(torch.cat(columns, dim=1))
    compatibility = torch.cat(rows, dim=0)  # (B_img, B_txt)
    if not bool(torch.isfinite(compatibility).all()):  # checked on the small output, not the big inputs
        raise ValueError("φ̂ is not finite: patch_embeds or text_embeds contain NaN or infinite values")
    return compatibility


def pooled_embeds(patch_embeds: Tensor, text_embeds: Tensor, patch_temperature: float = 1.0) -> Tensor:
    """v̂ for matching pairs only (image i with text i): (B, T, D), (B, D) → (B, D). For pictures and analysis."""
    if patch_embeds.shape[0] != text_embeds.shape[0]:
        raise ValueError(f"need one text per image; got {patch_embeds.shape[0]} images and {text_embeds.shape[0]} texts")
    patch_embeds, text_embeds = _check_inputs(patch_embeds, text_embeds, patch_temperature)
    unit_patches = F.normalize(patch_embeds.float(), dim=-1)  # (B, T, D)
    cosines = torch.einsum("btd,bd->bt", unit_patches, F.normalize(text_embeds.float(), dim=-1))  # (B, T)
    weights = torch.softmax(cosines / patch_temperature, dim=-1)  # (B, T)
    return torch.einsum("bt,btd->bd", weights, patch_embeds.float())
