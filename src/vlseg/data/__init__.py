"""Data: ShapesWorld, the course's procedural world (scenes, captions, referring expressions, the class vocabulary)."""

from vlseg.data.dataset import ShapesWorldDataset, collate_scenes
from vlseg.data.real import open_dataset
from vlseg.data.refcoco import RefCOCO, ReferringItem, decode_rle, polygons_to_mask
from vlseg.data.referring import ReferringExpression, referring_expressions
from vlseg.data.shapes_world import (
    Scene,
    SceneBatch,
    ShapeObject,
    ShapesWorld,
    concat_batches,
    draw_scene,
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
    WORLDS,
    class_index,
    class_indices,
)
from vlseg.data.shifted_world import (ShiftedReferringSet, ShiftedScene, ShiftedScenes, shifted_referring_set,
                                      shifted_scenes)
from vlseg.data.voc import CLASS_NAMES as VOC_CLASS_NAMES
from vlseg.data.voc import PROMPT_NAMES as VOC_PROMPT_NAMES
from vlseg.data.voc import VOCSegmentation
from vlseg.data.worlds import EVALUATION_WORLDS, evaluation_scenes, one_object_scenes

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
    "WORLDS",
    "EVALUATION_WORLDS",
    "ShiftedReferringSet",
    "ShiftedScenes",
    "evaluation_scenes",
    "one_object_scenes",
    "ShiftedScene",
    "shifted_referring_set",
    "shifted_scenes",
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
    "draw_scene",
    "generate_batch",
    "heldout_mask",
    "single_object_scenes",
    "referring_expressions",
    "VOC_CLASS_NAMES",
    "VOC_PROMPT_NAMES",
    "RefCOCO",
    "ReferringItem",
    "VOCSegmentation",
    "decode_rle",
    "open_dataset",
    "polygons_to_mask",
]
