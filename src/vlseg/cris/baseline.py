r"""The training-free referring baseline: threshold a CLIP (or PACL) similarity map of the expression.

What chapters 02–04 give for free: embed the whole expression with CLIP's text encoder, take the cosine with every
patch embedding (raw CLIP, MaskCLIP or PACL's embedder), upsample to pixels, and keep the pixels that score high:

.. math::

    s(x, y) = \cos\big(p(x, y),\ u\big), \qquad
    \hat s = \frac{s - \min s}{\max s - \min s}, \qquad
    \hat m(x, y) = [\hat s(x, y) > t].

The map is min–max normalised per image because raw cosines have no common scale across images. The one free
number, the threshold :math:`t`, is chosen where the baseline does best (mIoU) on *training* scenes — a generous
baseline: no learned part sees the expression's structure, but its cut is tuned.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from vlseg.checks import check_probability
from vlseg.clip import ClipBundle
from vlseg.cris.data import referring_batch
from vlseg.images import as_images
from vlseg.metrics import referring_metrics
from vlseg.patches import patch_grid
from vlseg.text import pair_texts

PatchEmbedFn = Callable[[Tensor], Tensor]  # pixel_values (B, 3, S, S) → patch embeddings (B, T, D)
THRESHOLD_GRID = tuple(round(0.05 * k, 2) for k in range(1, 20))  # 0.05 … 0.95


class SimilarityMapBaseline:
    """``predict(images, texts)`` → boolean masks, like :meth:`vlseg.cris.model.CRIS.predict`, without training."""

    def __init__(self, bundle: ClipBundle, patch_embed_fn: PatchEmbedFn, threshold: float = 0.5) -> None:
        self.bundle = bundle
        self.patch_embed_fn = patch_embed_fn
        self.threshold = threshold

    @torch.no_grad()
    def maps(self, images: Any, texts: str | Sequence[str]) -> Tensor | list[Tensor]:
        """Min–max normalised similarity of each image with its own expression: (B, H, W) in [0, 1] (a list of
        (H, W) for a list of images)."""
        checked = as_images(images)
        texts = pair_texts(texts, len(checked))
        patch_embeds = self.patch_embed_fn(self.bundle.pixel_values(checked))  # (B, T, D)
        text_embeds = self.bundle.encode_texts(texts, normalize=False)  # (B, D)
        # Each image against its own expression only (the diagonal of chapter 02's all-pairs cosine).
        cosine = torch.einsum("btd,bd->bt", F.normalize(patch_embeds, dim=-1), F.normalize(text_embeds, dim=-1))
        similarity = checked.back(patch_grid(cosine[..., None].float()).cpu())  # (B, 1, H, W) or a list of (1, H, W)
        if isinstance(similarity, list):
            return [min_max(s)[0] for s in similarity]
        return min_max(similarity[:, 0])

    def predict(self, images: Any, texts: str | Sequence[str], threshold: float | None = None) -> Tensor | list[Tensor]:
        cut = self.threshold if threshold is None else check_probability(threshold, "threshold")
        maps = self.maps(images, texts)
        return [m > cut for m in maps] if isinstance(maps, list) else maps > cut

    def calibrate(self, n_scenes: int = 300, seed: int = 5,
                  grid: Sequence[float] = THRESHOLD_GRID) -> dict[float, float]:
        """Set ``threshold`` to the grid value with the best mIoU on training scenes; returns mIoU per threshold."""
        batch = referring_batch(n_scenes, seed=seed, split="train", heldout_names=False)
        maps = self.maps(batch.images, batch.texts)  # (N, H, W)
        scores = {t: referring_metrics(maps > t, batch.masks)["mIoU"] for t in grid}
        self.threshold = max(scores, key=scores.get)
        return scores


def min_max(maps: Tensor) -> Tensor:
    """Each map (B, H, W) rescaled to span [0, 1]."""
    low = maps.flatten(1).min(1).values[:, None, None]
    high = maps.flatten(1).max(1).values[:, None, None]
    return (maps - low) / (high - low).clamp(min=1e-8)
