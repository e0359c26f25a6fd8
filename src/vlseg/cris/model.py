"""CRIS tied to a CLIP from ``transformers``: image + expression → one logit per pixel → a mask.

    pixel_values ─ CLIP vision (3 layers) ─ SimplePyramid ─┐
                                                           ├─ CrossModalNeck ─ F_v ─ VisionLanguageDecoder ─ F_c ─┐
    expression ─── CLIP text ─┬─ sentence F_s (projected) ─┘                    ↑ words + padding mask            │
                              └─ word features ──────────────────────────────────┘                                │
                                 F_s ─────────────────────────────────────────────────────────────── Projector ───┴─ logits

The CLIP is frozen by default; with ``fine_tune=True`` its parameters train too, at ``backbone_lr_scale`` (0.1,
the paper's) times the head's learning rate. Two switches give the paper's ablations: ``use_decoder=False`` feeds
F_v straight to the projector, and ``kernel_size=1`` replaces the 3×3 dynamic kernel by a plain per-pixel dot
product with the sentence.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vlseg.clip import ClipBundle
from vlseg.cris.decoder import VisionLanguageDecoder
from vlseg.cris.neck import CrossModalNeck
from vlseg.cris.projector import Projector
from vlseg.cris.pyramid import SimplePyramid


@dataclass(frozen=True)
class CrisConfig:
    vision_layers: tuple[int, int, int] = (2, 3, 4)  # hidden-state indices feeding the fine, middle, coarse scales
    pyramid_channels: tuple[int, int, int] = (64, 96, 128)
    dim: int = 96  # neck output channels = decoder width
    decoder_layers: int = 3
    heads: int = 4
    ffn_dim: int = 256
    dropout: float = 0.1
    projector_channels: int = 32
    kernel_size: int = 3  # 1: the "plain dot product" ablation
    use_decoder: bool = True
    fine_tune: bool = False
    backbone_lr_scale: float = 0.1
    threshold: float = 0.35

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class CRIS(nn.Module):
    """The full model. ``forward`` takes CLIP inputs; ``predict`` takes images and expressions."""

    def __init__(self, bundle: ClipBundle, config: CrisConfig = CrisConfig()) -> None:
        super().__init__()
        self.config = config
        layers = len(bundle.model.vision_model.encoder.layers)
        if not all(0 <= index <= layers for index in config.vision_layers):
            raise ValueError(f"vision_layers {config.vision_layers} must lie in [0, {layers}] for this CLIP")
        if config.fine_tune:
            bundle = copy.deepcopy(bundle)  # the caller's CLIP stays as it was
            self.clip = bundle.model  # registered: trained (at a lower learning rate)
            for param in self.clip.parameters():
                param.requires_grad_(True)
                param.lr_scale = config.backbone_lr_scale  # read by vlseg.train.make_optimizer
        else:
            for param in bundle.model.parameters():
                param.requires_grad_(False)
        self.bundle = bundle
        vision_width = bundle.model.config.vision_config.hidden_size
        text_width = bundle.model.config.text_config.hidden_size
        sentence_dim = bundle.embed_dim
        self.pyramid = SimplePyramid(vision_width, config.pyramid_channels)
        self.neck = CrossModalNeck(config.pyramid_channels, sentence_dim, config.dim)
        self.decoder = (VisionLanguageDecoder(config.dim, text_width, config.decoder_layers, config.heads, config.ffn_dim,
                                              config.dropout) if config.use_decoder else None)
        self.projector = Projector(config.dim, sentence_dim, config.projector_channels, config.kernel_size)

    def encode(self, pixel_values: Tensor, input_ids: Tensor, attention_mask: Tensor) -> dict[str, Any]:
        """The CLIP side: three vision layers, word features + padding mask, sentence feature."""
        with torch.set_grad_enabled(self.config.fine_tune and torch.is_grad_enabled()):
            hidden = self.bundle.vision_hidden_states(pixel_values)
            words, padding_mask = self.bundle.word_features(input_ids, attention_mask)  # (B, L, C_t), (B, L)
            sentence = self.bundle.text_embeds(input_ids, attention_mask)  # (B, D)
        return {"hidden": tuple(hidden[i] for i in self.config.vision_layers), "words": words,
                "padding_mask": padding_mask, "sentence": sentence}

    def forward(self, pixel_values: Tensor, input_ids: Tensor, attention_mask: Tensor) -> dict[str, Any]:
        """→ ``logits`` (B, 1, h, w) at stride P/4 of the input, plus ``visual`` (F_v) and decoder ``attention``."""
        if pixel_values.shape[0] != input_ids.shape[0]:
            raise ValueError(f"{pixel_values.shape[0]} images for {input_ids.shape[0]} expressions: pass one each")
        clip = self.encode(pixel_values, input_ids, attention_mask)
        visual = self.neck(self.pyramid(clip["hidden"]), clip["sentence"])  # (B, d, h, w): F_v
        attention: list[Tensor] = []
        fused = visual
        if self.decoder is not None:
            tokens, attention = self.decoder(visual, clip["words"], clip["padding_mask"])  # (B, h·w, d)
            fused = tokens.transpose(1, 2).reshape(visual.shape)  # F_c as a map
        return {"logits": self.projector(fused, clip["sentence"]), "visual": visual, "attention": attention}

    @torch.no_grad()
    def predict(self, images: Any, expressions: str | Sequence[str], threshold: float | None = None) -> Tensor:
        """Boolean masks (B, H, W) at the input resolution: sigmoid → bilinear upsampling → threshold (0.35).

        ``images``: (B, H, W, 3) / (H, W, 3) uint8 or a list of PIL images; one expression per image (a single
        string is used for every image).
        """
        if isinstance(expressions, str):
            expressions = [expressions]
        if isinstance(images, (list, tuple)):
            sizes = [np.asarray(image).shape[:2] for image in images]
        else:
            array = np.asarray(images) if not isinstance(images, Tensor) else images
            sizes = [tuple(array.shape[-3:-1])] * (1 if array.ndim == 3 else array.shape[0])
        if len(expressions) == 1 and len(sizes) > 1:
            expressions = list(expressions) * len(sizes)
        if len(expressions) != len(sizes):
            raise ValueError(f"{len(sizes)} images for {len(expressions)} expressions")
        was_training = self.training
        self.eval()
        pixel_values = self.bundle.pixel_values(images, resize=True)
        logits = self.forward(pixel_values, **self.bundle.tokenize(list(expressions)))["logits"]  # (B, 1, h, w)
        self.train(was_training)
        probabilities = torch.sigmoid(logits.float())
        cut = self.config.threshold if threshold is None else threshold
        return torch.stack([F.interpolate(p[None], size=size, mode="bilinear", align_corners=False)[0, 0] > cut
                            for p, size in zip(probabilities, sizes)])
