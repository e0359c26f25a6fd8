"""ShapesWorld: determinism, masks that match the objects, captions that never name held-out classes."""

import numpy as np
import pytest

from vlseg.data import (
    CLASS_NAMES,
    HELDOUT_CLASSES,
    SEEN_CLASSES,
    SHAPES,
    COLOUR_NAMES,
    ShapesWorld,
    class_index,
    generate_batch,
    single_object_scenes,
)
from vlseg.data.referring import referring_expressions
from vlseg.data.shapes_world import MAX_EXTENT, ShapeObject
from vlseg.data.vocabulary import HELDOUT_INDICES


def test_deterministic_given_seed():
    a = generate_batch(32, seed=7, block=3)
    b = generate_batch(32, seed=7, block=3)
    c = generate_batch(32, seed=8, block=3)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.semantic, b.semantic)
    assert a.captions == b.captions and a.objects == b.objects
    assert not np.array_equal(a.images, c.images)


def test_masks_match_objects():
    batch = generate_batch(64, seed=1, num_objects=(1, 4))
    assert batch.images.shape == (64, 64, 64, 3) and batch.images.dtype == np.uint8
    for i in range(len(batch)):
        scene = batch[i]
        assert 1 <= len(scene.objects) <= 4
        ids = set(np.unique(scene.instance)) - {0}
        assert ids == set(range(1, len(scene.objects) + 1)), "every object is visible, no phantom ids"
        for m, obj in enumerate(scene.objects):
            region = scene.instance == m + 1
            assert region.sum() == obj.visible_pixels
            assert (scene.semantic[region] == obj.class_index + 1).all()
            ys, xs = np.nonzero(region)
            # the visible pixels lie within the shape's extent around its centre
            assert np.hypot(xs + 0.5 - obj.cx, ys + 0.5 - obj.cy).max() <= obj.radius * MAX_EXTENT + 1e-6
        assert (scene.semantic[scene.instance == 0] == 0).all()


def test_objects_cover_several_patches_and_occlusion_is_limited():
    batch = generate_batch(256, seed=2)
    visible = np.array([o.visible_pixels for objs in batch.objects for o in objs]) / 64  # in 8×8 patches
    assert visible.min() >= 2.5 and np.median(visible) >= 5, "objects cover several patches even when occluded"
    counts = np.bincount([len(objs) for objs in batch.objects], minlength=5)
    assert counts[4] > 0.05 * len(batch), "crowded scenes still happen"
    overlapping = sum(
        1 for objs in batch.objects for a in objs for b in objs
        if a is not b and np.hypot(a.cx - b.cx, a.cy - b.cy) < a.radius + b.radius
    )
    assert overlapping > 0, "occlusion is allowed and happens"


def test_any_image_size():
    batch = generate_batch(4, seed=0, image_size=96)
    assert batch.images.shape == (4, 96, 96, 3) and batch.semantic.shape == (4, 96, 96)


def test_heldout_names_never_in_training_captions():
    for block in range(6):
        batch = generate_batch(256, seed=0, split="train", block=block)
        for caption, objects in zip(batch.captions, batch.objects):
            for name in HELDOUT_CLASSES:
                assert name not in caption, caption
    # but validation captions do name them
    val = generate_batch(512, seed=0, split="val")
    assert any(name in c for c in val.captions for name in HELDOUT_CLASSES)


def test_heldout_split_needs_composition():
    assert set(HELDOUT_CLASSES) <= set(CLASS_NAMES) and not set(HELDOUT_CLASSES) & set(SEEN_CLASSES)
    for name in HELDOUT_CLASSES:
        colour, shape = name.split()
        assert any(s.startswith(colour + " ") for s in SEEN_CLASSES), f"{colour} also occurs in seen classes"
        assert any(s.endswith(" " + shape) for s in SEEN_CLASSES), f"{shape} also occurs in seen classes"
    colours = [n.split()[0] for n in HELDOUT_CLASSES]
    assert len(set(colours)) < len(colours), "several held-out classes share a colour"


def test_single_object_scenes_are_balanced():
    scenes, labels = single_object_scenes(3, classes=["red circle", "blue star"])
    assert list(labels) == [class_index("red circle")] * 3 + [class_index("blue star")] * 3
    assert all(len(o) == 1 for o in scenes.objects)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="unknown ShapesWorld class 'pink star'"):
        class_index("pink star")
    with pytest.raises(ValueError, match="num_objects"):
        generate_batch(2, num_objects=(0, 5))
    with pytest.raises(ValueError, match="split"):
        generate_batch(2, split="training")
    with pytest.raises(ValueError, match="image_size"):
        generate_batch(2, image_size=8)


def test_dataset_random_access_matches_blocks():
    world = ShapesWorld("val", seed=3, block_size=16)
    scene = world[21]
    block = world.batch(1)
    assert np.array_equal(scene.image, block.images[5]) and scene.caption == block.captions[5]


def _obj(colour, shape, size, cx, cy):
    idx = CLASS_NAMES.index(f"{colour} {shape}")
    return ShapeObject(idx, colour, shape, size, cx, cy, 8.0, 100)


def test_referring_expressions_on_a_hand_made_scene():
    objects = [
        _obj("red", "circle", "small", 10, 30),
        _obj("red", "circle", "large", 50, 30),
        _obj("blue", "square", "small", 30, 10),
    ]
    exprs = referring_expressions(objects, 64, 64)
    by_text = {e.text: e.target for e in exprs}
    assert by_text["the square"] == 2
    assert by_text["the small red circle"] == 0
    assert by_text["the leftmost circle"] == 0
    assert by_text["the rightmost red circle"] == 1
    assert "the red circle" not in by_text, "ambiguous phrases are never produced"
    kinds = {e.kind for e in exprs}
    assert {"attribute", "spatial"} <= kinds
    # relation: the circle left of the square is object 0
    assert by_text["the circle left of the square"] == 0


def test_referring_expressions_are_unique_and_flag_heldout():
    batch = generate_batch(64, seed=5, split="val", duplicate_prob=0.6)
    found_kinds = set()
    for i in range(len(batch)):
        exprs = batch[i].referring_expressions()
        texts = [e.text for e in exprs]
        targets = {}
        for e in exprs:
            assert targets.setdefault(e.text, e.target) == e.target, f"{e.text!r} refers to two objects"
            found_kinds.add(e.kind)
            obj = batch.objects[i][e.target]
            if e.kind == "attribute" and e.text.endswith(obj.name):
                assert e.names_heldout == (obj.class_index in HELDOUT_INDICES)
    assert found_kinds == {"attribute", "spatial", "relation", "ordinal"}


def test_torch_dataset_and_loader():
    import torch
    from torch.utils.data import DataLoader

    from vlseg.data import ShapesWorldDataset, collate_scenes

    dataset = ShapesWorldDataset(10, split="val", seed=4, block_size=4)
    assert len(dataset) == 10
    loader = DataLoader(dataset, batch_size=3, collate_fn=collate_scenes)
    batch = next(iter(loader))
    assert batch["image"].shape == (3, 3, 64, 64) and batch["image"].dtype == torch.uint8
    assert batch["semantic"].shape == (3, 64, 64) and len(batch["caption"]) == 3
    assert torch.equal(batch["image"][1].permute(1, 2, 0), torch.from_numpy(dataset.world[1].image))
    with pytest.raises(IndexError):
        dataset[10]
