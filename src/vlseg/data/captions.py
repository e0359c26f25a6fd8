"""Captions for ShapesWorld scenes: varied templates, noisy and incomplete like web captions.

A caption may leave objects out, may drop the size word, and orders objects freely. In the
*training* split a held-out class is never named: such an object is described by its colour alone
("a red shape") or its shape alone ("a star"), or left out. The held-out *names* therefore stay
unseen by the text encoder, which is what an open-vocabulary test needs.

World "v2" (``world="v2"``) keeps these rules with a richer grammar: :data:`SINGLE_TEMPLATES_V2` (20),
:data:`MULTI_TEMPLATES_V2` (13) and :data:`RELATION_TEMPLATES_V2` (6) with relation synonyms in all four
directions (:data:`RELATION_WORDS_V2`), and noun phrases in three word orders ("a red circle", "a circle in red",
"a circle painted red"). (Not "coloured": the shipped tokenizer splits it into c-o-l-o-u-"red", which slips a colour
word beside every colour, and "a blue-coloured star" even contains the held-out name "red star".) A hidden
held-out object is "a red shape", "a red object", "something red" or "a star". No caption uses a word of :data:`vlseg.data.referring.HELDOUT_ONLY_WORDS` (those belong to held-out
referring phrasings) nor starts like a referring expression ("the …"), so held-out phrasings never reach training
text through captions.
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
    objects: list[ShapeObject], rng: np.random.Generator, *, hide_heldout: bool, drop_prob: float = 0.2,
    world: str = "v1",
) -> str:
    """One caption for a scene's object list (``world`` "v2": :func:`make_caption_v2`)."""
    if world != "v1":
        return make_caption_v2(objects, rng, hide_heldout=hide_heldout, drop_prob=drop_prob)
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


# --- world "v2" ------------------------------------------------------------------------------------------------

SINGLE_TEMPLATES_V2 = SINGLE_TEMPLATES + (
    "a rendering of {0}.",
    "just {0}.",
    "{0}, alone.",
    "a simple scene with {0}.",
    "here is {0}.",
    "this image shows {0}.",
    "a sketch of {0}.",
    "a snapshot of {0}.",
    "a single shape: {0}.",
    "{0} on its own.",
    "a frame containing {0}.",
    "an illustration of {0}.",
)
MULTI_TEMPLATES_V2 = MULTI_TEMPLATES + (
    "{list}.",
    "a drawing of {list}.",
    "in this image: {list}.",
    "a scene with {count} shapes, including {list}.",
    "{list}, all in one image.",
    "a snapshot showing {list}.",
    "a rendering of {list}.",
    "{count} objects, among them {list}.",
)
RELATION_TEMPLATES_V2 = RELATION_TEMPLATES + (
    "{0} is {rel} {1}.",
    "there is {0} {rel} {1}.",
    "{0} sits {rel} {1}.",
    "a picture of {0} {rel} {1}.",
)
RELATION_WORDS_V2 = {
    "left of": ("left of", "to the left of"),
    "right of": ("right of", "to the right of"),
    "above": ("above", "over"),
    "below": ("below", "under"),
}


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[rng.integers(len(options))]


def describe_v2(obj: ShapeObject, rng: np.random.Generator, hide_heldout: bool) -> str:
    """A noun phrase with its article in one of several word orders, e.g. "a small circle in red".

    A hidden held-out object gets its colour alone ("a red shape", "a red object", "something red") or its shape
    alone ("a star"), never both. Otherwise the size is said with probability 0.35, and the order is
    "a [size] red circle" (60 %), "a [size] circle in red" (20 %) or "a [size] circle painted red" (20 %).
    """
    if hide_heldout and obj.class_index in HELDOUT_INDICES:
        if rng.random() < 0.5:
            return _pick(rng, (with_article(f"{obj.colour} shape"), with_article(f"{obj.colour} object"),
                               f"something {obj.colour}"))
        return with_article(obj.shape)
    size = f"{obj.size} " if rng.random() < 0.35 else ""
    order = rng.random()
    if order < 0.6:
        return with_article(f"{size}{obj.colour} {obj.shape}")
    if order < 0.8:
        return with_article(f"{size}{obj.shape} in {obj.colour}")
    return with_article(f"{size}{obj.shape} painted {obj.colour}")


def make_caption_v2(
    objects: list[ShapeObject], rng: np.random.Generator, *, hide_heldout: bool, drop_prob: float = 0.2
) -> str:
    """One v2 caption: v1's recipe (objects in random order, some left out) with v2's templates and phrases."""
    order = rng.permutation(len(objects))
    kept = [objects[i] for i in order if i == order[0] or rng.random() >= drop_prob]
    phrases = [describe_v2(obj, rng, hide_heldout) for obj in kept]
    if len(kept) == 1:
        return _pick(rng, SINGLE_TEMPLATES_V2).format(phrases[0])
    if len(kept) == 2 and rng.random() < 0.35:
        rel = _pick(rng, RELATION_WORDS_V2[_relation(kept[0], kept[1])])
        return _pick(rng, RELATION_TEMPLATES_V2).format(phrases[0], phrases[1], rel=rel)
    return _pick(rng, MULTI_TEMPLATES_V2).format(list=_join(phrases), count=NUMBER_WORDS[len(objects)])
