"""ShapesWorld's worlds: "v1" stays byte-identical (pinned digests); "v2" is wider in looks and in phrasing."""

import colorsys
import hashlib
import re

import numpy as np
import pytest

from vlseg.cris.data import concat_referring_batches, referring_batch
from vlseg.data import (
    HELDOUT_CLASSES,
    WORLDS,
    ShapesWorld,
    ShapesWorldDataset,
    draw_scene,
    generate_batch,
    single_object_scenes,
)
from vlseg.data import referring as referring_module
from vlseg.data.captions import MULTI_TEMPLATES_V2, SINGLE_TEMPLATES_V2
from vlseg.data.referring import (
    HELDOUT_ONLY_WORDS,
    HELDOUT_TEMPLATES,
    TEMPLATE_IDS,
    is_heldout_template,
    template_pattern,
)
from vlseg.data.rendering_v2 import (
    BACKGROUND_FAMILIES,
    CLASH_HUE_DEG,
    COLOUR_BANDS,
    background_colours,
    rgb_to_hue,
)
from vlseg.data.shapes_world import (
    MAX_EXTENT,
    RADIUS_RANGE,
    RADIUS_RANGE_V2,
    _coverage,
    min_visible_pixels,
)
from vlseg.data.vocabulary import HELDOUT_INDICES

# sha256 digests of today's world ("v1"), computed once with the code before "v2" existed. Any change to them
# means the default world changed: every trained checkpoint and recorded number would silently shift.
V1_DIGESTS = {
    "train": "27f34577d209a4525a8e3fd84099100d5836b89ba38b860494ddc7faa18baaa6",
    "val": "3ff4b36170c68131dcd9edc49910783d1c6707846d6b3e0e53ad48816790d61e",
    "test": "d4ce998c13bd848d595d03fa2180f7e9d5a17084e1459b9c989926efffde6425",
    "single_object_scenes": "2cc5830a96a6a2f633abd83e22f2efa8aa4fe5d22712eea9c546ac20ad47d6aa",
    "single_object_labels": "c7d13b0f506c57d47ad8090846af89589980861a832d8729a799e8a3f244ce50",
    "referring_batch": "24db8afe3910ef402140c4bef4368b2f215c19978af2f1428a865e61e706284c",
    "draw_scene": "a99571d874d27cbf90658e61436cd81fcacd575f89b251a9d61fbc29ef6a379e",
}


def _digest_batch(batch) -> str:
    """Pixels, masks, captions and every referring expression (text, target, kind, held-out flag) of a batch."""
    h = hashlib.sha256()
    for array in (batch.images, batch.semantic, batch.instance):
        h.update(np.ascontiguousarray(array).tobytes())
    for caption in batch.captions:
        h.update(caption.encode() + b"\n")
    for i in range(len(batch)):
        for e in batch[i].referring_expressions():
            h.update(f"{i}|{e.text}|{e.target}|{e.kind}|{e.names_heldout}\n".encode())
    return h.hexdigest()


def test_v1_is_unchanged_by_default():
    for split in ("train", "val", "test"):
        assert _digest_batch(generate_batch(64, seed=3, split=split)) == V1_DIGESTS[split], split
    scenes, labels = single_object_scenes(2)
    assert _digest_batch(scenes) == V1_DIGESTS["single_object_scenes"]
    assert hashlib.sha256(labels.astype(np.int64).tobytes()).hexdigest() == V1_DIGESTS["single_object_labels"]

    batch = referring_batch(50, seed=5, split="val")
    h = hashlib.sha256()
    h.update(batch.images.tobytes())
    h.update(batch.masks.numpy().tobytes())
    for text, kind, heldout in zip(batch.texts, batch.kinds, batch.names_heldout):
        h.update(f"{text}|{kind}|{heldout}\n".encode())
    assert h.hexdigest() == V1_DIGESTS["referring_batch"]

    scene = draw_scene([("red", "circle", "small", 0.3, 0.4), ("blue", "diamond", "large", 0.6, 0.6)], seed=2)
    h = hashlib.sha256()
    for array in (scene.image, scene.semantic, scene.instance):
        h.update(array.tobytes())
    h.update(scene.caption.encode())
    for e in scene.referring_expressions():
        h.update(f"{e.text}|{e.target}|{e.kind}|{e.names_heldout}\n".encode())
    assert h.hexdigest() == V1_DIGESTS["draw_scene"]


# --- world "v2" ----------------------------------------------------------------------------------------------------

def _erode(mask: np.ndarray) -> np.ndarray:
    """One step of 4-neighbour erosion (drops the anti-aliased rim)."""
    p = np.pad(mask, 1)
    return mask & p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]


@pytest.fixture(scope="module")
def v2_val():
    return generate_batch(256, seed=2, split="val", world="v2")


def test_worlds_are_declared():
    assert WORLDS == ("v1", "v2")
    assert generate_batch(2, seed=0).world == "v1" and generate_batch(2, seed=0)[0].world == "v1"


def test_v2_is_deterministic_and_differs_from_v1():
    a = generate_batch(24, seed=7, block=2, world="v2")
    b = generate_batch(24, seed=7, block=2, world="v2")
    assert np.array_equal(a.images, b.images) and np.array_equal(a.semantic, b.semantic)
    assert np.array_equal(a.instance, b.instance) and a.captions == b.captions and a.objects == b.objects
    assert [a[i].referring_expressions() for i in range(24)] == [b[i].referring_expressions() for i in range(24)]
    assert a.world == "v2" and a[0].world == "v2"
    v1 = generate_batch(24, seed=7, block=2)
    assert not np.array_equal(a.images, v1.images) and a.captions != v1.captions
    assert not np.array_equal(generate_batch(24, seed=8, block=2, world="v2").images, a.images)
    # the same scenes through every entry point
    world = ShapesWorld("train", seed=7, block_size=24, world="v2")
    assert np.array_equal(world.batch(2).images, a.images) and world.settings["world"] == "v2"
    assert np.array_equal(world[2 * 24 + 5].image, a.images[5])
    dataset = ShapesWorldDataset(4, split="train", seed=7, block_size=24, world="v2")
    assert dataset.world.settings["world"] == "v2"
    scenes, labels = single_object_scenes(2, classes=["red circle", "blue star"], world="v2")
    assert scenes.world == "v2" and len(scenes) == 4 and list(labels[:2]) == [scenes.objects[0][0].class_index] * 2


def test_v2_masks_agree_with_objects_and_objects_stay_big_enough(v2_val):
    for i in range(len(v2_val)):
        scene = v2_val[i]
        ids = set(np.unique(scene.instance)) - {0}
        assert ids == set(range(1, len(scene.objects) + 1)), "every object is visible, no phantom ids"
        for m, obj in enumerate(scene.objects):
            region = scene.instance == m + 1
            assert region.sum() == obj.visible_pixels >= min_visible_pixels(64) == 128
            assert (scene.semantic[region] == obj.class_index + 1).all()
            ys, xs = np.nonzero(region)
            # coverage ≥ ½ puts a pixel centre at most half a diagonal outside the shape
            assert np.hypot(xs + 0.5 - obj.cx, ys + 0.5 - obj.cy).max() <= obj.radius * MAX_EXTENT + 0.71
            low, high = RADIUS_RANGE_V2[obj.size]
            assert low * 64 - 1e-6 <= obj.radius <= high * 64 + 1e-6
        assert (scene.semantic[scene.instance == 0] == 0).all()
    # sizes: further apart and wider than v1's
    assert RADIUS_RANGE_V2["large"][0] / RADIUS_RANGE_V2["small"][1] > RADIUS_RANGE["large"][0] / RADIUS_RANGE["small"][1]
    for size in ("small", "large"):
        assert np.diff(RADIUS_RANGE_V2[size]) > np.diff(RADIUS_RANGE[size])
    # the 2-patch floor scales with the image
    big = generate_batch(32, seed=1, world="v2", image_size=96)
    assert min(o.visible_pixels for objs in big.objects for o in objs) >= min_visible_pixels(96) == 288


def test_v2_colours_stay_in_their_named_hue_bands(v2_val):
    names = list(COLOUR_BANDS)
    centres = np.array([COLOUR_BANDS[n][0] for n in names])
    checked = 0
    for i in range(len(v2_val)):
        for m, obj in enumerate(v2_val.objects[i]):
            inner = _erode(v2_val.instance[i] == m + 1)
            if inner.sum() < 20:
                continue
            hue = float(rgb_to_hue(np.median(v2_val.images[i][inner].astype(np.float32), axis=0)))
            offset = (hue - centres + 180) % 360 - 180  # signed distance to every band centre
            assert names[int(np.argmin(np.abs(offset)))] == obj.colour, (obj, hue)
            assert abs(offset[names.index(obj.colour)]) <= COLOUR_BANDS[obj.colour][1] + 3.0, (obj, hue)
            checked += 1
    assert checked > 400
    # neighbouring names never share a hue: red / orange / yellow and cyan / blue / purple stay apart
    for a, b in (("red", "orange"), ("orange", "yellow"), ("cyan", "blue"), ("blue", "purple")):
        (ca, wa), (cb, wb) = COLOUR_BANDS[a][:2], COLOUR_BANDS[b][:2]
        assert cb - wb > (ca + wa) % 360 + 10 if ca > 180 or a != "red" else cb - wb > wa + 10


def test_v2_backgrounds_are_diverse(v2_val):
    saturation, hue = [], []
    for i in range(len(v2_val)):
        pixels = v2_val.images[i][v2_val.instance[i] == 0].astype(np.float32)
        median = np.median(pixels, axis=0)
        saturation.append((median.max() - median.min()) / max(median.max(), 1.0))
        hue.append(float(rgb_to_hue(median)))
    assert np.quantile(saturation, 0.1) < 0.2 and np.quantile(saturation, 0.9) > 0.6, "greyish and vivid backgrounds"
    assert (np.histogram(hue, bins=6, range=(0, 360))[0] > 10).all(), "backgrounds of every hue"
    families = v2_val.extra["background"]
    assert {f: families.count(f) > 30 for f in BACKGROUND_FAMILIES} == {f: True for f in BACKGROUND_FAMILIES}
    blurred = np.mean(v2_val.extra["blur_sigma"] > 0)
    assert 0.25 < blurred < 0.55 and v2_val.extra["blur_sigma"].max() <= 1.0
    assert v2_val.extra["noise_sigma"].min() >= 1.0 and v2_val.extra["noise_sigma"].max() <= 12.0


def test_v2_background_colours_near_an_object_hue_are_muted_or_dark():
    rng = np.random.default_rng(0)
    object_hue = rng.random((2000, 2))
    valid = np.ones((2000, 2), bool)
    rgb = background_colours(rng, object_hue, valid) / 255.0  # (N, 2, 3)
    hsv = np.array([colorsys.rgb_to_hsv(*c) for c in rgb.reshape(-1, 3)]).reshape(2000, 2, 3)
    gap = np.abs(hsv[..., 0][:, :, None] - object_hue[:, None, :])
    gap = 360 * np.minimum(gap, 1 - gap).min(-1)  # (N, 2) degrees to the nearest object hue
    near = gap < CLASH_HUE_DEG - 0.5
    assert near.mean() > 0.3, "close-hue backgrounds happen (on purpose, in 20 % of scenes, and by chance)"
    sat, val = hsv[..., 1][near], hsv[..., 2][near]
    assert ((sat <= 0.41) | (val <= 0.46)).all(), "…but differ from the objects in saturation or value"
    assert (gap < 12.5).mean() > 0.2


def test_v2_any_rotation_and_an_elongated_diamond(v2_val):
    angles = v2_val.extra["rotation_deg"][np.isfinite(v2_val.extra["rotation_deg"])]
    assert (np.histogram(angles, bins=12, range=(0, 360))[0] > 0).all()
    # seen in the pixels: the long axis of the v2 diamonds points every way
    orientations = []
    for i in range(len(v2_val)):
        for m, obj in enumerate(v2_val.objects[i]):
            if obj.shape == "diamond" and obj.visible_pixels > 0.9 * 2.28 * obj.radius**2:
                ys, xs = np.nonzero(v2_val.instance[i] == m + 1)
                cov = np.cov(np.stack([xs, ys]).astype(float))
                evals, evecs = np.linalg.eigh(cov)
                assert evals[1] / evals[0] > 1.8, "the v2 diamond is elongated (1.6² ≈ 2.6 in variance)"
                orientations.append(np.degrees(np.arctan2(evecs[1, 1], evecs[0, 1])) % 180)
    assert (np.histogram(orientations, bins=6, range=(0, 180))[0] > 0).all()
    # drawn upright: v2's diamond is 1.6 × taller than wide, v1's is as wide as tall
    for world, aspect in (("v1", 1.0), ("v2", 1.6)):
        scene = draw_scene([("blue", "diamond", "large", 0.5, 0.5)], world=world)
        ys, xs = np.nonzero(scene.instance == 1)
        assert abs((np.ptp(ys) + 1) / (np.ptp(xs) + 1) - aspect) < 0.15, world


def test_v2_coverage_is_anti_aliased():
    cls = np.array([[0]])  # red circle
    radius = np.array([[10.3]])
    coverage = _coverage(cls, np.array([[[31.7, 30.2]]]), radius, np.zeros((1, 1)), np.ones((1, 1), bool), 64)
    partial = (coverage > 0) & (coverage < 1)
    assert partial.sum() > 40, "the rim is partly covered"
    assert abs(coverage.sum() - np.pi * 10.3**2) < 0.01 * np.pi * 10.3**2, "coverage integrates to the area"
    scene = draw_scene([("red", "circle", "large", 0.5, 0.5)], world="v2")
    assert abs((scene.instance == 1).sum() - np.pi * (np.mean(RADIUS_RANGE_V2["large"]) * 64) ** 2) < 20


def test_v2_referring_expressions_are_unique_and_worded_by_their_template(v2_val):
    found_kinds = set()
    for i in range(len(v2_val)):
        targets = {}
        for e in v2_val[i].referring_expressions():
            assert targets.setdefault(e.text, e.target) == e.target, f"{e.text!r} refers to two objects"
            assert template_pattern(e.template).fullmatch(e.text), (e.template, e.text)
            assert e.heldout_phrasing == is_heldout_template(e.template)
            found_kinds.add(e.kind)
            obj = v2_val.objects[i][e.target]
            if e.kind == "attribute" and e.text.endswith(obj.name):
                assert e.names_heldout == (obj.class_index in HELDOUT_INDICES)
    assert found_kinds == {"attribute", "spatial", "relation", "ordinal"}
    # v1 expressions carry no template
    assert all(e.template == "" and not e.heldout_phrasing for e in generate_batch(8, seed=1)[3].referring_expressions())


def test_every_template_occurs_in_validation():
    seen = {}
    for block in range(2):
        batch = generate_batch(256, seed=0, split="val", block=block, world="v2", duplicate_prob=0.6,
                               num_objects=(3, 4))
        for i in range(len(batch)):
            for e in batch[i].referring_expressions():
                seen[e.template] = seen.get(e.template, 0) + 1
    assert set(seen) == set(TEMPLATE_IDS), set(TEMPLATE_IDS) - set(seen)
    assert all(seen[t] >= 20 for t in TEMPLATE_IDS)
    assert all(t in TEMPLATE_IDS for ids in HELDOUT_TEMPLATES.values() for t in ids)
    assert all(HELDOUT_TEMPLATES[kind] for kind in ("attribute", "spatial", "relation", "ordinal"))


def test_heldout_phrasings_never_reach_training_text():
    patterns = [template_pattern(t) for ids in HELDOUT_TEMPLATES.values() for t in ids]
    n_texts = 0
    for block in range(16):  # 4096 training scenes, half of them crowded with look-alikes
        crowded = {"duplicate_prob": 0.6, "num_objects": (3, 4)} if block % 2 else {}
        batch = generate_batch(256, seed=11, split="train", block=block, world="v2", **crowded)
        texts = list(batch.captions)
        for i in range(len(batch)):
            expressions = batch[i].referring_expressions()
            assert not any(e.heldout_phrasing for e in expressions)
            texts += [e.text for e in expressions]
        for caption in batch.captions:
            assert not any(name in caption for name in HELDOUT_CLASSES), caption
        for text in texts:
            assert not any(p.search(text) for p in patterns), text
            assert not set(re.findall(r"[a-z]+", text)) & HELDOUT_ONLY_WORDS, text
        n_texts += len(texts)
    assert n_texts > 20_000
    # the words seen only at test time are the ones the module docstring documents
    documented = re.search(r"only at test time\* \(:data:`HELDOUT_ONLY_WORDS`\): \*\*([a-z, ]+)\*\*",
                           " ".join(referring_module.__doc__.split()))
    assert documented and set(documented.group(1).split(", ")) == set(HELDOUT_ONLY_WORDS)


def test_v2_caption_grammar(v2_val):
    assert len(SINGLE_TEMPLATES_V2) >= 15 and len(MULTI_TEMPLATES_V2) >= 10
    captions = generate_batch(512, seed=4, split="train", world="v2").captions + v2_val.captions
    for words in (" left of ", " to the left of ", " right of ", " to the right of ", " above ", " over ", " below ",
                  " under ", " painted ", " in red", "something ", " object"):
        assert any(words in c for c in captions), words
    assert len(set(captions)) > 0.9 * len(captions)
    assert not any(c.startswith("the ") for c in captions)


def test_referring_batch_in_v2_filters_phrasings():
    heldout = referring_batch(64, seed=1, split="val", world="v2", phrasings="heldout")
    assert heldout.heldout_phrasings and all(heldout.heldout_phrasings)
    assert all(is_heldout_template(t) for t in heldout.templates)
    seen = referring_batch(64, seed=1, split="val", world="v2", phrasings="seen")
    assert not any(seen.heldout_phrasings) and len(seen.templates) == len(seen.texts)
    train = referring_batch(64, seed=1, split="train", world="v2")
    assert not any(train.heldout_phrasings)
    both = concat_referring_batches([heldout, seen])
    assert len(both.templates) == len(both.texts) == len(heldout.texts) + len(seen.texts)
    with pytest.raises(ValueError, match="phrasings='heldout'"):
        referring_batch(32, seed=1, split="train", world="v2", phrasings="heldout")
    v1 = referring_batch(16, seed=1, split="val")
    assert v1.templates == [""] * len(v1.texts) and not any(v1.heldout_phrasings)


@pytest.mark.parametrize("call", [
    lambda: generate_batch(2, world="v3"),
    lambda: generate_batch(2, world=2),
    lambda: ShapesWorld("val", world="V2"),
    lambda: ShapesWorldDataset(4, world="v0"),
    lambda: single_object_scenes(1, world="v3"),
    lambda: draw_scene([("red", "circle", "small", 0.5, 0.5)], world="v3"),
    lambda: referring_batch(4, world="v3"),
])
def test_bad_world_raises_naming_it(call):
    with pytest.raises(ValueError, match=r"world must be one of \('v1', 'v2'\); got"):
        call()


def test_bad_phrasings_raise_naming_it():
    with pytest.raises(ValueError, match="phrasings must be None, 'seen' or 'heldout'; got 'unseen'"):
        referring_batch(4, world="v2", phrasings="unseen")
    with pytest.raises(ValueError, match="unknown template"):
        template_pattern("attribute.nope")


def test_unseen_direction_words_are_the_heldout_words_that_alone_name_a_direction():
    from vlseg.data.referring import HELDOUT_DIRECTION_WORDS, needs_unseen_direction

    assert HELDOUT_DIRECTION_WORDS == {"up", "down", "higher", "than", "beneath"}
    assert HELDOUT_DIRECTION_WORDS <= HELDOUT_ONLY_WORDS
    assert needs_unseen_direction("the star furthest up") and needs_unseen_direction("the ring beneath the square")
    assert not needs_unseen_direction("the star furthest to the left")  # "left" says it
    assert not needs_unseen_direction("highlight the red circle")
    assert not needs_unseen_direction("the ring on the left side of the square")
