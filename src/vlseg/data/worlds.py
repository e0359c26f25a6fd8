"""Which world a model is scored on: ShapesWorld's own worlds ("v1", "v2") or the shifted test world.

Every evaluation in the course can run on any of :data:`EVALUATION_WORLDS`, so that a model is always reported on
its own validation scenes *and* on scenes it was not tuned on, side by side:

* ``"v1"``, ``"v2"``: ShapesWorld's validation split (:func:`vlseg.data.generate_batch`);
* ``"shifted"``: the independently written renderer and grammar of :mod:`vlseg.data.shifted_world`, used only for
  evaluation. It has no splits: its scenes are never trained on.
"""

from __future__ import annotations

import numpy as np

from vlseg.checks import check_positive_int, check_seed
from vlseg.data.shapes_world import SceneBatch, generate_batch, single_object_scenes
from vlseg.data.shifted_world import ShiftedScenes, shifted_scenes
from vlseg.data.vocabulary import NUM_CLASSES, WORLDS

EVALUATION_WORLDS: tuple[str, ...] = WORLDS + ("shifted",)


def check_evaluation_world(world: object) -> str:
    """One of :data:`EVALUATION_WORLDS`; anything else raises a ValueError naming ``world``."""
    if not isinstance(world, str) or world not in EVALUATION_WORLDS:
        raise ValueError(f"world must be one of {EVALUATION_WORLDS}; got {world!r}")
    return world


def evaluation_scenes(world: str, n_scenes: int, *, seed: int, num_objects: tuple[int, int] = (1, 4),
                      image_size: int = 64) -> SceneBatch | ShiftedScenes:
    """``n_scenes`` validation scenes of ``world``: both kinds have ``images``, ``semantic``, ``instance``, ``objects``,
    and index to one scene with ``referring_expressions()``."""
    world = check_evaluation_world(world)
    if world == "shifted":
        return shifted_scenes(n_scenes, seed=seed, num_objects=num_objects, image_size=image_size)
    return generate_batch(n_scenes, seed=seed, split="val", world=world, num_objects=num_objects, image_size=image_size)


def one_object_scenes(world: str, n_per_class: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, H, W, 3) of one object each and their class labels (N,), for image-level zero-shot accuracy.

    ShapesWorld's are class-balanced (``n_per_class`` of each of the 49 classes); the shifted world draws its classes
    at random, so it gives ``49 × n_per_class`` scenes with about ``n_per_class`` of each class.
    """
    world = check_evaluation_world(world)
    n_per_class = check_positive_int(n_per_class, "n_per_class")
    seed = check_seed(seed)
    if world == "shifted":
        scenes = shifted_scenes(NUM_CLASSES * n_per_class, seed=seed, num_objects=(1, 1))
        return scenes.images, np.array([objects[0].class_index for objects in scenes.objects])
    scenes, labels = single_object_scenes(n_per_class, seed=seed, split="val", world=world)
    return scenes.images, labels
