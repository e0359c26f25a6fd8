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

Worlds (``world=``, :data:`WORLDS`): ``"v1"`` (the default) is the original world and stays byte-identical.
``"v2"`` is the same world, wider: any rotation (the diamond becomes an elongated rhombus, height = 1.6 × width, so
that it never looks like a rotated square), sizes further apart (:data:`RADIUS_RANGE_V2`), anti-aliased edges
(3×3 supersampled coverage, masks where coverage ≥ 0.5), jittered colours, backgrounds of any hue, blur and noise
(:mod:`vlseg.data.rendering_v2`), richer captions (:mod:`vlseg.data.captions`) and referring expressions worded by
templates, some held out from training (:mod:`vlseg.data.referring`).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from vlseg.checks import check_int, check_number, check_positive_int, check_seed
from vlseg.data import rendering_v2
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
    WORLDS,  # noqa: F401  (re-exported: the worlds generate_batch can draw)
    check_world,
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

# v2: small and large further apart (v1: 0.19 → 0.24, ×1.26; v2: 0.165 → 0.22, ×1.33) and the small range wider;
# the large range reaches no further than v1's, so that 3–4 objects fit a scene about as often as in v1.
# The smallest v2 object (a diamond of radius 0.125 × side, area ≈ 2.3 R²) covers ≈ 146 px at 64 × 64.
RADIUS_RANGE_V2 = {"small": (0.125, 0.165), "large": (0.22, 0.29)}
CENTRE_MARGIN_V2 = 0.85  # centres at least this many radii from the border (v1: 0.8): little is cropped
DIAMOND_ASPECT_V2 = 1.6  # v2 diamond: height / width of the rhombus
SUPERSAMPLE = 3  # v2 coverage: SUPERSAMPLE × SUPERSAMPLE sub-pixels per pixel
MIN_VISIBLE_PATCHES_V2 = 2  # v2: every object keeps at least 2 patches of (side / 8)² pixels visible


def min_visible_pixels(image_size: int) -> int:
    """v2's floor on an object's visible pixels: 2 patches of 8 × 8 at 64 px, scaled with the image area."""
    return int(np.ceil(MIN_VISIBLE_PATCHES_V2 * (image_size / 8) ** 2))


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
    world: str = "v1"

    def referring_expressions(self) -> list[ReferringExpression]:
        """Every unambiguous referring expression of this scene (see :mod:`vlseg.data.referring`).

        In world "v2" each is worded by a template drawn from a generator seeded by the scene itself (so the same
        scene always gets the same wording); a training scene never uses a held-out phrasing.
        """
        if self.world == "v1":
            return referring_expressions(self.objects, self.image.shape[1], self.image.shape[0])
        key = zlib.crc32(f"{self.split}|{self.seed}|{self.objects!r}".encode())
        return referring_expressions(
            self.objects, self.image.shape[1], self.image.shape[0], world=self.world,
            rng=np.random.default_rng([key, self.seed]), heldout_phrasings=self.split != "train",
        )


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
    extra: dict = field(default_factory=dict)  # v2: per-scene "rotation_deg" (N, M), "background", blur / noise σ
    world: str = "v1"

    def __len__(self) -> int:
        return len(self.captions)

    def __getitem__(self, i: int) -> Scene:
        return Scene(
            self.images[i], self.semantic[i], self.instance[i], self.objects[i], self.captions[i], self.split, self.seed,
            self.world,
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


def _inside_shape(shape: str, x: np.ndarray, y: np.ndarray, radius: np.ndarray, world: str = "v1") -> np.ndarray:
    """Inside-test of ``shape`` for offsets ``x``, ``y`` (n, H, W) from the centre, radius (n, 1, 1) (or broadcastable).

    Only the diamond differs between worlds: v1's is a square on its tip (|x| + |y| ≤ 1.1 R), v2's an elongated
    rhombus |x| / w + |y| / h ≤ 1 with h = MAX_EXTENT·R and w = h / DIAMOND_ASPECT_V2.
    """
    if shape == "diamond" and world == "v2":
        half_height = MAX_EXTENT * radius
        return np.abs(x) * DIAMOND_ASPECT_V2 + np.abs(y) <= half_height
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
    world: str = "v1",
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sizes, radii and centres such that objects overlap only a little (occlusion allowed).

    With ``radius`` given only the centres are drawn anew (the returned ``size_idx`` is unused).
    """
    radius_range, margin_factor = (RADIUS_RANGE, 0.8) if world == "v1" else (RADIUS_RANGE_V2, CENTRE_MARGIN_V2)
    size_idx = rng.integers(0, len(SIZES), (n_scenes, max_objects))
    if radius is None:
        lo = np.array([radius_range[s][0] for s in SIZES])[size_idx]
        hi = np.array([radius_range[s][1] for s in SIZES])[size_idx]
        radius = (lo + (hi - lo) * rng.random((n_scenes, max_objects))) * size
    centres = np.empty((n_scenes, max_objects, 2))
    todo = np.arange(n_scenes)
    for attempt in range(80):
        valid = np.arange(max_objects)[None, :] < n_objects[todo][:, None]  # (n, M)
        margin = radius[todo] * margin_factor
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
    cls: np.ndarray, centres: np.ndarray, radius: np.ndarray, rotation: np.ndarray, valid: np.ndarray, size: int,
    world: str = "v1",
) -> np.ndarray:
    """Full (unoccluded) masks of every object, (N, M, H, W) bool, computed shape by shape at the pixel centres."""
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
        masks[sel] = _inside_shape(shape, x, y, radius[sel][:, None, None].astype(np.float32), world)
    return masks


def _boundary_band(inside: np.ndarray) -> np.ndarray:
    """Pixels whose 3 × 3 neighbourhood is neither all inside nor all outside: (..., H, W) bool → same shape."""
    height, width = inside.shape[-2:]
    pad = [(0, 0)] * (inside.ndim - 2) + [(1, 1), (1, 1)]
    padded = np.pad(inside, pad, mode="edge")
    band = np.zeros_like(inside)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            band |= padded[..., dy : dy + height, dx : dx + width] != inside
    return band


def _coverage(
    cls: np.ndarray, centres: np.ndarray, radius: np.ndarray, rotation: np.ndarray, valid: np.ndarray, size: int,
    world: str = "v2",
) -> np.ndarray:
    """Anti-aliased masks: the share of each pixel inside each object, (N, M, H, W) float32 in [0, 1].

    Coverage = the mean of the inside-test over SUPERSAMPLE × SUPERSAMPLE sub-pixel centres
    ((i + ½) / S for i = 0 … S − 1 in each direction). Only pixels on the boundary band (where the pixel-centre
    test changes within one pixel) can be partly covered, so only they are supersampled; elsewhere coverage is
    the pixel-centre test itself (0 or 1). A detail thinner than a pixel lying wholly outside the band (a star's
    tip) is missed, which only loses coverage well below ½.
    """
    inside = _rasterise(cls, centres, radius, rotation, valid, size, world)  # (N, M, H, W) bool
    coverage = inside.astype(np.float32)
    scene, obj, ys, xs = np.nonzero(_boundary_band(inside))  # (K,) each: the band's pixels
    offsets = ((np.arange(SUPERSAMPLE) + 0.5) / SUPERSAMPLE).astype(np.float32)
    sub_y, sub_x = (a.ravel() for a in np.meshgrid(offsets, offsets, indexing="ij"))  # (S²,)
    shape_idx = cls[scene, obj] % len(SHAPES)
    for s, shape in enumerate(SHAPES):
        k = np.nonzero(shape_idx == s)[0]
        if len(k) == 0:
            continue
        n_k, m_k = scene[k], obj[k]
        dx = xs[k, None] + sub_x[None] - centres[n_k, m_k, 0, None].astype(np.float32)  # (K_s, S²)
        dy = ys[k, None] + sub_y[None] - centres[n_k, m_k, 1, None].astype(np.float32)
        rot = rotation[n_k, m_k, None].astype(np.float32)
        x = np.cos(rot) * dx + np.sin(rot) * dy
        y = -np.sin(rot) * dx + np.cos(rot) * dy
        r = radius[n_k, m_k, None].astype(np.float32)
        coverage[n_k, m_k, ys[k], xs[k]] = _inside_shape(shape, x, y, r, world).mean(axis=1)
    return coverage


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


def _label_maps(cls: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Instance (object + 1, 0 = background) and semantic (class + 1) maps (N, H, W) uint8 from full masks.

    ``cls`` (N, M), ``masks`` (N, M, H, W) bool, later objects on top. Also returns the flat index
    ``scene · (1 + M) + instance`` per pixel (N, H, W), for one fancy-index gather of per-object values.
    """
    n_scenes, max_objects, size, _ = masks.shape
    instance = np.zeros((n_scenes, size, size), dtype=np.uint8)
    for m in range(max_objects):  # later objects on top
        instance[masks[:, m]] = m + 1
    flat_instance = instance + (np.arange(n_scenes, dtype=np.int32) * (1 + max_objects))[:, None, None]
    cls_plus_one = np.concatenate([np.zeros((n_scenes, 1), dtype=np.uint8), (cls + 1).astype(np.uint8)], axis=1)
    semantic = cls_plus_one.reshape(-1)[flat_instance]  # (N, H, W): class + 1 of the top object, 0 if none
    return instance, semantic, flat_instance


def _paint(rng: np.random.Generator, cls: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Paint the objects over a background (world "v1"): the top-most object decides each pixel; one noise field.

    ``cls`` (N, M) class indices, ``masks`` (N, M, H, W) full masks, later objects on top. Returns the images
    (N, H, W, 3) uint8, the semantic masks (class + 1, 0 = background) and the instance masks (N, H, W) uint8.
    """
    n_scenes, max_objects, size, _ = masks.shape
    instance, semantic, flat_instance = _label_maps(cls, masks)
    colour_table = np.array(list(COLOURS.values()), dtype=np.float32)
    brightness = rng.uniform(0.85, 1.1, (n_scenes, max_objects, 1)).astype(np.float32)
    object_rgb = colour_table[cls // len(SHAPES)] * brightness  # (N, M, 3)
    object_rgb = np.concatenate([np.zeros((n_scenes, 1, 3), np.float32), object_rgb], axis=1)  # (N, 1 + M, 3)
    painted = object_rgb.reshape(-1, 3)[flat_instance]  # (N, H, W, 3)
    noise = rng.standard_normal((n_scenes, size, size, 3), dtype=np.float32)
    is_object = (instance > 0)[..., None]
    images = np.where(is_object, painted + 10.0 * noise, _background(rng, n_scenes, size) + 9.0 * noise)
    images = np.clip(images, 0, 255).astype(np.uint8)
    return images, semantic, instance


def _sample_classes(
    rng: np.random.Generator, allowed: np.ndarray, n_scenes: int, max_objects: int, duplicate_prob: float
) -> np.ndarray:
    """Class indices (N, M), with deliberate repeats of an earlier object's colour or shape."""
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
    return cls


def _sample_rotation(rng: np.random.Generator, shape: tuple[int, int], world: str) -> np.ndarray:
    """Rotation of every object in radians: v1 a small jitter (± MAX_ROTATION_DEG), v2 any angle in [0, 2π)."""
    if world == "v1":
        return np.deg2rad(rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG, shape))
    return rng.uniform(0.0, 2 * np.pi, shape)


def _masks_of(cls, centres, radius, rotation, valid, size, world) -> tuple[np.ndarray, np.ndarray | None]:
    """Full masks (N, M, H, W) bool and, in v2, the coverage they come from (coverage ≥ 0.5), else None."""
    if world == "v1":
        return _rasterise(cls, centres, radius, rotation, valid, size), None
    coverage = _coverage(cls, centres, radius, rotation, valid, size, world)
    return coverage >= 0.5, coverage


def _place_objects(
    rng: np.random.Generator, cls: np.ndarray, n_objects: np.ndarray, size: int, max_objects: int, world: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """Sizes, radii, centres and rotations, then masks, re-laying scenes whose objects are too hidden.

    Every object keeps MIN_VISIBLE_FRACTION of its own area after occlusion (and, in v2, at least
    :func:`min_visible_pixels`, crops at the border included). Returns ``size_idx``, ``radius``, ``centres``,
    ``rotation``, ``masks`` (N, M, H, W) bool, ``coverage`` (v2) or None, and the final ``n_objects``.
    """
    size_idx, radius, centres, n_objects = _sample_layout(rng, len(cls), n_objects, size, max_objects, world=world)
    rotation = _sample_rotation(rng, cls.shape, world)
    valid = np.arange(max_objects)[None, :] < n_objects[:, None]
    masks, coverage = _masks_of(cls, centres, radius, rotation, valid, size, world)
    floor = 0 if world == "v1" else min_visible_pixels(size)

    for _ in range(20 if world == "v1" else 40):
        visible = _visible_pixels(masks)
        needed = np.maximum(MIN_VISIBLE_FRACTION * masks.sum(axis=(2, 3)), floor)
        redo = np.nonzero(((visible < needed) & valid).any(axis=1))[0]
        if len(redo) == 0:
            break
        _, _, centres[redo], _ = _sample_layout(
            rng, len(redo), n_objects[redo].copy(), size, max_objects, radius=radius[redo], world=world
        )
        masks[redo], cover = _masks_of(cls[redo], centres[redo], radius[redo], rotation[redo], valid[redo], size, world)
        if coverage is not None:
            coverage[redo] = cover
    else:  # still hidden after all retries (very rare): keep only the first object
        n_objects[redo] = 1
        valid = np.arange(max_objects)[None, :] < n_objects[:, None]
        if world != "v1":  # and put it in the middle, whole
            centres[redo, 0] = size / 2
        masks[redo], cover = _masks_of(cls[redo], centres[redo], radius[redo], rotation[redo], valid[redo], size, world)
        if coverage is not None:
            coverage[redo] = cover
    return size_idx, radius, centres, rotation, masks, coverage, n_objects


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
    world: str = "v1",
) -> SceneBatch:
    """Generate ``n_scenes`` scenes.

    Args:
        n_scenes: number of scenes.
        seed, split, block: the scenes are a pure function of these three (and of the settings).
        image_size: side of the square images in pixels (≥ 16).
        num_objects: inclusive range of the number of objects per scene (1 to 4).
        classes: class names to draw objects from; default all classes (held-out ones included,
            but a training caption never names a held-out class).
        duplicate_prob: chance that an object copies the colour or the shape of an earlier object,
            so that referring expressions need more than a class name.
        caption_drop_prob: chance that a caption leaves out an object (beyond the first).
        boundary_ignore: width in pixels of a band around each object labelled 255 in the semantic
            mask (0 = no ignore band).
        world: "v1" (default, the original world, unchanged) or "v2" (wider looks and phrasing); see
            :data:`WORLDS` and the module docstring. v2 draws from its own random stream.
    """
    check_positive_int(n_scenes, "n_scenes")
    allowed = check_settings(image_size, num_objects, classes, duplicate_prob, caption_drop_prob, boundary_ignore)
    world = check_world(world)
    lo_obj, hi_obj = num_objects

    rng = make_rng(seed, split, block, "" if world == "v1" else world)
    size = image_size
    max_objects = hi_obj
    n_objects = rng.integers(lo_obj, hi_obj + 1, n_scenes)
    cls = _sample_classes(rng, allowed, n_scenes, max_objects, duplicate_prob)
    size_idx, radius, centres, rotation, masks, coverage, n_objects = _place_objects(
        rng, cls, n_objects, size, max_objects, world
    )

    extra: dict = {}
    if world == "v1":
        images, semantic, instance = _paint(rng, cls, masks)
    else:
        instance, semantic, _ = _label_maps(cls, masks)
        valid = np.arange(max_objects)[None, :] < n_objects[:, None]
        images, extra = rendering_v2.paint(rng, cls // len(SHAPES), coverage * valid[:, :, None, None], valid)
        extra["rotation_deg"] = np.where(valid, np.rad2deg(rotation), np.nan)  # (N, M), NaN for absent objects
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
            make_caption(scene_objects, rng, hide_heldout=(split == "train"), drop_prob=caption_drop_prob, world=world)
        )
    return SceneBatch(images, semantic, instance, objects, captions, split, seed, extra, world)


def draw_scene(
    objects: Sequence[tuple[str, str, str, float, float]], *, image_size: int = 64, seed: int = 0, world: str = "v1"
) -> Scene:
    """Draw a scene of your own: ``objects`` lists ``(colour, shape, size, x, y)``, later ones on top.

    ``colour`` and ``shape`` are ShapesWorld's words (any of the 49 classes, held-out ones included), ``size`` is
    "small" or "large", and ``x``, ``y`` are the centre as fractions of the width and height (0 = left / top).
    The pixels are painted exactly as :func:`generate_batch` paints them in ``world`` (same colours, background and
    noise, drawn from ``seed``; no rotation), so the scene has its masks, its caption and its referring expressions.
    """
    image_size = check_int(image_size, "image_size", 16)
    seed = check_seed(seed)
    world = check_world(world)
    if isinstance(objects, (str, bytes)) or not isinstance(objects, Sequence) or not 1 <= len(objects) <= 4:
        raise ValueError(f"objects must be a list of 1 to 4 (colour, shape, size, x, y) tuples; got {objects!r}")
    radius_range = RADIUS_RANGE if world == "v1" else RADIUS_RANGE_V2
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
        if size_word not in radius_range:
            raise ValueError(f"{name}: unknown size {size_word!r}; expected one of {tuple(radius_range)}")
        x = check_number(x, f"{name} x", 0.0, 1.0, what="a fraction of the width in [0, 1]")
        y = check_number(y, f"{name} y", 0.0, 1.0, what="a fraction of the height in [0, 1]")
        cls.append(list(COLOURS).index(colour) * len(SHAPES) + SHAPES.index(shape))
        radius.append(float(np.mean(radius_range[size_word])) * image_size)
        centres.append((x * image_size, y * image_size))
    count = len(objects)
    cls_array = np.array([cls])  # (1, M)
    radius_array = np.array([radius], dtype=np.float32)  # (1, M)
    centre_array = np.array([centres], dtype=np.float32)  # (1, M, 2)
    no_rotation, all_valid = np.zeros((1, count)), np.ones((1, count), bool)
    if world == "v1":
        masks = _rasterise(cls_array, centre_array, radius_array, no_rotation, all_valid, image_size)
        rng = make_rng(seed, "test", 0, "drawn")
        images, semantic, instance = _paint(rng, cls_array, masks)
    else:
        masks, coverage = _masks_of(cls_array, centre_array, radius_array, no_rotation, all_valid, image_size, world)
        rng = make_rng(seed, "test", 0, "drawn-" + world)
        instance, semantic, _ = _label_maps(cls_array, masks)
        images, _ = rendering_v2.paint(rng, cls_array // len(SHAPES), coverage, all_valid)
    visible = _visible_pixels(masks)[0]
    scene_objects = [
        ShapeObject(class_index=int(c), colour=colour_of(c), shape=shape_of(c), size=spec[2], cx=cx, cy=cy,
                    radius=r, visible_pixels=int(v))
        for c, spec, (cx, cy), r, v in zip(cls, objects, centre_array[0].tolist(), radius, visible)
    ]
    caption = make_caption(scene_objects, rng, hide_heldout=False, drop_prob=0.0, world=world)
    return Scene(images[0], semantic[0], instance[0], scene_objects, caption, "drawn", seed, world)


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
    scene ``i``. The same (seed, split, settings) give the same scenes; ``world`` ("v1" or "v2", see :data:`WORLDS`)
    is one of the settings. Training code usually asks
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
        world: str = "v1",
    ) -> None:
        _split_id(split)
        check_settings(image_size, num_objects, classes, duplicate_prob, caption_drop_prob, boundary_ignore)
        check_positive_int(block_size, "block_size")
        check_seed(seed)
        check_world(world)
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
            world=world,
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


def _concat_extra(extras: list[dict]) -> dict:
    """Per-scene extras of several batches, joined key by key (keys that every batch has, arrays of one shape)."""
    joined: dict = {}
    for key in sorted(set(extras[0]).intersection(*extras[1:])):
        values = [e[key] for e in extras]
        if all(isinstance(v, np.ndarray) for v in values):
            if len({v.shape[1:] for v in values}) == 1:
                joined[key] = np.concatenate(values)
        else:
            joined[key] = [item for v in values for item in v]
    return joined


def concat_batches(batches: list[SceneBatch]) -> SceneBatch:
    """One batch from several (same image size, same world). Per-object extras of v2 (``extra["rotation_deg"]``, one
    column per object slot) are kept only when every batch has as many slots; otherwise they are left out."""
    if not batches:
        raise ValueError("no batches to concatenate")
    worlds = sorted({b.world for b in batches})
    if len(worlds) > 1:
        raise ValueError(f"cannot concatenate batches of different worlds {worlds}")
    return SceneBatch(
        images=np.concatenate([b.images for b in batches]),
        semantic=np.concatenate([b.semantic for b in batches]),
        instance=np.concatenate([b.instance for b in batches]),
        objects=[o for b in batches for o in b.objects],
        captions=[c for b in batches for c in b.captions],
        split=batches[0].split,
        seed=batches[0].seed,
        extra=_concat_extra([b.extra for b in batches]),
        world=batches[0].world,
    )


def single_object_scenes(
    n_per_class: int,
    *,
    seed: int = 1234,
    split: str = "val",
    classes: tuple[str, ...] | list[str] | None = None,
    image_size: int = 64,
    world: str = "v1",
) -> tuple[SceneBatch, np.ndarray]:
    """A class-balanced set of one-object scenes (the zero-shot validation set) and its labels (N,)."""
    world = check_world(world)
    names = list(classes) if classes is not None else list(CLASS_NAMES)
    merged = concat_batches([
        generate_batch(n_per_class, seed=seed, split=split, block=index, num_objects=(1, 1), classes=[name],
                       image_size=image_size, world=world)
        for index, name in zip(class_indices(names), names)
    ])
    labels = np.array([objs[0].class_index for objs in merged.objects])
    return merged, labels
