"""Chapter 06's playground: its controls, driven from code as a reader's clicks would drive them, change its outputs;
``look`` scores against the right ground truth; ``draw_scene`` paints like the generator; bad input is named."""

import datetime
import io

import numpy as np
import pytest
import torch
from PIL import Image

import vlseg
from vlseg.data import CLASS_NAMES, draw_scene, generate_batch, shifted_scenes
from vlseg.playground import Playground, decode_upload, look, parse_class_names, referred_object, semantic_targets


@pytest.fixture(scope="module")
def models():
    torch.set_num_threads(1)
    pacl, cris = vlseg.pretrained("pacl-shapes"), vlseg.pretrained("cris-shapes")
    pacl.calibrate_background()
    return pacl, cris


@pytest.fixture(scope="module")
def playground(models):
    return Playground(*models, generate_batch(6, seed=0, split="val"), seed=0)


def png_bytes(height: int, width: int, value: int = 120) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((height, width, 3), value, np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def uploaded(content: bytes, name: str) -> tuple[dict, ...]:
    return ({"name": name, "type": "image/png", "size": len(content), "content": memoryview(content),
             "last_modified": datetime.datetime(2026, 1, 1)},)


def test_default_state_is_the_look_of_its_first_scene(playground, models):
    scene = playground.scenes[0]
    view = look(*models, scene.image, scene=scene, query="a red shape",
                class_names=list(dict.fromkeys(o.name for o in scene.objects)),
                expression=scene.referring_expressions()[0].text)
    assert playground.view is not None and playground.view.summary() == view.summary()
    assert view.segmentation_miou is not None and view.mask_iou is not None
    assert playground.message == view.summary()  # the numbers printed under the figure


def test_every_control_changes_what_is_shown(playground):
    pg = playground
    pg.source.value, pg.scene_index.value = "validation scene", 0
    before = pg.view
    pg.query.value = "a star"
    assert pg.view.query == "a star" and not torch.equal(pg.view.similarity, before.similarity)

    pg.background.value = 1.0  # nothing clears a cosine of 1: all background
    assert (pg.view.segmentation == -1).all()
    pg.background.value = -0.2  # everything clears it: no background
    assert (pg.view.segmentation >= 0).all()

    pg.threshold.value = 0.05
    loose = int(pg.view.mask.sum())
    pg.threshold.value = 0.95
    assert int(pg.view.mask.sum()) < loose

    pg.class_names.value = "red circle, nonsense words"  # free text: segmented, but no ground truth
    assert pg.view.class_names == ("red circle", "nonsense words") and pg.view.segmentation_miou is None

    pg.scene_index.value = 3  # a new scene resets the class names and the expression to that scene's own
    assert np.array_equal(pg.view.image, pg.scenes[3].image)
    assert pg.view.expression == pg.scenes[3].referring_expressions()[0].text and pg.view.mask_iou is not None


def test_new_scene_and_drawn_scene(playground):
    pg = playground
    pg.seed.value = 5
    pg.source.value = "new scene"
    assert np.array_equal(pg.view.image, generate_batch(1, seed=5, split="val").images[0])

    pg.source.value = "draw"
    first = pg.view.image.copy()
    pg.drawing[0]["colour"].value = "purple"
    assert not np.array_equal(pg.view.image, first)
    assert "purple circle" in pg.view.class_names and pg.view.segmentation_miou is not None
    pg.drawing[1]["show"].value = False  # two objects left
    assert len(pg.view.class_names) == 2


def test_v2_and_shifted_scenes_come_with_their_ground_truth(playground):
    pg = playground
    pg.seed.value = 7
    pg.source.value = "v2 scene"
    v2 = generate_batch(1, seed=7, split="val", world="v2")[0]
    assert np.array_equal(pg.view.image, v2.image) and pg.view.expression == v2.referring_expressions()[0].text
    assert pg.view.segmentation_miou is not None and pg.view.mask_iou is not None
    pg.source.value = "shifted scene"
    shifted = shifted_scenes(1, seed=7)[0]
    assert np.array_equal(pg.view.image, shifted.image) and not np.array_equal(shifted.image, v2.image)
    expression = shifted.referring_expressions()[0]
    assert pg.view.expression == expression.text and pg.view.class_names == tuple(
        dict.fromkeys(o.name for o in shifted.objects))
    assert np.array_equal(pg.view.target, shifted.instance == expression.target + 1)  # CRIS scored on its mask
    assert pg.view.segmentation_miou is not None


def test_shifted_scenes_index_like_a_list():
    scenes = shifted_scenes(3, seed=2)
    last = scenes[-1]
    assert np.array_equal(last.image, scenes.images[2]) and last.objects == scenes.objects[2]
    assert last.background == scenes.backgrounds[2] and last.world == "shifted"
    with pytest.raises(IndexError, match=r"index must be in \[-3, 2\] for 3 scenes; got 3"):
        scenes[3]
    with pytest.raises(TypeError, match="index must be an integer; got str"):
        scenes["0"]


def test_upload_any_size_and_a_broken_file(playground):
    pg = playground
    pg.source.value = "upload"
    pg.upload.value = uploaded(png_bytes(48, 80), "grey.png")
    assert pg.view is not None and pg.view.image.shape == (48, 80, 3) and pg.view.mask.shape == (48, 80)
    assert pg.view.segmentation_miou is None and pg.view.mask_iou is None  # an upload has no ground truth
    pg.upload.value = uploaded(b"not an image", "notes.txt")
    assert pg.view is None and "'notes.txt' is not an image file" in pg.message
    # (the reader sees that message in place of the figure, not a traceback: refresh catches the error)
    pg.class_names.value = " , "
    assert pg.view is None


def test_look_scores_against_the_right_truth(models):
    scene = draw_scene([("red", "circle", "large", 0.3, 0.35), ("blue", "square", "small", 0.72, 0.3)], seed=0)
    targets = semantic_targets(scene, ["blue square"])  # the circle is not listed: ignored, not background
    circle = scene.instance == 1
    assert set(targets[torch.from_numpy(circle)].unique().tolist()) == {255}
    assert set(targets[torch.from_numpy(scene.instance == 2)].unique().tolist()) == {1}
    assert semantic_targets(scene, ["a round thing"]) is None
    assert np.array_equal(referred_object(scene, "The  large red circle"), circle)  # case and spaces do not matter
    assert referred_object(scene, "the big red ball") is None


def test_draw_scene_paints_like_the_generator():
    scene = draw_scene([("green", "triangle", "large", 0.5, 0.5)], image_size=96, seed=3)
    assert scene.image.shape == (96, 96, 3) and scene.image.dtype == np.uint8
    (obj,) = scene.objects
    assert obj.name == "green triangle" and obj.visible_pixels == int((scene.instance == 1).sum()) > 0
    assert set(np.unique(scene.semantic)) == {0, CLASS_NAMES.index("green triangle") + 1}
    again = draw_scene([("green", "triangle", "large", 0.5, 0.5)], image_size=96, seed=3)
    assert np.array_equal(scene.image, again.image)  # a pure function of its arguments


@pytest.mark.parametrize("objects, message", [
    ([], "1 to 4"),
    ([("red", "circle", "large", 0.5, 0.5)] * 5, "1 to 4"),
    ([("red", "circle", "large", 0.5)], r"objects\[0\] must be a \(colour, shape, size, x, y\)"),
    ([("pink", "circle", "large", 0.5, 0.5)], "unknown colour 'pink'"),
    ([("red", "blob", "large", 0.5, 0.5)], "unknown shape 'blob'"),
    ([("red", "circle", "huge", 0.5, 0.5)], "unknown size 'huge'"),
    ([("red", "circle", "large", 1.5, 0.5)], r"objects\[0\] x must lie in \[0, 1\]"),
])
def test_draw_scene_names_bad_objects(objects, message):
    with pytest.raises(ValueError, match=message):
        draw_scene(objects)


def test_bad_inputs_are_named(models):
    image = generate_batch(1, seed=0, split="val").images[0]
    kwargs = dict(query="a star", class_names=["red circle"], expression="the circle")
    with pytest.raises(ValueError, match="image must be one image"):
        look(*models, np.stack([image, image]), **kwargs)
    with pytest.raises(ValueError, match="query must be a non-empty string"):
        look(*models, image, **(kwargs | {"query": "  "}))
    with pytest.raises(ValueError, match="background must lie in"):
        look(*models, image, **kwargs, background=2.0)
    with pytest.raises(ValueError, match="scene is a"):
        look(*models, image[:32], **kwargs, scene=generate_batch(1, seed=0, split="val")[0])
    with pytest.raises(ValueError, match="class_names must name at least one class"):
        parse_class_names(" ,, ")
    with pytest.raises(ValueError, match="'x.png' is not an image file"):
        decode_upload(b"GIF", "'x.png'")
    with pytest.raises(ValueError, match="scene must be an index"):
        Playground(*models, generate_batch(2, seed=0, split="val"), scene=5)
