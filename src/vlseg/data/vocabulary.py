"""The closed world of ShapesWorld: colours, shapes, sizes, class names and the held-out split.

A *class* is a colour–shape combination ("red circle"). Semantic masks store ``class_index + 1``
(0 is background, 255 is "ignore"), the VOC convention.

The held-out split is chosen so that neither colour nor shape alone identifies a held-out class:
every held-out colour and every held-out shape also occurs in seen classes, and several held-out
classes share a colour. A model that only learnt colour (or only shape) therefore cannot look good
on them; getting them right needs *composition*.
"""

from __future__ import annotations

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 35, 35),
    "green": (35, 165, 55),
    "blue": (40, 75, 215),
    "yellow": (235, 210, 35),
    "purple": (135, 55, 185),
    "orange": (245, 125, 25),
    "cyan": (35, 200, 210),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross", "ring", "diamond")
SIZES: tuple[str, ...] = ("small", "large")

COLOUR_NAMES: tuple[str, ...] = tuple(COLOURS)
CLASS_NAMES: tuple[str, ...] = tuple(f"{colour} {shape}" for colour in COLOUR_NAMES for shape in SHAPES)

HELDOUT_CLASSES: tuple[str, ...] = (
    "red star",
    "red ring",
    "blue triangle",
    "blue cross",
    "green diamond",
    "yellow circle",
    "purple square",
)
SEEN_CLASSES: tuple[str, ...] = tuple(name for name in CLASS_NAMES if name not in HELDOUT_CLASSES)

# ShapesWorld's worlds: "v1" the original (the default everywhere), "v2" the same world with wider looks and phrasing
WORLDS: tuple[str, ...] = ("v1", "v2")

BACKGROUND = 0
IGNORE_INDEX = 255
NUM_CLASSES = len(CLASS_NAMES)


def class_index(name: str) -> int:
    """Index of a class name in :data:`CLASS_NAMES` (the semantic mask stores this + 1)."""
    try:
        return CLASS_NAMES.index(name.strip().lower())
    except ValueError:
        raise ValueError(
            f"unknown ShapesWorld class {name!r}; classes are '<colour> <shape>' with colour in "
            f"{list(COLOUR_NAMES)} and shape in {list(SHAPES)}"
        ) from None


def class_indices(names: list[str] | tuple[str, ...]) -> list[int]:
    """:func:`class_index` for several names at once."""
    return [class_index(name) for name in names]


def colour_of(class_idx: int) -> str:
    return COLOUR_NAMES[class_idx // len(SHAPES)]


def shape_of(class_idx: int) -> str:
    return SHAPES[class_idx % len(SHAPES)]


HELDOUT_INDICES: frozenset[int] = frozenset(class_indices(HELDOUT_CLASSES))
# the split as sorted index lists, for scoring groups of classes (e.g. SegmentationResult.group_miou)
HELDOUT_CLASS_INDICES: tuple[int, ...] = tuple(sorted(HELDOUT_INDICES))
SEEN_CLASS_INDICES: tuple[int, ...] = tuple(k for k in range(NUM_CLASSES) if k not in HELDOUT_INDICES)
# class index → index of its colour in COLOUR_NAMES / of its shape in SHAPES (for "right colour, wrong shape?")
COLOUR_IDS: tuple[int, ...] = tuple(COLOUR_NAMES.index(colour_of(k)) for k in range(NUM_CLASSES))
SHAPE_IDS: tuple[int, ...] = tuple(SHAPES.index(shape_of(k)) for k in range(NUM_CLASSES))


def check_world(world: object) -> str:
    """One of :data:`WORLDS`; anything else raises a ValueError naming ``world``."""
    if not isinstance(world, str) or world not in WORLDS:
        raise ValueError(f"world must be one of {WORLDS}; got {world!r}")
    return world
