"""Data: ShapesWorld, the course's procedural world (scenes, captions, referring expressions, the class vocabulary)."""

from vlseg.data.dataset import ShapesWorldDataset, collate_scenes
from vlseg.data.referring import ReferringExpression, referring_expressions
from vlseg.data.shapes_world import (
    Scene,
    SceneBatch,
    ShapeObject,
    ShapesWorld,
    concat_batches,
    generate_batch,
    heldout_mask,
    single_object_scenes,
)
from vlseg.data.vocabulary import (
    BACKGROUND,
    CLASS_NAMES,
    COLOUR_NAMES,
    COLOURS,
    HELDOUT_CLASS_INDICES,
    HELDOUT_CLASSES,
    IGNORE_INDEX,
    NUM_CLASSES,
    SEEN_CLASS_INDICES,
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
    "COLOURS",
    "HELDOUT_CLASS_INDICES",
    "HELDOUT_CLASSES",
    "IGNORE_INDEX",
    "NUM_CLASSES",
    "SEEN_CLASS_INDICES",
    "SEEN_CLASSES",
    "SHAPES",
    "SIZES",
    "ReferringExpression",
    "Scene",
    "SceneBatch",
    "ShapeObject",
    "ShapesWorld",
    "ShapesWorldDataset",
    "collate_scenes",
    "class_index",
    "class_indices",
    "concat_batches",
    "generate_batch",
    "heldout_mask",
    "single_object_scenes",
    "referring_expressions",
]
