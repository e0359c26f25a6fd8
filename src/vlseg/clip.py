"""CLIP from ``transformers``, and the accessors the later chapters need.

``build_clip(name)`` returns a :class:`ClipBundle` (model + tokenizer + image preprocessing) for

* ``"tiny-clip-shapes"`` – the course's tiny CLIP for 64×64 ShapesWorld images, randomly
  initialised (``vlseg.pretrained("tiny-clip-shapes")`` gives the trained one);
* a hub id such as ``"openai/clip-vit-base-patch16"`` or a local folder saved with
  ``save_pretrained`` – loaded with ``CLIPModel``, ``AutoTokenizer`` (``CLIPTokenizerFast`` for
  OpenAI's checkpoints) and ``CLIPImageProcessor``.

The encoders are ``transformers``' own ``CLIPModel``; nothing here re-implements them. What this
module adds are the views of the model that segmentation needs:

* image embedding (CLS token → post-LayerNorm → visual projection), ``(B, D)``;
* **patch tokens** for every patch, before or after the visual projection, ``(B, T, C)`` or ``(B, T, D)``.
  ``transformers`` applies ``post_layernorm`` to the CLS token only; we apply it to the patch tokens
  ourselves, so projected patch tokens live in the same space as the image embedding;
* text embedding (end-of-text token → text projection), ``(B, D)``;
* per-word text features (after the final LayerNorm) with the padding mask, ``(B, L, C)``;
* hidden states of intermediate vision layers, ``(B, 1 + T, C)`` each.
"""

from __future__ import annotations

import os
import socket
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from transformers import CLIPConfig, CLIPModel, PreTrainedTokenizerBase

from vlseg.checks import check_path
from vlseg.device import pick_device
from vlseg.images import as_images
from vlseg.text import CONTEXT_LENGTH, PROMPT_TEMPLATES, check_texts, shipped_tokenizer
from vlseg.zeroshot import predict as zero_shot_predict

TINY_CLIP_NAME = "tiny-clip-shapes"
PATCH_OUTPUTS = ("hidden", "normed", "projected")

# The tiny CLIP for ShapesWorld: 64×64 images in 8×8 patches (64 patch tokens + CLS), narrow widths.
# Chosen for speed on a CPU; see benchmarks/ and the chapter 01 for what was measured.
TINY_CLIP_SPEC: dict[str, Any] = {
    "image_size": 64,
    "patch_size": 8,
    "vision_width": 96,
    "vision_layers": 4,
    "vision_heads": 3,
    "text_width": 96,
    "text_layers": 3,
    "text_heads": 3,
    "mlp_ratio": 4,
    "projection_dim": 96,
    "context_length": CONTEXT_LENGTH,
    "vocab_size": 512,
    # pixel statistics of ShapesWorld (measured on 4,096 training scenes of 1–4 objects; a test re-measures them)
    "image_mean": [0.4501, 0.4398, 0.4246],
    "image_std": [0.2080, 0.1643, 0.1925],
}


def tiny_clip_config(spec: dict[str, Any] = TINY_CLIP_SPEC) -> CLIPConfig:
    """A ``CLIPConfig`` from the compact spec above, with the tokenizer's special-token ids."""
    text_config = {
        "vocab_size": spec["vocab_size"],
        "hidden_size": spec["text_width"],
        "intermediate_size": spec["text_width"] * spec["mlp_ratio"],
        "num_hidden_layers": spec["text_layers"],
        "num_attention_heads": spec["text_heads"],
        "max_position_embeddings": spec["context_length"],
        "bos_token_id": 0,
        "eos_token_id": 1,  # not 2: see vlseg.text
        "pad_token_id": 2,
    }
    vision_config = {
        "image_size": spec["image_size"],
        "patch_size": spec["patch_size"],
        "hidden_size": spec["vision_width"],
        "intermediate_size": spec["vision_width"] * spec["mlp_ratio"],
        "num_hidden_layers": spec["vision_layers"],
        "num_attention_heads": spec["vision_heads"],
    }
    return CLIPConfig(text_config=text_config, vision_config=vision_config, projection_dim=spec["projection_dim"])


@dataclass
class ClipBundle:
    """A CLIP model with its tokenizer and image preprocessing, plus the accessors of this course."""

    name: str
    model: CLIPModel
    tokenizer: PreTrainedTokenizerBase
    image_processor: Any  # CLIPImageProcessor (or its PIL twin without torchvision)

    # ---- properties ------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def image_size(self) -> int:
        return int(self.model.config.vision_config.image_size)

    @property
    def patch_size(self) -> int:
        return int(self.model.config.vision_config.patch_size)

    @property
    def grid_size(self) -> int:
        """Patches per side: the patch tokens form a ``grid_size × grid_size`` map."""
        return self.image_size // self.patch_size

    @property
    def embed_dim(self) -> int:
        return int(self.model.config.projection_dim)

    def to(self, device: str | torch.device) -> "ClipBundle":
        self.model.to(device)
        return self

    # ---- inputs ----------------------------------------------------------------------------------
    def pixel_values(self, images: Any) -> torch.Tensor:
        """Images → normalised ``pixel_values`` (B, 3, S, S) on the model's device.

        ``images`` as :mod:`vlseg.images` accepts them (uint8, channels last: (H, W, 3), (B, H, W, 3), PIL, or a
        list). Images of another size than the model's ``S × S`` are resized to it, aspect ratio not kept
        (bilinear, antialiased); images already ``S × S`` are used as they are.
        """
        pixels = as_images(images).model_input(self.image_size).to(self.device)  # (B, 3, S, S) in [0, 1]
        mean = torch.tensor(self.image_processor.image_mean, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(self.image_processor.image_std, device=self.device).view(1, 3, 1, 1)
        return (pixels - mean) / std

    @torch.no_grad()
    def classify(self, images: Any, class_names: Sequence[str], templates: Sequence[str] = PROMPT_TEMPLATES,
                 batch_size: int = 512) -> torch.Tensor:
        """Zero-shot classification: for each image the index of its class in ``class_names``, LongTensor (N,).

        ``images`` as :mod:`vlseg.images` accepts them (a list of any sizes too); ``class_names`` a list of names.
        """
        return zero_shot_predict(self, images, class_names, templates, batch_size)

    def tokenize(self, texts: str | Sequence[str]) -> dict[str, torch.Tensor]:
        """Texts → ``input_ids`` and ``attention_mask`` (B, L), padded to the longest, on the model's device."""
        texts = check_texts(texts)
        specials = [token for token in self.tokenizer.all_special_tokens if token]
        for index, text in enumerate(texts):
            found = [token for token in specials if token in text]
            if found:
                raise ValueError(f"texts[{index}] contains the special token(s) {found}, which the tokenizer would "
                                 "read as control tokens (end of text, padding); remove them")
        encoded = self.tokenizer(texts, padding=True, return_tensors="pt")
        if encoded["input_ids"].shape[1] > self.context_length:  # rare: cut at the context, as CLIP does, and say so
            too_long = (encoded["attention_mask"].sum(1) > self.context_length).nonzero().flatten().tolist()
            warnings.warn(f"texts {too_long[:5]} are longer than the context of {self.context_length} tokens and are "
                          "cut there (as CLIP does): words past it do not count", stacklevel=2)
            encoded = self.tokenizer(texts, padding=True, truncation=True, max_length=self.context_length,
                                     return_tensors="pt")
        return {"input_ids": encoded["input_ids"].to(self.device), "attention_mask": encoded["attention_mask"].to(self.device)}

    @property
    def context_length(self) -> int:
        return int(self.model.config.text_config.max_position_embeddings)

    # ---- image side ------------------------------------------------------------------------------
    def image_embeds(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """CLS path: (B, 3, S, S) → (B, D), not normalised."""
        return self.model.get_image_features(pixel_values=pixel_values).pooler_output

    def vision_hidden_states(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Hidden states of every vision layer: a tuple of ``num_layers + 1`` tensors (B, 1 + T, C).

        Index 0 is the embedding output (after the pre-LayerNorm), index ``k`` the output of block ``k``.
        """
        out = self.model.vision_model(pixel_values=pixel_values, output_hidden_states=True)
        return tuple(out.hidden_states)

    def vision_tokens(self, pixel_values: torch.Tensor, layer: int = -1) -> torch.Tensor:
        """All tokens (CLS first) of vision layer ``layer``, raw: (B, 1 + T, C). The last layer needs no extra copies."""
        if layer == -1:
            return self.model.vision_model(pixel_values=pixel_values).last_hidden_state
        return self.vision_hidden_states(pixel_values)[layer]

    def patch_tokens(self, pixel_values: torch.Tensor, *, output: str = "projected", layer: int = -1) -> torch.Tensor:
        """Patch tokens of vision layer ``layer`` (default: the last), CLS removed — the one way the course reads them.

        ``output``: ``"hidden"`` the raw hidden states (B, T, C); ``"normed"`` after ``post_layernorm`` (B, T, C),
        PACL's input; ``"projected"`` post-LayerNorm then the visual projection, as CLIP does to its CLS token,
        giving (B, T, D) in the joint space.
        """
        if output not in PATCH_OUTPUTS:
            raise ValueError(f"output must be one of {PATCH_OUTPUTS}; got {output!r}")
        hidden = self.vision_tokens(pixel_values, layer)[:, 1:, :]  # (B, T, C)
        if output == "hidden":
            return hidden
        if output == "projected":
            return self.project_patches(hidden)  # (B, T, D)
        return self.model.vision_model.post_layernorm(hidden)  # (B, T, C)

    def project_patches(self, hidden: torch.Tensor) -> torch.Tensor:
        """(B, T, C) vision hidden states → (B, T, D): post-LayerNorm + visual projection."""
        return self.model.visual_projection(self.model.vision_model.post_layernorm(hidden))

    def image_and_patch_embeds(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One forward pass: image embedding (B, D) and projected patch tokens (B, T, D)."""
        projected = self.project_patches(self.vision_tokens(pixel_values))  # (B, 1 + T, D)
        return projected[:, 0], projected[:, 1:]

    # ---- text side -------------------------------------------------------------------------------
    def text_embeds(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """End-of-text path: (B, L) → (B, D), not normalised."""
        return self.model.get_text_features(input_ids=input_ids, attention_mask=attention_mask).pooler_output

    def word_features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-token text features after the final LayerNorm (B, L, C) and the padding mask (B, L), True = padding."""
        out = self.model.text_model(input_ids=input_ids, attention_mask=attention_mask)
        return out.last_hidden_state, attention_mask == 0

    def encode_texts(self, texts: str | Sequence[str], normalize: bool = True) -> torch.Tensor:
        """Convenience: texts → (B, D) text embeddings (L2-normalised by default)."""
        embeds = self.text_embeds(**self.tokenize(texts))
        return torch.nn.functional.normalize(embeds, dim=-1) if normalize else embeds

    def encode_images(self, images: Any, normalize: bool = True) -> torch.Tensor:
        """Convenience: images → (B, D) image embeddings (L2-normalised by default)."""
        embeds = self.image_embeds(self.pixel_values(images))
        return torch.nn.functional.normalize(embeds, dim=-1) if normalize else embeds


def image_processor_class() -> type:
    """``CLIPImageProcessor`` where torchvision is installed, else its PIL twin (same maths, no warning)."""
    import importlib.util

    if importlib.util.find_spec("torchvision") is not None:
        from transformers import CLIPImageProcessor

        return CLIPImageProcessor
    from transformers import CLIPImageProcessorPil

    return CLIPImageProcessorPil


def tiny_image_processor(spec: dict[str, Any] = TINY_CLIP_SPEC) -> Any:
    """The image processor of the tiny CLIP: resize the short side and crop to the input size, normalise."""
    size = spec["image_size"]
    return image_processor_class()(
        size={"shortest_edge": size},
        crop_size={"height": size, "width": size},
        image_mean=list(spec["image_mean"]),
        image_std=list(spec["image_std"]),
    )


def build_tiny_clip(tokenizer: PreTrainedTokenizerBase | None = None, seed: int = 0) -> ClipBundle:
    """The tiny ShapesWorld CLIP, randomly initialised with ``seed``."""
    tokenizer = tokenizer if tokenizer is not None else shipped_tokenizer()
    if len(tokenizer) > TINY_CLIP_SPEC["vocab_size"]:
        raise ValueError(
            f"tokenizer has {len(tokenizer)} tokens but the tiny CLIP's embedding table has only "
            f"{TINY_CLIP_SPEC['vocab_size']} rows"
        )
    torch.manual_seed(seed)
    model = CLIPModel(tiny_clip_config())
    model.eval()
    return ClipBundle(TINY_CLIP_NAME, model, tokenizer, tiny_image_processor())


def _hub_reachable(timeout: float = 3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return False
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout):
            return True
    except OSError:
        return False


def build_clip(name: str = TINY_CLIP_NAME, device: str | torch.device | None = None) -> ClipBundle:
    """A :class:`ClipBundle` for the tiny ShapesWorld CLIP or a hub id / local folder.

    Offline, a hub id that is not in the local cache fails at once with instructions, instead of
    hanging on the network or loading a broken tokenizer.
    """
    check_path(name, "name")
    name = str(name)
    if name == TINY_CLIP_NAME:
        return build_tiny_clip().to(pick_device(device))
    from transformers import AutoTokenizer  # CLIPTokenizerFast for OpenAI checkpoints

    local = Path(name).is_dir()
    if Path(name).is_file():
        raise ValueError(f"name {name!r} is a file; pass a hub id or the folder saved with save_pretrained()")
    if not local and (name.startswith((".", "/", "~")) or os.sep in name.strip("/").replace("/", "", 1)):
        raise FileNotFoundError(f"no folder {name!r}: pass an existing folder saved with save_pretrained(), or a "
                                "hub id such as 'openai/clip-vit-base-patch16'")
    try:
        model = CLIPModel.from_pretrained(name, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=True)
        processor = image_processor_class().from_pretrained(name, local_files_only=True)
    except (OSError, ValueError) as err:
        if local:
            raise RuntimeError(f"folder {name!r} is not a complete CLIP saved with save_pretrained() (model weights, "
                               f"tokenizer and preprocessor config are needed). Cause: {err}") from err
        if not _hub_reachable():
            raise RuntimeError(
                f"cannot load CLIP {name!r}: no local copy and the model hub is not reachable. "
                f"With internet access run `hf download {name}` (or load it once online: it is then "
                f"cached), or pass the path of a folder saved with save_pretrained(). "
                f"To stay offline use build_clip({TINY_CLIP_NAME!r}). Cause: {err}"
            ) from err
        model = CLIPModel.from_pretrained(name)
        tokenizer = AutoTokenizer.from_pretrained(name)
        processor = image_processor_class().from_pretrained(name)
    if len(tokenizer) < 100:
        raise RuntimeError(
            f"the tokenizer of {name!r} has only {len(tokenizer)} tokens: its vocabulary files are missing "
            "(an offline from_pretrained can silently return such a stub). Download the full model first."
        )
    model.eval()
    return ClipBundle(name, model, tokenizer, processor).to(pick_device(device))
