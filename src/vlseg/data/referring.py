"""Referring expressions: phrases that pick out exactly one object of a scene.

Four kinds, from easy to hard, all checked for uniqueness against the scene:

* ``attribute`` – "the small green ring": attributes that only the target has;
* ``spatial``   – "the lowest circle", "the leftmost red shape": a superlative among look-alikes;
* ``relation``  – "the star left of the red square": position relative to another, named object;
* ``ordinal``   – "the second circle from the left".

Spatial, relation and ordinal expressions are generated only when their noun phrase alone is
ambiguous (two or more objects fit it), so the spatial words carry information: a class name is not
enough to segment the target. Position words need a clear gap (``margin`` × image side) to be used.

Each expression records whether it names a held-out class (colour and shape of a held-out class in
one noun phrase); training code leaves those out, evaluation keeps them.

**Wording.** What an expression *means* (its kind, target, noun phrases, direction, rank) is worked out once, by
the same uniqueness logic in every world; only the wording differs. World "v1" has one fixed wording per kind
(the examples above). World "v2" words each expression with a template drawn at random among those of its kind
(:data:`TEMPLATES`, each with an id such as ``"spatial.place"``) and random synonyms within the template:
leading verbs ("find the …", "segment the …", "show me the …"), a trailing "in the picture", other word orders
("the circle that is red"), spatial synonyms ("leftmost" / "on the far left", "topmost" / "highest" / "at the
top", "lowest" / "bottom-most" / "at the bottom"), relation synonyms ("left of" / "to the left of", "above" /
"over", "below" / "under") and ordinals ("the second circle from the left" / "… counting from the left").

**Held-out phrasings.** :data:`HELDOUT_TEMPLATES` lists, per kind, templates that never word a training
expression (split "train"); validation and test expressions draw from all templates and are flagged
``heldout_phrasing=True`` when worded by one of them. Two held-out templates only reorder seen words
("spatial.that_is": "the circle that is leftmost"; "ordinal.that_is": "the circle that is second from the left"),
the others bring words that a model sees *only at test time* (:data:`HELDOUT_ONLY_WORDS`): **beneath, down,
furthest, higher, highlight, side, than, up, which** — "highlight the red circle", "the circle which is red",
"the star furthest to the left" / "furthest up" / "furthest down", "the star on the left side of the square",
"the star higher than the square", "the star beneath the square". Training captions never use these words either
(:mod:`vlseg.data.captions`).
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import cache
from itertools import pairwise

import numpy as np

from vlseg.data.records import KINDS, ReferringExpression, ShapeObject
from vlseg.data.vocabulary import COLOUR_NAMES, HELDOUT_INDICES, SHAPES, SIZES, check_world

# Noun-phrase forms: which attributes a phrase mentions, from the shortest.
NP_FORMS: tuple[tuple[str, ...], ...] = (
    (),
    ("shape",),
    ("colour",),
    ("colour", "shape"),
    ("size", "shape"),
    ("size", "colour"),
    ("size", "colour", "shape"),
)
ORDINALS = ("first", "second", "third", "fourth")
PHRASINGS = ("seen", "heldout")

# v1's one wording per direction
V1_SPATIAL = {"left": "leftmost", "right": "rightmost", "top": "topmost", "bottom": "lowest"}
V1_RELATION = {"left": "left of", "right": "right of", "above": "above", "below": "below"}


@dataclass(frozen=True)
class Template:
    """A v2 wording of one kind of expression: ``text`` is a ``str.format`` pattern over the slots of :func:`_slots`.

    ``needs`` restricts it to noun phrases with an adjective ("adjective": a size or colour word) or a colour
    ("colour"); the empty string means any noun phrase.
    """

    id: str
    kind: str
    text: str
    needs: str = ""


# Direction slots: synonyms per direction (spatial: left / right / top / bottom; relation: left / right / above /
# below). A template picks one synonym at random for its direction.
DIRECTION_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "most": {"left": ("leftmost",), "right": ("rightmost",), "top": ("topmost", "highest"),
             "bottom": ("lowest", "bottom-most")},
    "place": {"left": ("on the far left",), "right": ("on the far right",), "top": ("at the top",),
              "bottom": ("at the bottom",)},
    "furthest": {"left": ("furthest to the left",), "right": ("furthest to the right",), "top": ("furthest up",),
                 "bottom": ("furthest down",)},
    "rel": {"left": ("left of", "to the left of"), "right": ("right of", "to the right of"),
            "above": ("above", "over"), "below": ("below", "under")},
    "side_rel": {"left": ("on the left side of",), "right": ("on the right side of",), "above": ("higher than",),
                 "below": ("beneath",)},
}

TEMPLATES: dict[str, tuple[Template, ...]] = {
    "attribute": (
        Template("attribute.bare", "attribute", "the {np}"),
        Template("attribute.find", "attribute", "find the {np}"),
        Template("attribute.segment", "attribute", "segment the {np}"),
        Template("attribute.show", "attribute", "show me the {np}"),
        Template("attribute.picture", "attribute", "the {np} in the picture"),
        Template("attribute.that_is", "attribute", "the {noun} that is {adj}", needs="adjective"),
        Template("attribute.painted", "attribute", "the {size}{noun} painted {colour}", needs="colour"),
        Template("attribute.highlight", "attribute", "highlight the {np}"),
        Template("attribute.which_is", "attribute", "the {noun} which is {adj}", needs="adjective"),
    ),
    "spatial": (
        Template("spatial.most", "spatial", "the {most} {np}"),
        Template("spatial.place", "spatial", "the {np} {place}"),
        Template("spatial.find", "spatial", "find the {most} {np}"),
        Template("spatial.segment", "spatial", "segment the {np} {place}"),
        Template("spatial.show", "spatial", "show me the {most} {np}"),
        Template("spatial.picture", "spatial", "the {most} {np} in the picture"),
        Template("spatial.furthest", "spatial", "the {np} {furthest}"),
        Template("spatial.that_is", "spatial", "the {np} that is {most}"),
    ),
    "relation": (
        Template("relation.bare", "relation", "the {np} {rel} the {anchor}"),
        Template("relation.that_is", "relation", "the {np} that is {rel} the {anchor}"),
        Template("relation.find", "relation", "find the {np} {rel} the {anchor}"),
        Template("relation.segment", "relation", "segment the {np} {rel} the {anchor}"),
        Template("relation.show", "relation", "show me the {np} {rel} the {anchor}"),
        Template("relation.picture", "relation", "the {np} {rel} the {anchor} in the picture"),
        Template("relation.side", "relation", "the {np} {side_rel} the {anchor}"),
    ),
    "ordinal": (
        Template("ordinal.from", "ordinal", "the {ord} {np} from the {side}"),
        Template("ordinal.counting", "ordinal", "the {ord} {np} counting from the {side}"),
        Template("ordinal.find", "ordinal", "find the {ord} {np} from the {side}"),
        Template("ordinal.segment", "ordinal", "segment the {ord} {np} from the {side}"),
        Template("ordinal.show", "ordinal", "show me the {ord} {np} from the {side}"),
        Template("ordinal.picture", "ordinal", "the {ord} {np} from the {side} in the picture"),
        Template("ordinal.that_is", "ordinal", "the {np} that is {ord} from the {side}"),
    ),
}
# Templates that never word a training expression (split "train"); validation and test use every template.
HELDOUT_TEMPLATES: dict[str, tuple[str, ...]] = {
    "attribute": ("attribute.highlight", "attribute.which_is"),
    "spatial": ("spatial.furthest", "spatial.that_is"),
    "relation": ("relation.side",),
    "ordinal": ("ordinal.that_is",),
}
TEMPLATE_IDS: tuple[str, ...] = tuple(t.id for kind in KINDS for t in TEMPLATES[kind])
_HELDOUT_IDS = frozenset(i for ids in HELDOUT_TEMPLATES.values() for i in ids)


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def template_words(template: Template) -> set[str]:
    """Every word a template can produce, its slots' synonyms included (noun phrases excluded)."""
    words = _words(re.sub(r"\{[a-z_]+\}", " ", template.text))
    for slot, table in DIRECTION_WORDS.items():
        if "{" + slot + "}" in template.text:
            words |= set().union(*(_words(w) for synonyms in table.values() for w in synonyms))
    if "{ord}" in template.text:
        words |= set(ORDINALS)
    if "{side}" in template.text:
        words |= {"left", "right"}
    if "{adj}" in template.text:
        words.add("and")
    return words


def _heldout_only_words() -> frozenset[str]:
    """Words of held-out templates that no seen template, noun phrase or ordinal ever uses."""
    seen = set(COLOUR_NAMES) | set(SHAPES) | set(SIZES) | {"shape", "and"} | set(ORDINALS)
    heldout: set[str] = set()
    for templates in TEMPLATES.values():
        for template in templates:
            (heldout if template.id in _HELDOUT_IDS else seen).update(template_words(template))
    return frozenset(heldout - seen)


# Words a model meets only at test time (listed in the module docstring; a test keeps the two in step).
HELDOUT_ONLY_WORDS: frozenset[str] = _heldout_only_words()


def _heldout_direction_words() -> frozenset[str]:
    """Held-out-only words that name one direction of their slot and no other (see :data:`HELDOUT_DIRECTION_WORDS`)."""
    words: set[str] = set()
    for table in DIRECTION_WORDS.values():
        per_direction = {direction: set().union(*map(_words, synonyms)) for direction, synonyms in table.items()}
        for direction, own in per_direction.items():
            others = set().union(*(w for d, w in per_direction.items() if d != direction))
            words |= own - others
    return frozenset(words & HELDOUT_ONLY_WORDS)


# The held-out-only words that alone carry an expression's direction — "furthest up", "furthest down", "higher than",
# "beneath" — as opposed to those that add nothing a seen word does not also say ("highlight", "which", "furthest"
# beside "to the left"). No training text, neither the CLIP's captions nor CRIS's expressions, says what they mean.
HELDOUT_DIRECTION_WORDS: frozenset[str] = _heldout_direction_words()


def needs_unseen_direction(text: str) -> bool:
    """Whether ``text`` has a :data:`HELDOUT_DIRECTION_WORDS` word, so that its direction is said only in words never
    trained on."""
    return bool(_words(text) & HELDOUT_DIRECTION_WORDS)


def is_heldout_template(template_id: str) -> bool:
    """Whether ``template_id`` is one of :data:`HELDOUT_TEMPLATES`."""
    return template_id in _HELDOUT_IDS


def check_phrasings(phrasings: object) -> str | None:
    """None, "seen" or "heldout"; anything else raises a ValueError naming ``phrasings``."""
    if phrasings is not None and (not isinstance(phrasings, str) or phrasings not in PHRASINGS):
        raise ValueError(f"phrasings must be None, 'seen' or 'heldout'; got {phrasings!r}")
    return phrasings


def noun_phrase(obj: ShapeObject, form: tuple[str, ...]) -> str:
    """"small red circle", "red shape", "circle", "shape"… for the attributes in ``form``."""
    words = [getattr(obj, key) for key in ("size", "colour") if key in form]
    words.append(obj.shape if "shape" in form else "shape")
    return " ".join(words)


def _matches(obj: ShapeObject, target: ShapeObject, form: tuple[str, ...]) -> bool:
    return all(getattr(obj, key) == getattr(target, key) for key in form)


def _names_heldout(obj: ShapeObject, form: tuple[str, ...]) -> bool:
    return "colour" in form and "shape" in form and obj.class_index in HELDOUT_INDICES


@dataclass(frozen=True)
class Meaning:
    """What an expression says, before it is worded: kind, target, noun-phrase form and where the target is.

    ``direction``: spatial left / right / top / bottom, relation left / right / above / below, ordinal the side
    counted from (left / right); ``rank``: ordinal position from that side (0 = first); ``anchor`` and
    ``anchor_form``: the relation's other object and its noun-phrase form.
    """

    kind: str
    target: int
    form: tuple[str, ...]
    names_heldout: bool
    direction: str = ""
    rank: int = 0
    anchor: int = -1
    anchor_form: tuple[str, ...] = ()


def meanings(objects: list[ShapeObject], width: int, height: int, margin: float = 0.1) -> list[Meaning]:
    """Every unambiguous meaning of the four kinds for every object of a scene (the uniqueness logic)."""
    gap_x, gap_y = margin * width, margin * height
    # every object's look-alikes under each noun-phrase form, and its shortest unique form (None: it has none)
    lookalikes_of = [{form: [i for i, o in enumerate(objects) if _matches(o, obj, form)] for form in NP_FORMS}
                     for obj in objects]
    unique_form_of = [next((form for form in NP_FORMS[1:] if lookalikes_of[a][form] == [a]), None)
                      for a in range(len(objects))]
    out: list[Meaning] = []
    for t, target in enumerate(objects):
        lookalikes = lookalikes_of[t]

        # attribute: the shortest unique description, and the full one when it differs
        unique_forms = [form for form in NP_FORMS[1:] if lookalikes[form] == [t]]
        for form in unique_forms[:1] + ([NP_FORMS[-1]] if unique_forms and unique_forms[0] != NP_FORMS[-1] else []):
            out.append(Meaning("attribute", t, form, _names_heldout(target, form)))

        for form in NP_FORMS:
            group = lookalikes[form]
            if len(group) < 2:
                continue
            heldout = _names_heldout(target, form)
            others = [objects[i] for i in group if i != t]
            # spatial superlatives
            if all(target.cx < o.cx - gap_x for o in others):
                out.append(Meaning("spatial", t, form, heldout, "left"))
            if all(target.cx > o.cx + gap_x for o in others):
                out.append(Meaning("spatial", t, form, heldout, "right"))
            if all(target.cy < o.cy - gap_y for o in others):
                out.append(Meaning("spatial", t, form, heldout, "top"))
            if all(target.cy > o.cy + gap_y for o in others):
                out.append(Meaning("spatial", t, form, heldout, "bottom"))
            # ordinals, when all look-alikes are clearly apart horizontally
            xs = sorted(objects[i].cx for i in group)
            if len(group) >= 3 and all(b - a >= gap_x for a, b in pairwise(xs)):
                rank = xs.index(target.cx)
                out.append(Meaning("ordinal", t, form, heldout, "left", rank))
                out.append(Meaning("ordinal", t, form, heldout, "right", len(xs) - 1 - rank))
            # relations to another object that has a unique description
            for a, anchor in enumerate(objects):
                anchor_form = unique_form_of[a]
                if a == t or anchor_form is None:
                    continue
                candidates = [i for i in group if i != a]
                if len(candidates) < 2:
                    continue  # the noun phrase alone would do; the relation would carry nothing
                relations = {
                    "left": lambda o, anchor=anchor: o.cx < anchor.cx - gap_x,
                    "right": lambda o, anchor=anchor: o.cx > anchor.cx + gap_x,
                    "above": lambda o, anchor=anchor: o.cy < anchor.cy - gap_y,
                    "below": lambda o, anchor=anchor: o.cy > anchor.cy + gap_y,
                }
                for direction, holds in relations.items():
                    if [i for i in candidates if holds(objects[i])] == [t]:
                        out.append(Meaning("relation", t, form, heldout or _names_heldout(anchor, anchor_form),
                                           direction, anchor=a, anchor_form=anchor_form))
    return out


def word_v1(meaning: Meaning, objects: list[ShapeObject]) -> str:
    """World v1's one wording: "the red circle", "the leftmost circle", "the circle left of the square", …"""
    np_text = noun_phrase(objects[meaning.target], meaning.form)
    if meaning.kind == "attribute":
        return f"the {np_text}"
    if meaning.kind == "spatial":
        return f"the {V1_SPATIAL[meaning.direction]} {np_text}"
    if meaning.kind == "ordinal":
        return f"the {ORDINALS[meaning.rank]} {np_text} from the {meaning.direction}"
    anchor_text = noun_phrase(objects[meaning.anchor], meaning.anchor_form)
    return f"the {np_text} {V1_RELATION[meaning.direction]} the {anchor_text}"


def _fits(template: Template, form: tuple[str, ...]) -> bool:
    if template.needs == "adjective":
        return "size" in form or "colour" in form
    if template.needs == "colour":
        return "colour" in form
    return True


def _slots(meaning: Meaning, objects: list[ShapeObject]) -> dict[str, str]:
    """The fixed slots of a meaning: np, noun, adj ("small and red"), size ("small " or ""), colour, anchor, ord, side."""
    target, form = objects[meaning.target], meaning.form
    adjectives = [getattr(target, key) for key in ("size", "colour") if key in form]
    slots = {
        "np": noun_phrase(target, form),
        "noun": target.shape if "shape" in form else "shape",
        "adj": " and ".join(adjectives),
        "size": f"{target.size} " if "size" in form else "",
        "colour": target.colour,
        "ord": ORDINALS[meaning.rank],
        "side": meaning.direction,
    }
    if meaning.anchor >= 0:
        slots["anchor"] = noun_phrase(objects[meaning.anchor], meaning.anchor_form)
    return slots


def word_v2(meaning: Meaning, objects: list[ShapeObject], template: Template, rng: np.random.Generator) -> str:
    """World v2's wording of ``meaning`` with ``template``, each direction slot filled by a random synonym."""
    slots = _slots(meaning, objects)
    for slot, table in DIRECTION_WORDS.items():
        if "{" + slot + "}" in template.text:
            synonyms = table[meaning.direction]
            slots[slot] = synonyms[rng.integers(len(synonyms))]
    return template.text.format(**slots)


def referring_expressions(
    objects: list[ShapeObject],
    width: int,
    height: int,
    margin: float = 0.1,
    *,
    world: str = "v1",
    rng: np.random.Generator | int = 0,
    heldout_phrasings: bool = False,
) -> list[ReferringExpression]:
    """Every unambiguous expression of the four kinds for every object of a scene.

    ``world="v1"`` words each with its one fixed wording (``rng`` and ``heldout_phrasings`` unused). ``world="v2"``
    draws a template per expression from ``rng`` (a generator or a seed) among those of its kind that fit the noun
    phrase, leaving out :data:`HELDOUT_TEMPLATES` unless ``heldout_phrasings`` is True (so training text is the default).
    """
    world = check_world(world)
    found = meanings(objects, width, height, margin)
    if world == "v1":
        return [ReferringExpression(word_v1(m, objects), m.target, m.kind, m.names_heldout) for m in found]
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    out = []
    for m in found:
        options = [t for t in TEMPLATES[m.kind] if _fits(t, m.form) and (heldout_phrasings or t.id not in _HELDOUT_IDS)]
        template = options[rng.integers(len(options))]
        out.append(ReferringExpression(word_v2(m, objects, template, rng), m.target, m.kind, m.names_heldout,
                                       template.id, template.id in _HELDOUT_IDS))
    return out


# --- recognising a template in any text (for checks that held-out phrasings never reach training text) ---------

_NP_RE = rf"(?:(?:{'|'.join(SIZES)}) )?(?:(?:{'|'.join(COLOUR_NAMES)}) )?(?:{'|'.join(SHAPES + ('shape',))})"
_ADJ = "|".join(SIZES + COLOUR_NAMES)
_SLOT_RE = {
    "np": _NP_RE,
    "anchor": _NP_RE,
    "noun": f"(?:{'|'.join(SHAPES + ('shape',))})",
    "adj": rf"(?:{_ADJ})(?: and (?:{_ADJ}))?",
    "size": rf"(?:(?:{'|'.join(SIZES)}) )?",
    "colour": f"(?:{'|'.join(COLOUR_NAMES)})",
    "ord": f"(?:{'|'.join(ORDINALS)})",
    "side": "(?:left|right)",
}


@cache
def template_pattern(template_id: str) -> re.Pattern:
    """A regular expression for every text ``template_id`` can produce (use ``.fullmatch`` on an expression,
    ``.search`` to find the phrasing inside longer text; it never starts or ends inside a word)."""
    template = next((t for kind in KINDS for t in TEMPLATES[kind] if t.id == template_id), None)
    if template is None:
        raise ValueError(f"unknown template {template_id!r}; expected one of {TEMPLATE_IDS}")
    parts = []
    for literal, slot, _, _ in string.Formatter().parse(template.text):
        parts.append(re.escape(literal))
        if slot in DIRECTION_WORDS:
            synonyms = sorted({w for words in DIRECTION_WORDS[slot].values() for w in words}, key=len, reverse=True)
            parts.append("(?:" + "|".join(re.escape(w) for w in synonyms) + ")")
        elif slot is not None:
            parts.append(_SLOT_RE[slot])
    return re.compile(r"(?<![a-z-])" + "".join(parts) + r"(?![a-z-])")
