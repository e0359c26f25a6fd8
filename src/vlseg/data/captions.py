"""Captions for ShapesWorld scenes: varied templates, noisy and incomplete like web captions.

A caption may leave objects out, may drop the size word, and orders objects freely. In the
*training* split a held-out class is never named: such an object is described by its colour alone
("a red shape") or its shape alone ("a star"), or left out. The held-out *names* therefore stay
unseen by the text encoder, which is what an open-vocabulary test needs.
"""

from __future__ import annotations

import numpy as np

from vlseg.data.records import ShapeObject
from vlseg.data.referring import noun_phrase
from vlseg.data.vocabulary import HELDOUT_INDICES

NUMBER_WORDS = ("no", "one", "two", "three", "four")

SINGLE_TEMPLATES = (
    "a photo of {0}.",
    "{0}.",
    "a picture of {0}.",
    "{0} on a noisy background.",
    "there is {0} in the image.",
    "an image with {0}.",
    "a drawing of {0}.",
)
MULTI_TEMPLATES = (
    "a photo of {list}.",
    "{count} shapes: {list}.",
    "a picture with {list}.",
    "{list} on a textured background.",
    "an image showing {list}.",
)
RELATION_TEMPLATES = (
    "{0} {rel} {1}.",
    "a photo of {0} {rel} {1}.",
)


def describe(obj: ShapeObject, rng: np.random.Generator, hide_heldout: bool) -> str:
    """A noun phrase for one object, e.g. "small red circle", "blue star", "red shape"."""
    if hide_heldout and obj.class_index in HELDOUT_INDICES:
        return noun_phrase(obj, ("colour",) if rng.random() < 0.5 else ("shape",))
    return noun_phrase(obj, ("size", "colour", "shape") if rng.random() < 0.35 else ("colour", "shape"))


def with_article(phrase: str) -> str:
    """"a red circle", "an orange star"."""
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def _join(phrases: list[str]) -> str:
    """'a, b and c'."""
    if len(phrases) == 1:
        return phrases[0]
    return ", ".join(phrases[:-1]) + " and " + phrases[-1]


def _relation(a: ShapeObject, b: ShapeObject) -> str:
    """Where ``a`` is relative to ``b``, by the larger displacement."""
    dx, dy = a.cx - b.cx, a.cy - b.cy
    if abs(dx) >= abs(dy):
        return "left of" if dx < 0 else "right of"
    return "above" if dy < 0 else "below"


def make_caption(
    objects: list[ShapeObject], rng: np.random.Generator, *, hide_heldout: bool, drop_prob: float = 0.2
) -> str:
    """One caption for a scene's object list."""
    order = rng.permutation(len(objects))
    kept = [objects[i] for i in order if i == order[0] or rng.random() >= drop_prob]
    phrases = [with_article(describe(obj, rng, hide_heldout)) for obj in kept]
    if len(kept) == 1:
        return SINGLE_TEMPLATES[rng.integers(len(SINGLE_TEMPLATES))].format(phrases[0])
    if len(kept) == 2 and rng.random() < 0.35:
        template = RELATION_TEMPLATES[rng.integers(len(RELATION_TEMPLATES))]
        return template.format(phrases[0], phrases[1], rel=_relation(kept[0], kept[1]))
    template = MULTI_TEMPLATES[rng.integers(len(MULTI_TEMPLATES))]
    # "{count} shapes" counts every object of the scene, even those the caption leaves out
    return template.format(list=_join(phrases), count=NUMBER_WORDS[len(objects)])
