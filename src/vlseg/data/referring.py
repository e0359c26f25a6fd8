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
"""

from __future__ import annotations

from vlseg.data.records import KINDS, ReferringExpression, ShapeObject
from vlseg.data.vocabulary import HELDOUT_INDICES

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


def noun_phrase(obj: ShapeObject, form: tuple[str, ...]) -> str:
    """"small red circle", "red shape", "circle", "shape"… for the attributes in ``form``."""
    words = [getattr(obj, key) for key in ("size", "colour") if key in form]
    words.append(obj.shape if "shape" in form else "shape")
    return " ".join(words)


def _matches(obj: ShapeObject, target: ShapeObject, form: tuple[str, ...]) -> bool:
    return all(getattr(obj, key) == getattr(target, key) for key in form)


def _names_heldout(obj: ShapeObject, form: tuple[str, ...]) -> bool:
    return "colour" in form and "shape" in form and obj.class_index in HELDOUT_INDICES


def referring_expressions(
    objects: list[ShapeObject], width: int, height: int, margin: float = 0.1
) -> list[ReferringExpression]:
    """Every unambiguous expression of the four kinds for every object of a scene."""
    gap_x, gap_y = margin * width, margin * height
    out: list[ReferringExpression] = []
    for t, target in enumerate(objects):
        lookalikes = {form: [i for i, o in enumerate(objects) if _matches(o, target, form)] for form in NP_FORMS}

        # attribute: the shortest unique description, and the full one when it differs
        unique_forms = [form for form in NP_FORMS[1:] if lookalikes[form] == [t]]
        for form in unique_forms[:1] + ([NP_FORMS[-1]] if unique_forms and unique_forms[0] != NP_FORMS[-1] else []):
            out.append(
                ReferringExpression(f"the {noun_phrase(target, form)}", t, "attribute", _names_heldout(target, form))
            )

        for form in NP_FORMS:
            group = lookalikes[form]
            if len(group) < 2:
                continue
            np_text = noun_phrase(target, form)
            heldout = _names_heldout(target, form)
            others = [objects[i] for i in group if i != t]
            # spatial superlatives
            if all(target.cx < o.cx - gap_x for o in others):
                out.append(ReferringExpression(f"the leftmost {np_text}", t, "spatial", heldout))
            if all(target.cx > o.cx + gap_x for o in others):
                out.append(ReferringExpression(f"the rightmost {np_text}", t, "spatial", heldout))
            if all(target.cy < o.cy - gap_y for o in others):
                out.append(ReferringExpression(f"the topmost {np_text}", t, "spatial", heldout))
            if all(target.cy > o.cy + gap_y for o in others):
                out.append(ReferringExpression(f"the lowest {np_text}", t, "spatial", heldout))
            # ordinals, when all look-alikes are clearly apart horizontally
            xs = sorted(objects[i].cx for i in group)
            if len(group) >= 3 and all(b - a >= gap_x for a, b in zip(xs, xs[1:])):
                rank = xs.index(target.cx)
                out.append(ReferringExpression(f"the {ORDINALS[rank]} {np_text} from the left", t, "ordinal", heldout))
                rank_right = len(xs) - 1 - rank
                out.append(
                    ReferringExpression(f"the {ORDINALS[rank_right]} {np_text} from the right", t, "ordinal", heldout)
                )
            # relations to another object that has a unique description
            for a, anchor in enumerate(objects):
                if a == t:
                    continue
                anchor_forms = [f for f in NP_FORMS[1:] if [i for i, o in enumerate(objects) if _matches(o, anchor, f)] == [a]]
                if not anchor_forms:
                    continue
                anchor_form = anchor_forms[0]
                anchor_text = noun_phrase(anchor, anchor_form)
                candidates = [i for i in group if i != a]
                if len(candidates) < 2:
                    continue  # the noun phrase alone would do; the relation would carry nothing
                relations = {
                    "left of": lambda o: o.cx < anchor.cx - gap_x,
                    "right of": lambda o: o.cx > anchor.cx + gap_x,
                    "above": lambda o: o.cy < anchor.cy - gap_y,
                    "below": lambda o: o.cy > anchor.cy + gap_y,
                }
                for word, holds in relations.items():
                    if [i for i in candidates if holds(objects[i])] == [t]:
                        out.append(
                            ReferringExpression(
                                f"the {np_text} {word} the {anchor_text}",
                                t,
                                "relation",
                                heldout or _names_heldout(anchor, anchor_form),
                            )
                        )
    return out
