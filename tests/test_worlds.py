"""Every evaluation runs on ShapesWorld "v1", "v2" or the shifted test world, through the same code."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from vlseg.clip import build_tiny_clip
from vlseg.clip_training.training import ClipRecipe, clip_step_fn
from vlseg.cris.data import referring_chunks, shifted_referring_batch
from vlseg.cris.evaluation import evaluation_batches
from vlseg.data import (CLASS_NAMES, COLOUR_NAMES, EVALUATION_WORLDS, SHAPES, evaluation_scenes, generate_batch,
                        one_object_scenes, single_object_scenes)
from vlseg.text import caption_corpus


@pytest.mark.parametrize("world", EVALUATION_WORLDS)
def test_evaluation_scenes_of_every_world_have_images_masks_and_objects(world):
    scenes = evaluation_scenes(world, 6, seed=3)
    assert scenes.images.shape == (6, 64, 64, 3) and scenes.images.dtype == np.uint8
    assert scenes.semantic.shape == scenes.instance.shape == (6, 64, 64)
    for i, objects in enumerate(scenes.objects):
        present = set(np.unique(scenes.semantic[i])) - {0}
        assert present == {obj.class_index + 1 for obj in objects}  # every object visible, nothing else


def test_v1_evaluation_scenes_are_the_validation_scenes_the_chapters_always_used():
    assert np.array_equal(evaluation_scenes("v1", 4, seed=7).images, generate_batch(4, seed=7, split="val").images)
    images, labels = one_object_scenes("v1", 2, seed=1234)
    scenes, expected = single_object_scenes(2, seed=1234, split="val")
    assert np.array_equal(images, scenes.images) and np.array_equal(labels, expected)


@pytest.mark.parametrize("world", EVALUATION_WORLDS)
def test_one_object_scenes_are_labelled_by_the_object_they_show(world):
    images, labels = one_object_scenes(world, 1, seed=5)
    assert len(images) == len(labels) == len(CLASS_NAMES)
    assert labels.min() >= 0 and labels.max() < len(CLASS_NAMES)
    if world != "shifted":  # ShapesWorld's are class-balanced
        assert sorted(labels.tolist()) == list(range(len(CLASS_NAMES)))


def test_a_world_that_does_not_exist_is_named_in_the_error():
    with pytest.raises(ValueError, match="world must be one of .*'shifted'.*got 'v3'"):
        evaluation_scenes("v3", 2, seed=0)
    with pytest.raises(ValueError, match="world"):
        one_object_scenes("shapes", 2, seed=0)


def test_shifted_referring_batches_keep_the_wording_asked_for():
    plain = shifted_referring_batch(60, seed=2, styles=("plain",))
    pattern = re.compile(rf"the ({'|'.join(COLOUR_NAMES)}) ({'|'.join(SHAPES)})")
    assert plain.texts and all(pattern.fullmatch(text) for text in plain.texts)
    assert set(plain.styles) == {"plain"} and set(plain.kinds) == {"attribute"}
    free = shifted_referring_batch(60, seed=2, styles=("free",), heldout_names=False)
    assert set(free.styles) == {"free"} and not any(free.names_heldout)
    chunks = referring_chunks(free, 25)
    assert [len(c.texts) for c in chunks][:-1] == [25] * (len(chunks) - 1)
    assert sum(len(c.texts) for c in chunks) == len(free.texts)
    assert torch.equal(torch.cat([c.masks for c in chunks]), free.masks)


def test_evaluation_sets_refuse_filters_of_another_world():
    with pytest.raises(ValueError, match="phrasings applies to ShapesWorld"):
        evaluation_batches(20, world="shifted", phrasings="heldout")
    with pytest.raises(ValueError, match="styles applies to world='shifted' only"):
        evaluation_batches(20, world="v2", styles=("plain",))
    held_out = evaluation_batches(60, world="v2", phrasings="heldout", batch_size=30)
    assert all(all(batch.heldout_phrasings) for batch in held_out)


def test_the_tiny_clip_trains_on_the_world_its_recipe_names(monkeypatch):
    import vlseg.clip_training.training as clip_training

    asked = []
    real = clip_training.generate_batch
    monkeypatch.setattr(clip_training, "generate_batch", lambda *a, **k: asked.append(k["world"]) or real(*a, **k))
    bundle = build_tiny_clip(seed=0)
    recipe = ClipRecipe(world="v2", batch_size=8, steps=2, single_object_fraction=0.5)
    losses = [clip_step_fn(bundle, recipe)(step)["loss"] for step in (0, 1)]  # a one-object step, then a mixed one
    assert all(torch.isfinite(loss) for loss in losses) and asked == ["v2"] * 3


def test_the_tokenizer_corpus_of_the_wider_world_has_its_words_but_not_its_held_out_phrasings():
    corpus = caption_corpus(n_scenes=1000, world="v2")
    assert any("painted" in text for text in corpus) and not any("beneath" in text for text in corpus)


def test_pacl_and_cris_recipes_train_on_the_world_they_name(monkeypatch):
    import vlseg.cris.training as cris_training
    import vlseg.pacl.training as pacl_training
    from vlseg.cris import CRIS, CrisRecipe
    from vlseg.pacl import PaclModel, PaclRecipe

    asked = []
    real_scenes, real_referring = pacl_training.generate_batch, cris_training.referring_batch
    monkeypatch.setattr(pacl_training, "generate_batch",
                        lambda *a, **k: asked.append(("pacl", k["world"])) or real_scenes(*a, **k))
    monkeypatch.setattr(cris_training, "referring_batch",
                        lambda *a, **k: asked.append(("cris", k["world"])) or real_referring(*a, **k))
    bundle = build_tiny_clip(seed=0)
    pacl_recipe = PaclRecipe(world="v2", batch_size=8)
    assert torch.isfinite(pacl_training.pacl_step_fn(PaclModel(bundle, pacl_recipe.model), pacl_recipe)(0)["loss"])
    cris_recipe = CrisRecipe(world="v2", batch_size=8)
    assert torch.isfinite(cris_training.cris_step_fn(CRIS(bundle, cris_recipe.model), cris_recipe)(0)["loss"])
    assert asked == [("pacl", "v2"), ("cris", "v2")]



def test_shifted_expressions_are_filtered_by_held_out_names_before_one_is_drawn_per_scene():
    named = shifted_referring_batch(300, seed=11, heldout_names=True)
    assert named.names_heldout and all(named.names_heldout)
    every = shifted_referring_batch(300, seed=11)
    assert len(named.texts) > sum(every.names_heldout)  # drawn among the held-out ones, not filtered after the draw


def test_the_wider_world_fits_as_many_objects_as_asked_about_as_often_as_v1():
    counts = {world: np.bincount([len(objects) for objects in generate_batch(
        300, seed=0, split="val", world=world, num_objects=(3, 4)).objects], minlength=5) for world in ("v1", "v2")}
    assert counts["v2"][1:3].sum() <= counts["v1"][1:3].sum() + 30, counts  # scenes that lost objects


@pytest.mark.parametrize("changes, name", [({"world": "v3"}, "world"), ({"dense_weight": -1.0}, "dense_weight"),
                                           ({"dense_weight": float("nan")}, "dense_weight"),
                                           ({"dense_temperature": 0.0}, "dense_temperature")])
def test_a_clip_recipe_with_a_bad_field_is_refused_by_name(changes, name):
    with pytest.raises(ValueError, match=name):
        ClipRecipe(**changes)
