"""CRIS tied to a CLIP from ``transformers``: image + expression → one logit per pixel → a mask.

    pixel_values ─ CLIP vision (3 layers) ─ SimplePyramid ─┐
                                                           ├─ CrossModalNeck ─ F_v ─ VisionLanguageDecoder ─ F_c ─┐
    expression ─── CLIP text ─┬─ sentence F_s (projected) ─┘                    ↑ words + padding mask            │
                              └─ word features ──────────────────────────────────┘                                │
                                 F_s ─────────────────────────────────────────────────────────────── Projector ───┴─ logits

The CLIP is frozen by default; with ``fine_tune=True`` its parameters train too, at ``backbone_lr_scale`` (0.1,
the paper's) times the head's learning rate. Two switches give the paper's ablations: ``use_decoder=False`` feeds
F_v straight to the projector, and ``kernel_size=1`` replaces the 3×3 dynamic kernel by a plain per-pixel dot
product with the sentence. ``refiner_channels > 0`` (not in CRIS) adds :class:`~vlseg.cris.refiner.PixelRefiner`,
which redraws the logits at the input's resolution from the logits and the pixels.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import torch
from torch import Tensor, nn

from vlseg.checks import check_int, check_positive_int, check_probability
from vlseg.clip import ClipBundle
from vlseg.cris.decoder import VisionLanguageDecoder
from vlseg.cris.neck import CrossModalNeck
from vlseg.cris.projector import Projector
from vlseg.cris.pyramid import SimplePyramid
from vlseg.cris.refiner import PixelRefiner
from vlseg.images import as_images
from vlseg.text import pair_texts


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
    refiner_channels: int = 0  # > 0: a PixelRefiner of that width after the projector (not in CRIS); 0: none

    def __post_init__(self) -> None:
        check_int(self.refiner_channels, "refiner_channels", 0)  # 0: no refiner, as in CRIS

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def for_clip(cls, bundle: ClipBundle, **changes: Any) -> "CrisConfig":
        """The default config with ``vision_layers`` spread over this CLIP's depth (:func:`spread_layers`), plus
        ``changes``: (2, 3, 4) for the tiny CLIP, as the default, and (6, 9, 12) for a ViT-B/16."""
        changes.setdefault("vision_layers", spread_layers(len(bundle.model.vision_model.encoder.layers)))
        return cls(**changes)


def spread_layers(num_layers: int) -> tuple[int, int, int]:
    """Hidden-state indices at half, three quarters and the end of a ViT of ``num_layers`` blocks."""
    return (num_layers // 2, 3 * num_layers // 4, num_layers)


@dataclass
class ClipFeatures:
    """What CRIS reads from the CLIP: three vision layers, per-word features with their padding mask, the sentence."""

    hidden: tuple[Tensor, Tensor, Tensor]  # (B, 1 + T, C) each, the layers in ``CrisConfig.vision_layers``
    words: Tensor  # (B, L, C_t)
    padding_mask: Tensor  # (B, L), True = padding
    sentence: Tensor  # (B, D)


@dataclass
class CrisOutput:
    """CRIS's forward pass: one logit per pixel at stride P/4, the neck's map F_v, and the decoder's attention."""

    logits: Tensor  # (B, 1, h, w); with a refiner (B, 1, S, S), the input's resolution
    visual: Tensor  # (B, d, h, w): F_v
    attention: list[Tensor] = field(default_factory=list)  # per decoder layer, cross-attention (B, h·w, L)


class CRIS(nn.Module):
    """The full model. ``forward`` takes CLIP inputs; ``predict`` takes images and expressions.

    Without a ``config``, :meth:`CrisConfig.for_clip` picks one for ``bundle``: the default, with the vision layers
    spread over its depth (for the tiny CLIP exactly ``CrisConfig()``).
    """

    def __init__(self, bundle: ClipBundle, config: CrisConfig | None = None) -> None:
        super().__init__()
        config = CrisConfig.for_clip(bundle) if config is None else config  # layers spread over this CLIP's depth
        self.config = config
        layers = len(bundle.model.vision_model.encoder.layers)
        if not all(0 <= index <= layers for index in config.vision_layers):
            raise ValueError(f"vision_layers {config.vision_layers} must lie in [0, {layers}] for this CLIP "
                             "(CrisConfig.for_clip(bundle) spreads them over its depth)")
        if config.fine_tune:
            bundle = copy.deepcopy(bundle)  # the caller's CLIP stays as it was
            self.clip = bundle.model  # registered: trained (at a lower learning rate)
            for param in self.clip.parameters():
                param.requires_grad_(True)
                param.lr_scale = config.backbone_lr_scale  # read by vlseg.training.make_optimizer
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
        self.refiner = PixelRefiner(config.refiner_channels) if config.refiner_channels else None

    def encode(self, pixel_values: Tensor, input_ids: Tensor, attention_mask: Tensor) -> ClipFeatures:
        """The CLIP side: three vision layers, word features + padding mask, sentence feature."""
        with torch.set_grad_enabled(self.config.fine_tune and torch.is_grad_enabled()):
            hidden = self.bundle.vision_hidden_states(pixel_values)
            words, padding_mask = self.bundle.word_features(input_ids, attention_mask)  # (B, L, C_t), (B, L)
            sentence = self.bundle.text_embeds(input_ids, attention_mask)  # (B, D)
        return ClipFeatures(tuple(hidden[i] for i in self.config.vision_layers), words, padding_mask, sentence)

    def forward(self, pixel_values: Tensor, input_ids: Tensor, attention_mask: Tensor) -> CrisOutput:
        """→ :class:`CrisOutput`: ``logits`` (B, 1, h, w) at stride P/4 of the input (with a refiner (B, 1, S, S), at
        the input's resolution), ``visual`` (F_v), ``attention``."""
        if pixel_values.shape[0] != input_ids.shape[0]:
            raise ValueError(f"{pixel_values.shape[0]} images for {input_ids.shape[0]} expressions: pass one each")
        clip = self.encode(pixel_values, input_ids, attention_mask)
        visual = self.neck(self.pyramid(clip.hidden), clip.sentence)  # (B, d, h, w): F_v
        attention: list[Tensor] = []
        fused = visual
        if self.decoder is not None:
            tokens, attention = self.decoder(visual, clip.words, clip.padding_mask)  # (B, h·w, d)
            fused = tokens.transpose(1, 2).reshape(visual.shape)  # F_c as a map
        logits = self.projector(fused, clip.sentence)  # (B, 1, h, w)
        if self.refiner is not None:
            logits = self.refiner(logits, pixel_values)  # (B, 1, S, S)
        return CrisOutput(logits, visual, attention)

    @torch.no_grad()
    def probabilities(self, images: Any, texts: str | Sequence[str], batch_size: int = 100) -> Tensor | list[Tensor]:
        """σ(logit) per pixel, resized back to each image's size: (N, H, W), or a list of (H, W) for a list of
        images. ``texts``: one expression per image, or a single one for all."""
        checked = as_images(images)
        texts = pair_texts(texts, len(checked))
        batch_size = check_positive_int(batch_size, "batch_size")
        was_training = self.training
        self.eval()
        logits = []
        for start, chunk in zip(range(0, len(checked), batch_size), checked.split(batch_size)):
            tokens = self.bundle.tokenize(texts[start : start + batch_size])
            logits.append(self.forward(self.bundle.pixel_values(chunk), **tokens).logits.float().cpu())  # (b, 1, h, w)
        self.train(was_training)
        probabilities = checked.back(torch.sigmoid(torch.cat(logits)))  # bilinear, as the paper upsamples
        return [p[0] for p in probabilities] if isinstance(probabilities, list) else probabilities[:, 0]

    @torch.no_grad()
    def predict(self, images: Any, texts: str | Sequence[str], threshold: float | None = None,
                batch_size: int = 100) -> Tensor | list[Tensor]:
        """The referred object's mask, BoolTensor (N, H, W) at the input resolution (a list of (H, W) for a list of
        images): sigmoid → bilinear resize back to the image → threshold (0.35, the paper's).

        ``images``: as :mod:`vlseg.images` accepts them; ``texts``: one expression per image, or one for all.
        """
        cut = self.config.threshold if threshold is None else check_probability(threshold, "threshold")
        probabilities = self.probabilities(images, texts, batch_size)
        if isinstance(probabilities, list):
            return [p > cut for p in probabilities]
        return probabilities > cut
