"""Data: ShapesWorld (procedural, the course's default) and loaders for real data sets."""

from vlseg.data.referring import ReferringExpression, referring_expressions
from vlseg.data.shapes_world import Scene, SceneBatch, ShapeObject, ShapesWorld, generate_batch, single_object_scenes
from vlseg.data.vocabulary import (
    BACKGROUND,
    CLASS_NAMES,
    COLOUR_NAMES,
    HELDOUT_CLASSES,
    IGNORE_INDEX,
    NUM_CLASSES,
    SEEN_CLASSES,
    SHAPES,
    SIZES,
    class_index,
    class_indices,
)

__all__ = [
    "BACKGROUND",
    "CLASS_NAMES",
    "COLOUR_NAMES",
    "HELDOUT_CLASSES",
    "IGNORE_INDEX",
    "NUM_CLASSES",
    "SEEN_CLASSES",
    "SHAPES",
    "SIZES",
    "ReferringExpression",
    "Scene",
    "SceneBatch",
    "ShapeObject",
    "ShapesWorld",
    "class_index",
    "class_indices",
    "generate_batch",
    "single_object_scenes",
    "referring_expressions",
]
