"""ShapesWorld: a procedural, seeded generator of scenes with masks, captions and referring expressions.

Every scene is an RGB image of 1–4 coloured shapes on a textured, noisy background together with

* a semantic mask (``class_index + 1`` per pixel, 0 = background, 255 = ignore),
* an instance mask (``object_index + 1`` per pixel, 0 = background),
* the object list (colour, shape, size, centre, radius, visible area),
* a caption in one of several natural templates, noisy and incomplete like a web caption,
* referring expressions for each object (built on demand, see :mod:`vlseg.data.referring`).

Rendering is vectorised over the whole batch with NumPy: each shape is an inside-test on a grid of
pixel centres in the object's (rotated) frame, evaluated for all objects of that shape at once.

Determinism: a batch is a pure function of ``(seed, split, block)``; the same arguments give the
same pixels, masks and text on every machine.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from vlseg.checks import check_int, check_number, check_positive_int, check_seed
from vlseg.data.captions import make_caption
from vlseg.data.records import ReferringExpression, ShapeObject
from vlseg.data.referring import referring_expressions
from vlseg.data.vocabulary import (
    CLASS_NAMES,
    COLOURS,
    HELDOUT_INDICES,
    IGNORE_INDEX,
    SHAPES,
    SIZES,
    class_indices,
    colour_of,
    shape_of,
)

SPLITS = ("train", "val", "test")

# Object radius as a fraction of the image side, per size word. Shapes are drawn with similar areas
# (2.3–3.2 R²), so at 64×64 even the smallest object covers about 4 patches of 8×8 pixels and a large
# one 8–12: enough patches for the patch-level chapters.
RADIUS_RANGE = {"small": (0.16, 0.19), "large": (0.24, 0.29)}
MAX_EXTENT = 1.35  # every shape lies within MAX_EXTENT × radius of its centre (the triangle's vertices)
MIN_VISIBLE_FRACTION = 0.6  # an object keeps at least this share of its own area after occlusion
MAX_ROTATION_DEG = 12.0  # small jitter: keeps squares and diamonds apart


@dataclass
class Scene:
    """A single scene. ``image`` (H, W, 3) uint8; ``semantic``/``instance`` (H, W) uint8."""

    image: np.ndarray
    semantic: np.ndarray
    instance: np.ndarray
    objects: list[ShapeObject]
    caption: str
    split: str
    seed: int = 0

    def referring_expressions(self) -> list[ReferringExpression]:
        """Every unambiguous referring expression of this scene (see :mod:`vlseg.data.referring`)."""
        return referring_expressions(self.objects, self.image.shape[1], self.image.shape[0])


@dataclass
class SceneBatch:
    """A batch of scenes stored as stacked arrays (fast to turn into tensors)."""

    images: np.ndarray  # (N, H, W, 3) uint8
    semantic: np.ndarray  # (N, H, W) uint8
    instance: np.ndarray  # (N, H, W) uint8
    objects: list[list[ShapeObject]]
    captions: list[str]
    split: str
    seed: int = 0
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.captions)

    def __getitem__(self, i: int) -> Scene:
        return Scene(
            self.images[i], self.semantic[i], self.instance[i], self.objects[i], self.captions[i], self.split, self.seed
        )


def _split_id(split: str) -> int:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    return SPLITS.index(split)


def check_settings(image_size: int, num_objects: tuple[int, int], classes: tuple[str, ...] | list[str] | None,
                   duplicate_prob: float, caption_drop_prob: float, boundary_ignore: int) -> np.ndarray:
    """Check the settings of :func:`generate_batch` / :class:`ShapesWorld`; returns the allowed class indices."""
    check_int(image_size, "image_size", 16)
    if (not isinstance(num_objects, (tuple, list)) or len(num_objects) != 2
            or not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in num_objects)
            or not 1 <= num_objects[0] <= num_objects[1] <= 4):
        raise ValueError(f"num_objects must be two integers (min, max) with 1 <= min <= max <= 4, got {num_objects!r}")
    check_number(duplicate_prob, "duplicate_prob", 0.0, 1.0)
    check_number(caption_drop_prob, "caption_drop_prob", 0.0, 1.0)
    check_int(boundary_ignore, "boundary_ignore", 0)
    if classes is None:
        return np.arange(len(CLASS_NAMES))
    if isinstance(classes, str) or not isinstance(classes, (list, tuple)):
        raise TypeError(f"classes must be a list of class names, e.g. ['red circle']; got {classes!r}")
    if len(classes) == 0:
        raise ValueError("classes must not be empty")
    return np.array(class_indices(list(classes)))


def make_rng(seed: int, split: str, block: int, stream: str = "") -> np.random.Generator:
    """The random generator of one block of scenes: a pure function of its arguments."""
    check_seed(seed)
    check_int(block, "block", 0)
    return np.random.default_rng([int(seed), _split_id(split), int(block), zlib.crc32(stream.encode())])


def _inside_shape(shape: str, x: np.ndarray, y: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Inside-test of ``shape`` for pixel offsets ``x``, ``y`` (n, H, W) from the centre, radius (n, 1, 1)."""
    if shape == "circle":
        return x * x + y * y <= radius * radius
    if shape == "ring":
        r2 = x * x + y * y
        return (r2 <= radius * radius) & (r2 >= (0.5 * radius) ** 2)
    if shape == "square":
        return np.maximum(np.abs(x), np.abs(y)) <= 0.82 * radius
    if shape == "diamond":
        return np.abs(x) + np.abs(y) <= 1.1 * radius
    if shape == "cross":
        arm = 0.4 * radius
        return ((np.abs(x) <= arm) & (np.abs(y) <= radius)) | ((np.abs(y) <= arm) & (np.abs(x) <= radius))
    r = np.sqrt(x * x + y * y)
    phi = np.arctan2(x, -y)  # 0 points up
    if shape == "triangle":
        # regular polygon with n sides: inside iff r·cos(angle to the nearest side normal) <= apothem
        sector = 2 * np.pi / 3
        local = np.mod(phi, sector) - sector / 2
        return r * np.cos(local) <= radius * np.cos(np.pi / 3) * 1.35
    if shape == "star":
        # five points: the boundary radius goes linearly from outer to inner radius within each sector
        sector = 2 * np.pi / 5
        t = np.abs(np.mod(phi, sector) - sector / 2) / (sector / 2)  # 1 at a point, 0 between points
        boundary = radius * (0.55 + 0.65 * t**1.5)
        return r <= boundary
    raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")


def _sample_layout(
    rng: np.random.Generator,
    n_scenes: int,
    n_objects: np.ndarray,
    size: int,
    max_objects: int,
    radius: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sizes, radii and centres such that objects overlap only a little (occlusion allowed).

    With ``radius`` given only the centres are drawn anew (the returned ``size_idx`` is unused).
    """
    size_idx = rng.integers(0, len(SIZES), (n_scenes, max_objects))
    if radius is None:
        lo = np.array([RADIUS_RANGE[s][0] for s in SIZES])[size_idx]
        hi = np.array([RADIUS_RANGE[s][1] for s in SIZES])[size_idx]
        radius = (lo + (hi - lo) * rng.random((n_scenes, max_objects))) * size
    centres = np.empty((n_scenes, max_objects, 2))
    todo = np.arange(n_scenes)
    for attempt in range(80):
        valid = np.arange(max_objects)[None, :] < n_objects[todo][:, None]  # (n, M)
        margin = radius[todo] * 0.8
        centres[todo] = margin[..., None] + rng.random((len(todo), max_objects, 2)) * (size - 2 * margin[..., None])
        diff = centres[todo][:, :, None, :] - centres[todo][:, None, :, :]
        dist = np.hypot(diff[..., 0], diff[..., 1])  # (n, M, M)
        min_dist = 0.7 * (radius[todo][:, :, None] + radius[todo][:, None, :])
        pair_valid = valid[:, :, None] & valid[:, None, :] & ~np.eye(max_objects, dtype=bool)
        bad = ((dist < min_dist) & pair_valid).any(axis=(1, 2))
        todo = todo[bad]
        if len(todo) == 0:
            break
        if attempt % 20 == 19:  # this many objects does not fit: drop the last one and keep trying
            n_objects[todo] = np.maximum(1, n_objects[todo] - 1)
    return size_idx, radius, centres, n_objects


def _rasterise(
    cls: np.ndarray, centres: np.ndarray, radius: np.ndarray, rotation: np.ndarray, valid: np.ndarray, size: int
) -> np.ndarray:
    """Full (unoccluded) masks of every object, (N, M, H, W) bool, computed shape by shape."""
    n_scenes, max_objects = cls.shape
    pix = (np.arange(size) + 0.5).astype(np.float32)
    masks = np.zeros((n_scenes, max_objects, size, size), dtype=bool)
    shape_idx = cls % len(SHAPES)
    for s, shape in enumerate(SHAPES):
        sel = np.nonzero((shape_idx == s) & valid)
        if len(sel[0]) == 0:
            continue
        rot = rotation[sel][:, None, None].astype(np.float32)
        dx = pix[None, None, :] - centres[sel][:, 0, None, None].astype(np.float32)  # (n, 1, W)
        dy = pix[None, :, None] - centres[sel][:, 1, None, None].astype(np.float32)  # (n, H, 1)
        x = np.cos(rot) * dx + np.sin(rot) * dy
        y = -np.sin(rot) * dx + np.cos(rot) * dy
        masks[sel] = _inside_shape(shape, x, y, radius[sel][:, None, None].astype(np.float32))
    return masks


def _visible_pixels(masks: np.ndarray) -> np.ndarray:
    """Pixels of each object left visible once later objects are painted on top. (N, M, H, W) -> (N, M)."""
    covered_later = np.zeros_like(masks)
    for m in range(masks.shape[1] - 2, -1, -1):
        covered_later[:, m] = covered_later[:, m + 1] | masks[:, m + 1]
    return (masks & ~covered_later).sum(axis=(2, 3))


def _background(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """Low-saturation textured backgrounds: a tinted gradient and optional stripes. (N, H, W, 3) float32.

    (Pixel noise is added by the caller, shared with the objects' noise.)
    """
    coords = ((np.arange(size) + 0.5) / size).astype(np.float32)
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    f32 = np.float32
    base = (rng.uniform(70, 150, (n, 1, 1, 1)) + rng.normal(0, 6, (n, 1, 1, 3))).astype(f32)
    angle = rng.uniform(0, 2 * np.pi, (n, 1, 1)).astype(f32)
    ramp = np.cos(angle) * (xx - 0.5) + np.sin(angle) * (yy - 0.5)  # (N, H, W)
    shade = rng.uniform(10, 45, (n, 1, 1)).astype(f32) * ramp
    freq = rng.uniform(4, 10, (n, 1, 1)).astype(f32)
    striped = np.nonzero(rng.random(n) < 0.4)[0]  # stripes on some backgrounds only
    a, f = angle[striped] + 1.0, freq[striped]
    shade[striped] += 10 * np.sin(2 * np.pi * f * (np.cos(a) * xx + np.sin(a) * yy))
    return base + shade[..., None]


def _paint(rng: np.random.Generator, cls: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Paint the objects over a background: the top-most object decides each pixel; one gather, one noise field.

    ``cls`` (N, M) class indices, ``masks`` (N, M, H, W) full masks, later objects on top. Returns the images
    (N, H, W, 3) uint8, the semantic masks (class + 1, 0 = background) and the instance masks (N, H, W) uint8.
    """
    n_scenes, max_objects, size, _ = masks.shape
    instance = np.zeros((n_scenes, size, size), dtype=np.uint8)
    for m in range(max_objects):  # later objects on top
        instance[masks[:, m]] = m + 1
    colour_table = np.array(list(COLOURS.values()), dtype=np.float32)
    brightness = rng.uniform(0.85, 1.1, (n_scenes, max_objects, 1)).astype(np.float32)
    object_rgb = colour_table[cls // len(SHAPES)] * brightness  # (N, M, 3)
    object_rgb = np.concatenate([np.zeros((n_scenes, 1, 3), np.float32), object_rgb], axis=1)  # (N, 1 + M, 3)
    # flat index of (scene, top object) per pixel: one fancy-index gather instead of take_along_axis
    flat_instance = instance + (np.arange(n_scenes, dtype=np.int32) * (1 + max_objects))[:, None, None]
    painted = object_rgb.reshape(-1, 3)[flat_instance]  # (N, H, W, 3)
    noise = rng.standard_normal((n_scenes, size, size, 3), dtype=np.float32)
    is_object = (instance > 0)[..., None]
    images = np.where(is_object, painted + 10.0 * noise, _background(rng, n_scenes, size) + 9.0 * noise)
    images = np.clip(images, 0, 255).astype(np.uint8)
    cls_plus_one = np.concatenate([np.zeros((n_scenes, 1), dtype=np.uint8), (cls + 1).astype(np.uint8)], axis=1)
    semantic = cls_plus_one.reshape(-1)[flat_instance]  # (N, H, W): class + 1 of the top object, 0 if none
    return images, semantic, instance


def generate_batch(
    n_scenes: int,
    *,
    seed: int = 0,
    split: str = "train",
    block: int = 0,
    image_size: int = 64,
    num_objects: tuple[int, int] = (1, 4),
    classes: tuple[str, ...] | list[str] | None = None,
    duplicate_prob: float = 0.25,
    caption_drop_prob: float = 0.2,
    boundary_ignore: int = 0,
) -> SceneBatch:
    """Generate ``n_scenes`` scenes.

    Args:
        n_scenes: number of scenes.
        seed, split, block: the scenes are a pure function of these three.
        image_size: side of the square images in pixels (≥ 16).
        num_objects: inclusive range of the number of objects per scene (1 to 4).
        classes: class names to draw objects from; default all classes (held-out ones included,
            but a training caption never names a held-out class).
        duplicate_prob: chance that an object copies the colour or the shape of an earlier object,
            so that referring expressions need more than a class name.
        caption_drop_prob: chance that a caption leaves out an object (beyond the first).
        boundary_ignore: width in pixels of a band around each object labelled 255 in the semantic
            mask (0 = no ignore band).
    """
    check_positive_int(n_scenes, "n_scenes")
    allowed = check_settings(image_size, num_objects, classes, duplicate_prob, caption_drop_prob, boundary_ignore)
    lo_obj, hi_obj = num_objects

    rng = make_rng(seed, split, block)
    size = image_size
    max_objects = hi_obj
    n_objects = rng.integers(lo_obj, hi_obj + 1, n_scenes)

    # --- classes, with deliberate repeats of colour or shape ------------------------------------
    cls = rng.choice(allowed, (n_scenes, max_objects))
    n_shapes = len(SHAPES)
    for m in range(1, max_objects):
        repeat = rng.random(n_scenes) < duplicate_prob
        source = cls[np.arange(n_scenes), rng.integers(0, m, n_scenes)]
        keep_colour = rng.random(n_scenes) < 0.5
        candidate = np.where(
            keep_colour,
            (source // n_shapes) * n_shapes + rng.integers(0, n_shapes, n_scenes),
            rng.integers(0, len(COLOURS), n_scenes) * n_shapes + source % n_shapes,
        )
        candidate_ok = np.isin(candidate, allowed)
        cls[:, m] = np.where(repeat & candidate_ok, candidate, cls[:, m])

    size_idx, radius, centres, n_objects = _sample_layout(rng, n_scenes, n_objects, size, max_objects)
    rotation = np.deg2rad(rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG, (n_scenes, max_objects)))
    valid = np.arange(max_objects)[None, :] < n_objects[:, None]
    masks = _rasterise(cls, centres, radius, rotation, valid, size)

    # --- occlusion: every object keeps MIN_VISIBLE_FRACTION of its area, else its scene is re-laid ---
    for _ in range(20):
        too_hidden = (_visible_pixels(masks) < MIN_VISIBLE_FRACTION * masks.sum(axis=(2, 3))) & valid
        redo = np.nonzero(too_hidden.any(axis=1))[0]
        if len(redo) == 0:
            break
        _, _, centres[redo], _ = _sample_layout(
            rng, len(redo), n_objects[redo].copy(), size, max_objects, radius=radius[redo]
        )
        masks[redo] = _rasterise(cls[redo], centres[redo], radius[redo], rotation[redo], valid[redo], size)
    else:  # still hidden after all retries (very rare): keep only the first object
        n_objects[redo] = 1
        valid = np.arange(max_objects)[None, :] < n_objects[:, None]
        masks[redo] = _rasterise(cls[redo], centres[redo], radius[redo], rotation[redo], valid[redo], size)

    images, semantic, instance = _paint(rng, cls, masks)
    if boundary_ignore > 0:
        semantic = _ignore_boundaries(semantic, instance, boundary_ignore)

    visible = _visible_pixels(masks)
    # --- object lists and captions ---------------------------------------------------------------
    objects: list[list[ShapeObject]] = []
    captions: list[str] = []
    for i in range(n_scenes):
        scene_objects = [
            ShapeObject(
                class_index=int(cls[i, m]),
                colour=colour_of(cls[i, m]),
                shape=shape_of(cls[i, m]),
                size=SIZES[size_idx[i, m]],
                cx=float(centres[i, m, 0]),
                cy=float(centres[i, m, 1]),
                radius=float(radius[i, m]),
                visible_pixels=int(visible[i, m]),
            )
            for m in range(n_objects[i])
        ]
        objects.append(scene_objects)
        captions.append(
            make_caption(scene_objects, rng, hide_heldout=(split == "train"), drop_prob=caption_drop_prob)
        )
    return SceneBatch(images, semantic, instance, objects, captions, split, seed)


def draw_scene(
    objects: Sequence[tuple[str, str, str, float, float]], *, image_size: int = 64, seed: int = 0
) -> Scene:
    """Draw a scene of your own: ``objects`` lists ``(colour, shape, size, x, y)``, later ones on top.

    ``colour`` and ``shape`` are ShapesWorld's words (any of the 49 classes, held-out ones included), ``size`` is
    "small" or "large", and ``x``, ``y`` are the centre as fractions of the width and height (0 = left / top).
    The pixels are painted exactly as :func:`generate_batch` paints them (same colours, background and noise, drawn
    from ``seed``; no rotation), so the scene has its masks, its caption and its referring expressions.
    """
    image_size = check_int(image_size, "image_size", 16)
    seed = check_seed(seed)
    if isinstance(objects, (str, bytes)) or not isinstance(objects, Sequence) or not 1 <= len(objects) <= 4:
        raise ValueError(f"objects must be a list of 1 to 4 (colour, shape, size, x, y) tuples; got {objects!r}")
    cls, radius, centres = [], [], []
    for index, spec in enumerate(objects):
        name = f"objects[{index}]"
        if not isinstance(spec, (tuple, list)) or len(spec) != 5:
            raise ValueError(f"{name} must be a (colour, shape, size, x, y) tuple; got {spec!r}")
        colour, shape, size_word, x, y = spec
        if colour not in COLOURS:
            raise ValueError(f"{name}: unknown colour {colour!r}; expected one of {tuple(COLOURS)}")
        if shape not in SHAPES:
            raise ValueError(f"{name}: unknown shape {shape!r}; expected one of {SHAPES}")
        if size_word not in RADIUS_RANGE:
            raise ValueError(f"{name}: unknown size {size_word!r}; expected one of {tuple(RADIUS_RANGE)}")
        x = check_number(x, f"{name} x", 0.0, 1.0, what="a fraction of the width in [0, 1]")
        y = check_number(y, f"{name} y", 0.0, 1.0, what="a fraction of the height in [0, 1]")
        cls.append(list(COLOURS).index(colour) * len(SHAPES) + SHAPES.index(shape))
        radius.append(float(np.mean(RADIUS_RANGE[size_word])) * image_size)
        centres.append((x * image_size, y * image_size))
    count = len(objects)
    cls_array = np.array([cls])  # (1, M)
    radius_array = np.array([radius], dtype=np.float32)  # (1, M)
    centre_array = np.array([centres], dtype=np.float32)  # (1, M, 2)
    masks = _rasterise(cls_array, centre_array, radius_array, np.zeros((1, count)), np.ones((1, count), bool), image_size)
    rng = make_rng(seed, "test", 0, "drawn")
    images, semantic, instance = _paint(rng, cls_array, masks)
    visible = _visible_pixels(masks)[0]
    scene_objects = [
        ShapeObject(class_index=int(c), colour=colour_of(c), shape=shape_of(c), size=spec[2], cx=cx, cy=cy,
                    radius=r, visible_pixels=int(v))
        for c, spec, (cx, cy), r, v in zip(cls, objects, centre_array[0].tolist(), radius, visible)
    ]
    caption = make_caption(scene_objects, rng, hide_heldout=False, drop_prob=0.0)
    return Scene(images[0], semantic[0], instance[0], scene_objects, caption, "drawn", seed)


def _ignore_boundaries(semantic: np.ndarray, instance: np.ndarray, width: int) -> np.ndarray:
    """Label pixels within ``width`` of an instance boundary as IGNORE (VOC style)."""
    edge = np.zeros_like(instance, dtype=bool)
    padded = np.pad(instance, ((0, 0), (width, width), (width, width)), mode="edge")
    size_y, size_x = instance.shape[1:]
    for dy in range(-width, width + 1):
        for dx in range(-width, width + 1):
            shifted = padded[:, width + dy : width + dy + size_y, width + dx : width + dx + size_x]
            edge |= shifted != instance
    out = semantic.copy()
    out[edge] = IGNORE_INDEX
    return out


class ShapesWorld:
    """A seeded stream of ShapesWorld scenes, cut into blocks for random access.

    ``world.batch(block)`` returns block ``block`` (``block_size`` scenes); ``world[i]`` returns
    scene ``i``. The same (seed, split, settings) give the same scenes. Training code usually asks
    for fresh blocks step after step (an endless data set); evaluation uses a fixed seed and split.
    """

    def __init__(
        self,
        split: str = "train",
        seed: int = 0,
        *,
        image_size: int = 64,
        num_objects: tuple[int, int] = (1, 4),
        classes: tuple[str, ...] | list[str] | None = None,
        block_size: int = 256,
        duplicate_prob: float = 0.25,
        caption_drop_prob: float = 0.2,
        boundary_ignore: int = 0,
    ) -> None:
        _split_id(split)
        check_settings(image_size, num_objects, classes, duplicate_prob, caption_drop_prob, boundary_ignore)
        check_positive_int(block_size, "block_size")
        check_seed(seed)
        self.split = split
        self.seed = seed
        self.block_size = block_size
        self.settings = dict(
            image_size=image_size,
            num_objects=num_objects,
            classes=tuple(classes) if classes is not None else None,
            duplicate_prob=duplicate_prob,
            caption_drop_prob=caption_drop_prob,
            boundary_ignore=boundary_ignore,
        )
        self._cache: dict[int, SceneBatch] = {}

    def batch(self, block: int, n_scenes: int | None = None) -> SceneBatch:
        """Block number ``block`` (not cached): ``n_scenes`` scenes, by default ``block_size``."""
        return generate_batch(
            self.block_size if n_scenes is None else n_scenes, seed=self.seed, split=self.split, block=block, **self.settings
        )

    def __getitem__(self, index: int) -> Scene:
        check_int(index, "ShapesWorld index")
        if index < 0:
            raise IndexError("ShapesWorld is endless: negative indices have no meaning")
        block, offset = divmod(index, self.block_size)
        if block not in self._cache:
            if len(self._cache) > 8:
                self._cache.pop(next(iter(self._cache)))
            self._cache[block] = self.batch(block)
        return self._cache[block][offset]


def heldout_mask(class_idx: np.ndarray) -> np.ndarray:
    """Boolean array: which class indices are held out."""
    return np.isin(class_idx, list(HELDOUT_INDICES))


def concat_batches(batches: list[SceneBatch]) -> SceneBatch:
    """One batch from several (same image size)."""
    if not batches:
        raise ValueError("no batches to concatenate")
    return SceneBatch(
        images=np.concatenate([b.images for b in batches]),
        semantic=np.concatenate([b.semantic for b in batches]),
        instance=np.concatenate([b.instance for b in batches]),
        objects=[o for b in batches for o in b.objects],
        captions=[c for b in batches for c in b.captions],
        split=batches[0].split,
        seed=batches[0].seed,
    )


def single_object_scenes(
    n_per_class: int,
    *,
    seed: int = 1234,
    split: str = "val",
    classes: tuple[str, ...] | list[str] | None = None,
    image_size: int = 64,
) -> tuple[SceneBatch, np.ndarray]:
    """A class-balanced set of one-object scenes (the zero-shot validation set) and its labels (N,)."""
    names = list(classes) if classes is not None else list(CLASS_NAMES)
    merged = concat_batches([
        generate_batch(n_per_class, seed=seed, split=split, block=index, num_objects=(1, 1), classes=[name],
                       image_size=image_size)
        for index, name in zip(class_indices(names), names)
    ])
    labels = np.array([objs[0].class_index for objs in merged.objects])
    return merged, labels
