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

from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from vlseg.clip import ClipBundle
from vlseg.cris.data import referring_batch
from vlseg.metrics import referring_metrics
from vlseg.patches import logits_to_pixels

PatchEmbedFn = Callable[[Tensor], Tensor]  # pixel_values (B, 3, S, S) → patch embeddings (B, T, D)
THRESHOLD_GRID = tuple(round(0.05 * k, 2) for k in range(1, 20))  # 0.05 … 0.95


class SimilarityMapBaseline:
    """``predict(images, texts)`` → boolean masks, like :meth:`vlseg.cris.model.CRIS.predict`, without training."""

    def __init__(self, bundle: ClipBundle, patch_embed_fn: PatchEmbedFn, threshold: float = 0.5) -> None:
        self.bundle = bundle
        self.patch_embed_fn = patch_embed_fn
        self.threshold = threshold

    @torch.no_grad()
    def maps(self, images: np.ndarray, texts: Sequence[str]) -> Tensor:
        """Min–max normalised similarity of each image with its own expression: (B, H, W) in [0, 1]."""
        if len(texts) != len(images):
            raise ValueError(f"{len(images)} images for {len(texts)} expressions")
        if any(not text.strip() for text in texts):
            raise ValueError("empty expression")
        pixel_values = self.bundle.pixel_values(images, resize=True)
        patch_embeds = self.patch_embed_fn(pixel_values)  # (B, T, D)
        text_embeds = self.bundle.encode_texts(list(texts), normalize=False)  # (B, D)
        height, width = np.shape(images)[1:3]
        # Each image against its own expression only (the diagonal of chapter 02's all-pairs cosine).
        cosine = torch.einsum("btd,bd->bt", F.normalize(patch_embeds, dim=-1), F.normalize(text_embeds, dim=-1))
        similarity = logits_to_pixels(cosine[..., None].float(), (height, width))[:, 0]  # (B, T, 1) → (B, H, W)
        low = similarity.flatten(1).min(1).values[:, None, None]
        high = similarity.flatten(1).max(1).values[:, None, None]
        return ((similarity - low) / (high - low).clamp(min=1e-8)).cpu()

    def predict(self, images: np.ndarray, texts: str | Sequence[str], threshold: float | None = None) -> Tensor:
        texts = [texts] * len(images) if isinstance(texts, str) else list(texts)
        return self.maps(images, texts) > (self.threshold if threshold is None else threshold)

    def calibrate(self, n_scenes: int = 300, seed: int = 5,
                  grid: Sequence[float] = THRESHOLD_GRID) -> dict[float, float]:
        """Set ``threshold`` to the grid value with the best mIoU on training scenes; returns mIoU per threshold."""
        batch = referring_batch(n_scenes, seed=seed, split="train", heldout_names=False)
        maps = self.maps(batch.images, batch.texts)  # (N, H, W)
        scores = {t: referring_metrics(maps > t, batch.masks)["mIoU"] for t in grid}
        self.threshold = max(scores, key=scores.get)
        return scores
