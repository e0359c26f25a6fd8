"""The records every world shares: an object of a scene and a referring expression to one of them.

They are plain data, so that renderers written independently of each other (ShapesWorld's generator in
:mod:`vlseg.data.shapes_world`, the shifted test world in :mod:`vlseg.data.shifted_world`) describe their scenes the
same way and are scored by the same code, without sharing any drawing or phrasing code.
"""

from __future__ import annotations

from dataclasses import dataclass

from vlseg.data.vocabulary import CLASS_NAMES

KINDS = ("attribute", "spatial", "relation", "ordinal")


@dataclass(frozen=True)
class ShapeObject:
    """One object of a scene, in drawing order (later objects occlude earlier ones)."""

    class_index: int
    colour: str
    shape: str
    size: str
    cx: float  # centre, in pixels from the left
    cy: float  # centre, in pixels from the top
    radius: float  # nominal size in pixels (ShapesWorld: the shape lies within MAX_EXTENT × radius of the centre)
    visible_pixels: int

    @property
    def name(self) -> str:
        return CLASS_NAMES[self.class_index]


@dataclass(frozen=True)
class ReferringExpression:
    text: str
    target: int  # index of the referred object in the scene's object list
    kind: str  # one of KINDS
    names_heldout: bool  # a noun phrase names a held-out colour–shape class
    template: str = ""  # id of the template that worded it (ShapesWorld "v2"); "" when there is no template
    heldout_phrasing: bool = False  # worded by a template held out from training text (never in split "train")
