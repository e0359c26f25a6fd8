"""PACL's model: a frozen CLIP with the trained vision embedder, and the public calls ``segment`` and ``query_maps``.

Inference, as in the paper: embed every class name with the prompt ensemble, embed every patch with e_v, take the
cosine of each patch with each class (B, T, K), lay it out on the patch grid, resize back to each image's own size
(:mod:`vlseg.images`: resize-and-back) and take the argmax per pixel.

**Background** (the paper evaluates without one). With ``background="auto"`` a pixel whose best class cosine
stays below a threshold gets −1: no class. The threshold is *calibrated*, once per model, on ShapesWorld training
scenes: the value on a grid that maximises mIoU with background as one more class (:meth:`PaclModel.calibrate_background`).
A float gives the threshold directly; ``None`` assigns every pixel a class (PACL's VOC-20 protocol).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

import torch
from torch import Tensor, nn

from vlseg.checks import check_int, check_number, check_positive_int
from vlseg.clip import ClipBundle
from vlseg.data import CLASS_NAMES, IGNORE_INDEX, NUM_CLASSES, generate_batch
from vlseg.images import Images, as_images
from vlseg.metrics import IoUAccumulator
from vlseg.pacl.embedder import VisionEmbedder
from vlseg.pacl.loss import PaclLoss
from vlseg.pacl.tuned_tail import TunedVisionTail
from vlseg.patches import patch_grid, patch_logits
from vlseg.segmentation import class_targets
from vlseg.text import PROMPT_TEMPLATES, check_texts
from vlseg.zeroshot import class_text_embeds

NO_CLASS = -1  # the label of background pixels in segment()
BACKGROUND_GRID = tuple(round(0.025 * k, 3) for k in range(0, 40))  # cosine thresholds tried: 0 … 0.975
CALIBRATION_SCENES, CALIBRATION_SEED = 200, 3  # training scenes, never the validation ones


@dataclass(frozen=True)
class PaclConfig:
    patch_temperature: float = 0.05  # τ of the softmax over patches in φ̂
    hidden_dim: int = 384  # width of e_v's MLP branch
    context_kernel: int = 1  # 1: e_v sees one patch (the paper); k > 1 adds a k × k conv over the token grid
    tuned_blocks: int = 0  # 0: CLIP frozen (the paper); k > 0 trains a copy of its last k vision blocks (route c)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class PaclModel(nn.Module):
    """A frozen CLIP with PACL's trainable vision embedder (and the loss's logit scale).

    Only ``embedder`` and ``loss`` are parameters of this module (and, with ``tuned_blocks`` > 0, ``tuned_tail``: a
    trainable copy of the CLIP's last vision blocks, :mod:`vlseg.pacl.tuned_tail`); the CLIP is held as a plain
    attribute and never changes, so checkpoints hold the trained part alone.
    """

    def __init__(self, bundle: ClipBundle, config: PaclConfig = PaclConfig()) -> None:
        super().__init__()
        self.config = config
        self.bundle = bundle
        for param in bundle.model.parameters():
            param.requires_grad_(False)
        tuned_blocks = check_int(config.tuned_blocks, "tuned_blocks", low=0)
        self.tuned_tail = TunedVisionTail(bundle, tuned_blocks) if tuned_blocks else None
        self.embedder = VisionEmbedder.from_projection(bundle.model.visual_projection, config.hidden_dim,
                                                       config.context_kernel)
        self.loss = PaclLoss(patch_temperature=config.patch_temperature)
        self.background_threshold: float | None = None  # set by calibrate_background()

    @property
    def patch_temperature(self) -> float:
        return self.loss.patch_temperature

    def patch_embeds(self, pixel_values: Tensor) -> Tensor:
        """PACL's embedded patches e_v(f̂_v(x)): (B, 3, S, S) → (B, T, D). The frozen CLIP's tokens carry no gradient;
        with a tuned tail, its last blocks are the trained copy's."""
        if self.tuned_tail is not None:
            return self.embedder(self.tuned_tail(self.bundle, pixel_values))
        with torch.no_grad():
            tokens = self.bundle.patch_tokens(pixel_values, output="normed")  # (B, T, C)
        return self.embedder(tokens)

    @torch.no_grad()
    def text_embeds(self, texts: Sequence[str]) -> Tensor:
        """Frozen CLIP text embeddings (B, D), not normalised."""
        return self.bundle.encode_texts(list(texts), normalize=False)

    def to(self, *args: Any, **kwargs: Any) -> "PaclModel":
        self.bundle.model.to(*args, **kwargs)
        return super().to(*args, **kwargs)

    # ---- the public calls ------------------------------------------------------------------------------------------
    @torch.no_grad()
    def query_maps(self, images: Any, texts: str | Sequence[str], batch_size: int = 256) -> Tensor | list[Tensor]:
        """Cosine of every pixel's patch embedding with every text: (N, Q, H, W) at the input size (a list of
        (Q, H, W) for a list of images). ``texts``: one string or a list of Q strings, used for every image."""
        checked = as_images(images)
        text_embeds = self.text_embeds(check_texts(texts, "texts"))  # (Q, D)
        return checked.back(self._grid_cosines(checked, text_embeds, batch_size))

    @torch.no_grad()
    def segment(self, images: Any, class_names: Sequence[str], background: str | float | None = "auto",
                templates: Sequence[str] = PROMPT_TEMPLATES, batch_size: int = 256) -> Tensor | list[Tensor]:
        """Per pixel, the index of its class in ``class_names``: LongTensor (N, H, W) at the input size (a list of
        (H, W) for a list of images). Background pixels get −1 (see the module docstring for ``background``)."""
        checked = as_images(images)
        threshold = self._background_threshold(background)
        class_embeds = class_text_embeds(self.bundle, class_names, templates)  # (K, D)
        pixel_logits = checked.back(self._grid_cosines(checked, class_embeds, batch_size))  # (N, K, H, W) or a list
        if isinstance(pixel_logits, list):
            return [label_pixels(logits[None], threshold)[0] for logits in pixel_logits]
        return label_pixels(pixel_logits, threshold)

    def _grid_cosines(self, images: Images, text_embeds: Tensor, batch_size: int) -> Tensor:
        """Cosine of every patch with every text on the patch grid: (N, Q, G, G), on the CPU, ``batch_size`` images
        at a time."""
        batch_size = check_positive_int(batch_size, "batch_size")
        return torch.cat([patch_grid(patch_logits(self.patch_embeds(self.bundle.pixel_values(chunk)), text_embeds)).cpu()
                          for chunk in images.split(batch_size)])  # (N, Q, G, G)

    def _background_threshold(self, background: str | float | None) -> float | None:
        if background is None:
            return None
        if isinstance(background, str):
            if background != "auto":
                raise ValueError(f"background must be 'auto', a cosine threshold in [-1, 1] or None; got {background!r}")
            if self.background_threshold is None:
                self.calibrate_background()
            return self.background_threshold
        return check_number(background, "background", -1.0, 1.0, what="'auto', a number or None")

    @torch.no_grad()
    def calibrate_background(self, n_scenes: int = CALIBRATION_SCENES, seed: int = CALIBRATION_SEED,
                             grid: Sequence[float] = BACKGROUND_GRID, world: str = "v1") -> dict[float, float]:
        """Pick the background threshold with the best mIoU (49 classes + background) on ShapesWorld *training*
        scenes of ``world`` (the one the embedder was trained on: "v1" or "v2"); stores it in
        ``background_threshold`` and returns the mIoU of every threshold tried."""
        scenes = generate_batch(n_scenes, seed=seed, split="train", world=world)
        targets = class_targets(scenes.semantic, background=NUM_CLASSES)  # (N, H, W): class, background = K, ignore
        class_embeds = class_text_embeds(self.bundle, list(CLASS_NAMES))
        checked = as_images(scenes.images)
        pixel_logits = checked.back(self._grid_cosines(checked, class_embeds, n_scenes))  # (N, K, H, W)
        best, labels = pixel_logits.max(1)
        scores = {}
        for threshold in grid:
            accumulator = IoUAccumulator(NUM_CLASSES + 1, IGNORE_INDEX)
            accumulator.update(torch.where(best < threshold, NUM_CLASSES, labels), targets)
            scores[float(threshold)] = accumulator.compute()[0]
        self.background_threshold = max(scores, key=scores.get)
        return scores


def label_pixels(pixel_logits: Tensor, threshold: float | None) -> Tensor:
    """Pixel cosines (N, K, H, W) → class index per pixel (N, H, W), −1 where the best cosine is below ``threshold``."""
    best, labels = pixel_logits.max(1)
    return labels if threshold is None else torch.where(best < threshold, NO_CLASS, labels)
