"""The shifted test world: determinism, masks that agree with the objects, unambiguous expressions, independence.

The checkers here are written afresh (they do not call the module's own helpers), so that a bug in the generator
cannot be mirrored by the test.
"""

from __future__ import annotations

import ast
import itertools
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from vlseg.data.records import KINDS
from vlseg.data.shifted_world import (
    ShiftedExpression,
    ShiftedReferringSet,
    ShiftedScenes,
    shifted_referring_set,
    shifted_scenes,
)
from vlseg.data.vocabulary import CLASS_NAMES, COLOUR_NAMES, HELDOUT_INDICES, SHAPES

MODULE = Path(__file__).resolve().parents[1] / "src" / "vlseg" / "data" / "shifted_world.py"
MIN_PIXELS = 128  # at 64 px


@pytest.fixture(scope="module")
def scenes() -> ShiftedScenes:
    return shifted_scenes(300, seed=0)


# ---------------------------------------------------------------------------------------------------------------------
# shapes, determinism
# ---------------------------------------------------------------------------------------------------------------------
def test_shapes_and_dtypes(scenes):
    n = len(scenes)
    assert n == 300 and scenes.seed == 0
    assert scenes.images.shape == (n, 64, 64, 3) and scenes.images.dtype == np.uint8
    assert scenes.semantic.shape == (n, 64, 64) and scenes.semantic.dtype == np.uint8
    assert scenes.instance.shape == (n, 64, 64) and scenes.instance.dtype == np.uint8
    assert len(scenes.objects) == len(scenes.expressions) == len(scenes.backgrounds) == n
    counts = Counter(len(objs) for objs in scenes.objects)
    assert set(counts) == {1, 2, 3, 4}
    assert all(isinstance(e, ShiftedExpression) for exprs in scenes.expressions for e in exprs)


def test_deterministic_and_independent_of_n_scenes():
    a = shifted_scenes(12, seed=5)
    b = shifted_scenes(12, seed=5)
    longer = shifted_scenes(20, seed=5)
    for other in (b, longer):
        np.testing.assert_array_equal(a.images, other.images[:12])
        np.testing.assert_array_equal(a.semantic, other.semantic[:12])
        np.testing.assert_array_equal(a.instance, other.instance[:12])
        assert a.objects == other.objects[:12]
        assert [[e.text for e in x] for x in a.expressions] == [[e.text for e in x] for x in other.expressions[:12]]
    c = shifted_scenes(12, seed=6)
    assert not np.array_equal(a.images, c.images)
    assert shifted_scenes(3, seed=5, num_objects=(2, 2)).images.shape == (3, 64, 64, 3)


def test_other_image_sizes():
    for size in (32, 96):
        small = shifted_scenes(6, seed=2, image_size=size)
        assert small.images.shape == (6, size, size, 3)
        least = MIN_PIXELS * (size / 64) ** 2
        assert all(o.visible_pixels >= 0.98 * least for objs in small.objects for o in objs)


# ---------------------------------------------------------------------------------------------------------------------
# masks against objects
# ---------------------------------------------------------------------------------------------------------------------
def test_masks_agree_with_objects(scenes):
    for i, objs in enumerate(scenes.objects):
        instance, semantic = scenes.instance[i], scenes.semantic[i]
        assert instance.max() <= len(objs)
        np.testing.assert_array_equal(instance == 0, semantic == 0)
        for k, obj in enumerate(objs):
            where = instance == k + 1
            assert obj.visible_pixels == int(where.sum())
            assert obj.class_index == CLASS_NAMES.index(f"{obj.colour} {obj.shape}")
            assert np.all(semantic[where] == obj.class_index + 1)
            assert obj.size in ("small", "large")
            full = scenes.full_pixels[i][k]
            assert obj.visible_pixels >= MIN_PIXELS
            assert obj.visible_pixels >= 0.5 * full and full >= obj.visible_pixels
            # the pixels lie within the bounding circle of the object (radius + half a pixel's diagonal)
            ys, xs = np.nonzero(where)
            assert np.all(np.hypot(xs + 0.5 - obj.cx, ys + 0.5 - obj.cy) <= obj.radius + 0.75)
            # extent between ~18 % and ~45 % of the side
            assert 0.17 * 64 <= 2 * obj.radius <= 0.46 * 64
        assert objs[-1].visible_pixels == scenes.full_pixels[i][-1]  # nothing lies on top of the last object


# ---------------------------------------------------------------------------------------------------------------------
# expressions: an independent checker
# ---------------------------------------------------------------------------------------------------------------------
SIZE_WORDS = {"small", "smaller", "smallest", "little", "tiny", "big", "bigger", "biggest", "large", "larger",
              "largest"}
SHAPE_WORDS = {s: s for s in SHAPES} | {s + ("es" if s.endswith("ss") else "s"): s for s in SHAPES}
DIRECTION_WORDS = {"left": "left", "leftmost": "left", "right": "right", "rightmost": "right", "top": "top",
                   "topmost": "top", "upper": "top", "uppermost": "top", "highest": "top", "higher": "top",
                   "bottom": "bottom", "bottommost": "bottom", "lowest": "bottom", "lower": "bottom", "down": "bottom"}


def words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text)


def described(text: str) -> tuple[set[str], set[str]]:
    """The colour and shape words of a text."""
    ws = words(text)
    return {w for w in ws if w in COLOUR_NAMES}, {SHAPE_WORDS[w] for w in ws if w in SHAPE_WORDS}


def fitting(objs, colours: set[str], shapes: set[str]) -> list[int]:
    return [k for k, o in enumerate(objs) if (not colours or o.colour in colours) and (not shapes or o.shape in shapes)]


KEYS = {"left": lambda o: -o.cx, "right": lambda o: o.cx, "top": lambda o: -o.cy, "bottom": lambda o: o.cy}
RELATION_WORDS = [(" to the left of ", "left"), (" on the left side of ", "left"), (" left of ", "left"),
                  (" to the right of ", "right"), (" on the right-hand side of ", "right"), (" right of ", "right"),
                  (" above ", "top"), (" over ", "top"), (" higher up than ", "top"), (" higher than ", "top"),
                  (" under ", "bottom"), (" beneath ", "bottom"), (" below ", "bottom"), (" lower than ", "bottom"),
                  (" lower down than ", "bottom"), (" further left than ", "left"), (" more to the left than ", "left"),
                  (" further right than ", "right"), (" more to the right than ", "right")]
ORDINAL_WORDS = {"first": 0, "second": 1, "third": 2, "fourth": 3}


def check_relation(objs, e) -> None:
    """'<target phrase> <relation> <anchor phrase>': the anchor phrase fits one object, and among the objects that
    fit the target phrase the target alone lies clearly on that side of it (the others level with it or beyond)."""
    target = objs[e.target]
    (head, direction, tail), = [(e.text.split(word, 1)[0], direction, e.text.split(word, 1)[1])
                                for word, direction in RELATION_WORDS if word in e.text][:1]
    colours, shapes = described(head)
    assert colours <= {target.colour} and shapes <= {target.shape}, e.text
    group = fitting(objs, colours, shapes)
    assert len(group) >= 2 and e.target in group, e.text
    anchors = fitting(objs, *described(tail))
    assert described(tail) != (set(), set()) and len(anchors) == 1 and anchors[0] != e.target, e.text
    anchor, key = objs[anchors[0]], KEYS[direction]
    assert key(target) >= key(anchor) + 6.4, e.text
    assert all(key(objs[k]) <= key(anchor) for k in group if k not in (e.target, anchors[0])), e.text


def check_ordinal(objs, e) -> None:
    """'the <n-th> ... from the <side>' (or 'the middle ...'): the target is n-th in order from that side among the
    objects that fit the phrase, all of which lie clearly apart along that axis."""
    target = objs[e.target]
    colours, shapes = described(e.text)
    assert colours <= {target.colour} and shapes <= {target.shape}, e.text
    group = fitting(objs, colours, shapes)
    assert len(group) >= 3 and e.target in group, e.text
    ws = words(e.text)
    if "middle" in ws or "between" in ws:
        side, rank = "left", 1
        assert len(group) == 3, e.text
    else:
        side = next(w for w in reversed(ws) if w in KEYS)
        (rank,) = [ORDINAL_WORDS[w] for w in ws if w in ORDINAL_WORDS]
    order = sorted(group, key=lambda k: -KEYS[side](objs[k]))
    assert order[rank] == e.target, e.text
    along = [KEYS[side](objs[k]) for k in order]
    assert all(a - b >= 6.4 for a, b in itertools.pairwise(along)), e.text


def test_every_expression_is_unambiguous(scenes):
    kinds, styles = Counter(), Counter()
    for objs, exprs in zip(scenes.objects, scenes.expressions, strict=True):
        texts = [e.text for e in exprs]
        assert len(texts) == len(set(texts)), "a text appears twice in one scene"
        for e in exprs:
            assert 0 <= e.target < len(objs) and e.kind in KINDS and e.style in ("plain", "free")
            kinds[e.kind] += 1
            styles[e.style] += 1
            target = objs[e.target]
            colours, shapes = described(e.text)
            if e.style == "plain":
                match = re.fullmatch(r"the (\w+) (\w+)", e.text)
                assert match and e.kind == "attribute", e.text
                colour, shape = match.groups()
                same = [o for o in objs if o.colour == colour and o.shape == shape]
                assert len(same) == 1 and (target.colour, target.shape) == (colour, shape), e.text
                assert e.names_heldout == (CLASS_NAMES.index(f"{colour} {shape}") in HELDOUT_INDICES)
            else:
                assert e.text not in {f"the {name}" for name in CLASS_NAMES}, e.text
            if e.kind == "attribute":
                # every colour or shape word names the target's, and what is named picks out the target alone,
                # unless a size word is used (then the target is clearly the smallest / largest of its look-alikes)
                assert colours <= {target.colour} and shapes <= {target.shape}, e.text
                group = fitting(objs, colours, shapes)
                sizes = SIZE_WORDS & set(words(e.text))
                if not sizes:
                    assert group == [e.target], e.text
                else:
                    assert shapes, e.text  # size words compare objects of one shape only
                    others = [objs[k].radius for k in group if k != e.target]
                    small = sizes & {"small", "smaller", "smallest", "little", "tiny"}
                    assert others and (all(r > target.radius for r in others) if small else
                                       all(r < target.radius for r in others)), e.text
            elif e.kind == "spatial":
                # the noun phrase fits several objects; the target is the extreme one in the direction named
                assert colours <= {target.colour} and shapes <= {target.shape}, e.text
                group = fitting(objs, colours, shapes)
                assert len(group) >= 2 and e.target in group, e.text
                (direction,) = {DIRECTION_WORDS[w] for w in words(e.text) if w in DIRECTION_WORDS}
                key = KEYS[direction]
                assert all(key(target) >= key(objs[k]) + 6.4 for k in group if k != e.target), e.text
            elif e.kind == "ordinal":
                check_ordinal(objs, e)
            else:
                check_relation(objs, e)
    assert set(kinds) == set(KINDS), kinds
    assert min(kinds.values()) >= 50, kinds
    assert styles["plain"] >= 50 and styles["free"] >= 50, styles


def test_expression_examples_are_phrased_freely(scenes):
    texts = [e.text for exprs in scenes.expressions for e in exprs]
    joined = "\n".join(texts)
    for phrase in ("that is", "-tinted", "furthest to the", "from the", "in the picture", "find the"):
        assert phrase in joined, phrase
    for text in texts:
        ws = text.split()
        assert all(a != b for a, b in itertools.pairwise(ws)), text  # no "find find the ..."
    assert any(e.names_heldout for exprs in scenes.expressions for e in exprs)
    assert any(not e.names_heldout for exprs in scenes.expressions for e in exprs)


# ---------------------------------------------------------------------------------------------------------------------
# independence from ShapesWorld's code
# ---------------------------------------------------------------------------------------------------------------------
def test_module_shares_no_code_with_shapes_world():
    tree = ast.parse(MODULE.read_text())
    forbidden = {"vlseg.data.shapes_world", "vlseg.data.captions", "vlseg.data.referring", "vlseg.data.dataset"}
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
            if node.module == "vlseg.data.vocabulary":
                assert "COLOURS" not in {alias.name for alias in node.names}
            if node.module == "vlseg.data":
                names = {alias.name for alias in node.names}
                assert not names & {"shapes_world", "captions", "referring", "dataset", "COLOURS"}, names
    assert not imported & forbidden, imported
    assert imported <= {"__future__", "math", "dataclasses", "typing", "numpy", "vlseg.checks",
                        "vlseg.data.records", "vlseg.data.vocabulary"}, imported
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    attributes = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    assert "COLOURS" not in names | attributes


# ---------------------------------------------------------------------------------------------------------------------
# colours and backgrounds
# ---------------------------------------------------------------------------------------------------------------------
HUE_CENTRES = {"red": 0, "orange": 30, "yellow": 57, "green": 120, "cyan": 185, "blue": 228, "purple": 280}


def hue_saturation(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hue in degrees and HSV saturation of RGB colours (..., 3) on the 0–255 scale."""
    rgb = rgb.astype(float) / 255.0
    high, low = rgb.max(-1), rgb.min(-1)
    chroma = high - low
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    safe = np.where(chroma > 0, chroma, 1.0)
    hue = np.where(high == r, ((g - b) / safe) % 6, np.where(high == g, (b - r) / safe + 2, (r - g) / safe + 4))
    saturation = np.where(high > 0, chroma / np.where(high > 0, high, 1.0), 0.0)
    return np.where(chroma > 0, hue * 60.0, 0.0), saturation


def test_colour_names_are_right(scenes):
    wrong = []
    for i, objs in enumerate(scenes.objects):
        inst = np.pad(scenes.instance[i], 1)
        for k, obj in enumerate(objs):
            where = inst[1:-1, 1:-1] == k + 1
            inner = where & (inst[:-2, 1:-1] == k + 1) & (inst[2:, 1:-1] == k + 1) & (inst[1:-1, :-2] == k + 1) & \
                (inst[1:-1, 2:] == k + 1)
            pixels = scenes.images[i][inner if inner.sum() >= 10 else where]  # (P, 3)
            hue, saturation = hue_saturation(pixels.mean(axis=0))
            nearest = min(HUE_CENTRES, key=lambda c: min(abs(hue - HUE_CENTRES[c]), 360 - abs(hue - HUE_CENTRES[c])))
            if nearest != obj.colour or saturation < 0.3:
                wrong.append((i, obj.colour, float(hue), float(saturation)))
    assert not wrong, wrong[:10]


def test_backgrounds_are_diverse(scenes):
    saturations, hues = [], []
    for i in range(200):
        background = scenes.images[i][scenes.instance[i] == 0]  # (P, 3)
        hue, saturation = hue_saturation(background)
        saturations.append(float(saturation.mean()))
        hues.append(float(hue[saturation > 0.3].mean()) if (saturation > 0.3).any() else np.nan)
    saturations = np.array(saturations)
    assert saturations.max() - saturations.min() > 0.6, (saturations.min(), saturations.max())
    assert (saturations > 0.6).sum() >= 5 and (saturations < 0.2).sum() >= 5
    assert np.histogram(np.array(hues)[~np.isnan(hues)], bins=6, range=(0, 360))[0].min() >= 3  # every hue sextant
    families = Counter(name.split("/")[0] for name in scenes.backgrounds)
    assert len(families) == 6 and min(families.values()) >= 15, families
    near = sum(name.endswith("/near-hue") for name in scenes.backgrounds) / len(scenes)
    assert 0.07 <= near <= 0.25, near


# ---------------------------------------------------------------------------------------------------------------------
# the referring set
# ---------------------------------------------------------------------------------------------------------------------
def test_referring_set():
    data = shifted_referring_set(60, seed=3)
    assert isinstance(data, ShiftedReferringSet)
    b = len(data.texts)
    assert 50 <= b <= 60 and len(data) == b
    assert data.images.shape == (b, 64, 64, 3) and data.masks.shape == (b, 64, 64) and data.masks.dtype == bool
    assert data.masks.reshape(b, -1).sum(1).min() >= MIN_PIXELS
    assert len(data.kinds) == len(data.styles) == len(data.names_heldout) == b
    assert set(data.kinds) == set(KINDS)
    again = shifted_referring_set(60, seed=3)
    assert again.texts == data.texts and np.array_equal(again.masks, data.masks)

    plain = shifted_referring_set(40, seed=3, styles=("plain",))
    assert set(plain.styles) == {"plain"} and set(plain.kinds) == {"attribute"}
    assert all(re.fullmatch(r"the \w+ \w+", t) for t in plain.texts)
    spatial = shifted_referring_set(40, seed=3, kinds=("spatial", "ordinal"))
    assert set(spatial.kinds) <= {"spatial", "ordinal"} and set(spatial.styles) == {"free"}


# ---------------------------------------------------------------------------------------------------------------------
# bad inputs
# ---------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, error, pattern", [
    ({"n_scenes": 0}, ValueError, r"n_scenes must be a positive integer; got 0"),
    ({"n_scenes": 2.5}, TypeError, r"n_scenes must be a positive integer; got a float"),
    ({"n_scenes": True}, TypeError, r"n_scenes"),
    ({"n_scenes": 2, "seed": -1}, ValueError, r"seed must be a non-negative integer; got -1"),
    ({"n_scenes": 2, "seed": "1"}, TypeError, r"seed must be"),
    ({"n_scenes": 2, "image_size": 16}, ValueError, r"image_size must be an integer >= 32; got 16"),
    ({"n_scenes": 2, "image_size": 64.0}, TypeError, r"image_size"),
    ({"n_scenes": 2, "num_objects": (0, 3)}, ValueError, r"num_objects .*1 <= min <= max <= 4.*\(0, 3\)"),
    ({"n_scenes": 2, "num_objects": (3, 2)}, ValueError, r"num_objects"),
    ({"n_scenes": 2, "num_objects": (1, 5)}, ValueError, r"num_objects"),
    ({"n_scenes": 2, "num_objects": 3}, TypeError, r"num_objects must be a pair"),
    ({"n_scenes": 2, "num_objects": (1, 2.0)}, TypeError, r"num_objects\[1\]"),
])
def test_bad_scene_arguments(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        shifted_scenes(**kwargs)


@pytest.mark.parametrize("kwargs, error, pattern", [
    ({"n_scenes": -3}, ValueError, r"n_scenes"),
    ({"n_scenes": 4, "kinds": ("colour",)}, ValueError, r"kinds must be .*attribute.*got \('colour',\)"),
    ({"n_scenes": 4, "kinds": "spatial"}, TypeError, r"kinds must be None or a tuple"),
    ({"n_scenes": 4, "kinds": ()}, ValueError, r"kinds"),
    ({"n_scenes": 4, "styles": ("fancy",)}, ValueError, r"styles must be .*plain.*free"),
    ({"n_scenes": 4, "image_size": 8}, ValueError, r"image_size"),
    ({"n_scenes": 3, "kinds": ("relation",), "styles": ("plain",)}, ValueError, r"no expression of kinds=.*styles="),
])
def test_bad_referring_arguments(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        shifted_referring_set(**kwargs)
