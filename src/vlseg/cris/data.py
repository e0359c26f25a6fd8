"""Referring-segmentation batches from ShapesWorld: image, one expression, the referred object's mask.

Each scene contributes one expression drawn at random among its unambiguous ones (CRIS's recipe: one random
sentence per referred object per iteration). Training leaves out expressions that name a held-out class, so the
evaluation on them measures composition; evaluation can keep them.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from vlseg.checks import check_number
from vlseg.data import generate_batch, shifted_referring_set
from vlseg.data.referring import HELDOUT_ONLY_WORDS, TEMPLATES, check_phrasings, template_words
from vlseg.data.vocabulary import COLOUR_NAMES, SHAPES, SIZES, check_world


@dataclass
class ReferringBatch:
    images: np.ndarray  # (B, H, W, 3) uint8
    texts: list[str]  # B expressions
    masks: Tensor  # (B, H, W) bool: the referred object
    kinds: list[str]  # attribute / spatial / relation / ordinal
    names_heldout: list[bool]
    templates: list[str] = field(default_factory=list)  # world "v2": the template id of each expression ("" in v1)
    heldout_phrasings: list[bool] = field(default_factory=list)  # worded by a held-out template (never in training)
    styles: list[str] = field(default_factory=list)  # shifted world: "plain" ("the red circle") or "free"


def check_referring_batch(images: np.ndarray, masks: Tensor, texts: list[str]) -> None:
    """Shapes must agree: one mask per image, of the image's size, and one expression each."""
    if masks.ndim != 3 or tuple(masks.shape) != tuple(np.shape(images)[:3]):
        raise ValueError(
            f"masks must be (B, H, W) matching images (B, H, W, 3); got {tuple(masks.shape)} and {np.shape(images)}"
        )
    if len(texts) != len(masks):
        raise ValueError(f"{len(masks)} masks for {len(texts)} expressions")


def concat_referring_batches(batches: Sequence[ReferringBatch]) -> ReferringBatch:
    """One batch from several (same image size), in order: e.g. a whole evaluation set."""
    if not batches:
        raise ValueError("no batches to concatenate")
    return ReferringBatch(np.concatenate([b.images for b in batches]), [t for b in batches for t in b.texts],
                          torch.cat([b.masks for b in batches]), [k for b in batches for k in b.kinds],
                          [h for b in batches for h in b.names_heldout], [t for b in batches for t in b.templates],
                          [h for b in batches for h in b.heldout_phrasings], [s for b in batches for s in b.styles])


def referring_chunks(batch: ReferringBatch, size: int) -> tuple[ReferringBatch, ...]:
    """``batch`` cut in order into batches of at most ``size`` expressions."""
    def part(start: int) -> ReferringBatch:
        stop = start + size
        return ReferringBatch(batch.images[start:stop], batch.texts[start:stop], batch.masks[start:stop],
                              batch.kinds[start:stop], batch.names_heldout[start:stop], batch.templates[start:stop],
                              batch.heldout_phrasings[start:stop], batch.styles[start:stop])
    return tuple(part(start) for start in range(0, len(batch.texts), size))


def referring_batch(
    n_scenes: int, *, seed: int = 0, split: str = "train", block: int = 0, heldout_names: bool | None = None,
    kinds: tuple[str, ...] | None = None, world: str = "v1", phrasings: str | None = None,
) -> ReferringBatch:
    """One expression per scene (scenes without an eligible expression are skipped, so B ≤ ``n_scenes``).

    ``heldout_names``: None keeps every expression, False drops those naming a held-out class, True keeps only
    those. ``kinds`` restricts the expression kinds. ``world``: "v1" (default) or "v2" (see
    :func:`vlseg.data.generate_batch`). ``phrasings``: None keeps every wording, "seen" drops expressions worded by
    a held-out template (:data:`vlseg.data.referring.HELDOUT_TEMPLATES`), "heldout" keeps only those; a training
    split never has held-out wordings, and v1 has none at all.
    """
    world = check_world(world)
    phrasings = check_phrasings(phrasings)
    scenes = generate_batch(n_scenes, seed=seed, split=split, block=block, world=world)
    rng = np.random.default_rng([seed, block, 31])
    keep, texts, masks, kind_list, heldout, templates, heldout_phrasings = [], [], [], [], [], [], []
    for i in range(len(scenes)):
        options = [e for e in scenes[i].referring_expressions()
                   if (heldout_names is None or e.names_heldout == heldout_names) and (kinds is None or e.kind in kinds)
                   and (phrasings is None or e.heldout_phrasing == (phrasings == "heldout"))]
        if not options:
            continue
        expression = options[rng.integers(len(options))]
        keep.append(i)
        texts.append(expression.text)
        masks.append(scenes.instance[i] == expression.target + 1)
        kind_list.append(expression.kind)
        heldout.append(expression.names_heldout)
        templates.append(expression.template)
        heldout_phrasings.append(expression.heldout_phrasing)
    if not keep:
        raise ValueError(f"no scene has an expression of the requested kind (split={split!r}, world={world!r}, "
                         f"kinds={kinds!r}, heldout_names={heldout_names!r}, phrasings={phrasings!r})")
    batch = ReferringBatch(scenes.images[keep], texts, torch.as_tensor(np.stack(masks)), kind_list, heldout,
                           templates, heldout_phrasings)
    check_referring_batch(batch.images, batch.masks, batch.texts)
    return batch


# Pseudo-words: consonant–vowel syllables, pronounceable, checked against every word of ShapesWorld's expressions.
_CONSONANTS, _VOWELS = "bdfgklmnprstvz", "aeiou"


@functools.cache
def _known_words() -> frozenset[str]:
    """Every word a ShapesWorld v2 expression can use, its held-out templates' words included."""
    return frozenset().union(*(template_words(t) for templates in TEMPLATES.values() for t in templates),
                             COLOUR_NAMES, SHAPES, SIZES, {"shape"})


def pseudo_word(rng: np.random.Generator) -> str:
    """A random word of 2–3 consonant–vowel syllables ("bokiru") that no ShapesWorld expression uses and that contains
    no word held out for testing (:data:`~vlseg.data.referring.HELDOUT_ONLY_WORDS`)."""
    known = _known_words()
    while True:
        syllables = rng.integers(2, 4)
        word = "".join(_CONSONANTS[rng.integers(len(_CONSONANTS))] + _VOWELS[rng.integers(len(_VOWELS))]
                       for _ in range(syllables))
        if word not in known and not any(held in word for held in HELDOUT_ONLY_WORDS):
            return word


def with_pseudo_words(texts: Sequence[str], probability: float, rng: np.random.Generator) -> list[str]:
    """Text augmentation (not in CRIS): each expression, with ``probability``, gets one :func:`pseudo_word` inserted
    at a random word boundary — "the bokiru red circle", "find the circle left of the star vemo".

    A meaningless word changes neither the target nor any word that picks it out, so the model learns to read the
    words it knows and pass over one it does not, as it must for a verb or filler it never saw in training
    ("highlight the …"). It adds no word of the held-out phrasings. This is random insertion, one of the four
    operations of EDA (Wei & Zou, 2019), with invented words instead of synonyms.
    """
    probability = check_number(probability, "probability", 0.0, 1.0, what="a number in [0, 1]")
    augmented = []
    for text in texts:
        if rng.random() >= probability:
            augmented.append(text)
            continue
        words = text.split()
        position = rng.integers(len(words) + 1)
        augmented.append(" ".join([*words[:position], pseudo_word(rng), *words[position:]]))
    return augmented


def shifted_referring_batch(
    n_scenes: int, *, seed: int = 0, heldout_names: bool | None = None, kinds: tuple[str, ...] | None = None,
    styles: tuple[str, ...] | None = None,
) -> ReferringBatch:
    """:func:`referring_batch` for the shifted test world (:mod:`vlseg.data.shifted_world`): its own renderer and
    phrasings, one expression per scene. ``styles`` keeps "plain" ("the red circle") and/or "free" wordings."""
    shifted = shifted_referring_set(n_scenes, seed=seed, kinds=kinds, styles=styles, heldout_names=heldout_names)
    batch = ReferringBatch(shifted.images, shifted.texts, torch.as_tensor(shifted.masks), shifted.kinds,
                           shifted.names_heldout, styles=shifted.styles)
    check_referring_batch(batch.images, batch.masks, batch.texts)
    return batch
