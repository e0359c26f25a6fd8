"""A shifted test world: the same 49 classes as ShapesWorld, drawn and described by an independent hand.

Why this world exists
---------------------
A model trained on ShapesWorld sees one renderer and one grammar. A high score on more ShapesWorld scenes tells us
that it learnt *that renderer's* way of drawing a "red star" and *that grammar's* way of saying it; it does not tell
us whether it learnt the concepts "red" and "star". To measure the latter we need scenes of the same closed world
(7 colour names × 7 shape names, see :mod:`vlseg.data.vocabulary`) produced by a second, independently written
renderer with its own phrasing. The gap between a model's score on ShapesWorld and its score here is a measure of how
much of what it learnt was style rather than concept. This world is used only for evaluation, never for training.

What differs by design
----------------------
* **Backgrounds of any hue.** Six families drawn at random: flat colours (any hue, saturation up to 0.95), linear
  two-colour gradients, radial gradients, stripes at any angle and width, (rotated) checkerboards, and blotchy smooth
  noise. In about 15 % of the scenes the background takes the hue of one of the objects, while differing from it in
  value or saturation so that the object stays visible.
* **Any rotation.** Every shape is turned by an angle drawn uniformly from [0, 2π).
* **Anti-aliasing.** Each pixel is split into 4 × 4 sub-pixels; an object's *coverage* of a pixel is the fraction of
  them inside it, and its colour is blended into the image by that coverage. The masks give a pixel to the top-most
  object that covers at least half of it.
* **Sizes.** An object's extent (the diameter of its bounding circle) ranges up to 45 % of the side; the lower end is
  set per shape (from about 21 % for a circle to about 33 % for the slim diamond) so that every object has enough
  pixels (at least two 8 × 8 patches' worth at 64 px).
* **Blur and noise.** About 30 % of the images are blurred by a Gaussian of σ between 0.4 and 1 pixel, and about
  40 % get a little global pixel noise. Objects get an optional mild shading, but no per-object noise.
* **An elongated diamond.** The diamond is a playing-card rhombus, about 1.6 times as tall as it is wide, so that it
  cannot be mistaken for a square turned by 45° at any angle.
* **Free phrasings.** Referring expressions use other word orders ("the circle that is red", "the circle in red"),
  leading verbs ("find the …", "segment the …"), trailing "in the picture", superlatives ("furthest to the left"),
  relations ("beneath", "higher than"), ordinals ("second from the left") and size words. Each expression records a
  ``style``: ``"plain"`` for exactly "the {colour} {shape}" and ``"free"`` for everything else, so that the two can
  be scored apart.

This module shares no drawing or phrasing code with ShapesWorld (:mod:`vlseg.data.shapes_world`,
:mod:`vlseg.data.captions`, :mod:`vlseg.data.referring`): it imports only the *names* of the closed world from
:mod:`vlseg.data.vocabulary` (not its RGB table: the colour names are read afresh here) and the plain records
:class:`~vlseg.data.records.ShapeObject` and :class:`~vlseg.data.records.ReferringExpression` that every world uses.

Everything is a pure function of its arguments: scene ``i`` is drawn from its own random stream, derived from
``(seed, image_size, num_objects, i)``, so it is the same whatever the number of scenes asked for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vlseg.checks import check_int, check_positive_int, check_seed
from vlseg.data.records import KINDS, ReferringExpression, ShapeObject
from vlseg.data.vocabulary import COLOUR_NAMES, HELDOUT_INDICES, SHAPES, class_index

__all__ = [
    "BACKGROUND_FAMILIES",
    "STYLES",
    "ShiftedExpression",
    "ShiftedReferringSet",
    "ShiftedScenes",
    "shifted_referring_set",
    "shifted_scenes",
]

STYLES: tuple[str, ...] = ("plain", "free")

# ---------------------------------------------------------------------------------------------------------------------
# The palette: this world's own reading of each colour name, as a hue band (degrees) with saturation and value ranges.
# The hue jitter is small enough that neighbouring names (red / orange / yellow, cyan / blue / purple) never meet.
# ---------------------------------------------------------------------------------------------------------------------
_PALETTE: dict[str, tuple[float, float, tuple[float, float], tuple[float, float]]] = {
    #          hue centre, ± jitter, saturation range, value range
    "red": (0.0, 7.0, (0.75, 1.0), (0.70, 0.95)),
    "green": (125.0, 15.0, (0.60, 0.95), (0.50, 0.85)),
    "blue": (226.0, 9.0, (0.70, 1.0), (0.65, 0.95)),
    "yellow": (54.0, 5.0, (0.75, 1.0), (0.85, 1.0)),
    "purple": (282.0, 12.0, (0.50, 0.85), (0.50, 0.85)),
    "orange": (28.0, 5.0, (0.85, 1.0), (0.88, 1.0)),
    "cyan": (184.0, 7.0, (0.65, 1.0), (0.75, 1.0)),
}

# ---------------------------------------------------------------------------------------------------------------------
# Shape geometry, in units of the nominal radius R (the radius of the shape's bounding circle).
# ---------------------------------------------------------------------------------------------------------------------
_STAR_INNER = 0.48  # radius of the star's inner vertices
_RING_INNER = 0.52  # radius of the ring's hole
_CROSS_HALF_LENGTH = 1.0 / math.sqrt(1.0 + 0.34**2)  # the corners of the arms lie on the unit circle
_CROSS_HALF_WIDTH = 0.34 * _CROSS_HALF_LENGTH  # arms are about 0.64 R wide
_DIAMOND_HALF_WIDTH = 0.62  # half-height 1: height / width ≈ 1.61

# area of each shape in units of R², to set the smallest radius that still gives enough pixels
_AREA: dict[str, float] = {
    "circle": math.pi,
    "square": 2.0,
    "triangle": 3.0 * math.sqrt(3.0) / 4.0,
    "star": 5.0 * _STAR_INNER * math.sin(math.pi / 5.0),
    "cross": 8.0 * _CROSS_HALF_LENGTH * _CROSS_HALF_WIDTH - 4.0 * _CROSS_HALF_WIDTH**2,
    "ring": math.pi * (1.0 - _RING_INNER**2),
    "diamond": 2.0 * _DIAMOND_HALF_WIDTH,
}

_SUPERSAMPLE = 4  # sub-pixels per pixel along each axis
_MAX_EXTENT = 0.45  # largest extent (bounding diameter) as a fraction of the side
_MIN_EXTENT = 0.18  # smallest extent, unless the shape needs more to have enough pixels
_MIN_PIXELS_64 = 128  # least number of visible pixels at 64 px (two 8 × 8 patches); scales with image_size²
_MIN_VISIBLE_SHARE = 0.5  # least share of its own area an object keeps visible
_AREA_MARGIN = 1.1  # an unoccluded object has at least this × the least number of pixels

BACKGROUND_FAMILIES: tuple[str, ...] = ("flat", "linear", "radial", "stripes", "checker", "blotchy")
_FAMILY_SHARES = np.array([0.20, 0.20, 0.15, 0.15, 0.12, 0.18])
_NEAR_HUE_SHARE = 0.15  # backgrounds whose hue is close to one object's colour
_BLUR_SHARE, _BLUR_SIGMA = 0.30, (0.4, 1.0)
_NOISE_SHARE, _NOISE_SIGMA = 0.40, (1.0, 4.0)  # global pixel noise, on the 0–255 scale
_MIN_CONTRAST = 60.0  # least RGB distance between an object's colour and the background beneath it

_GAP = 0.10  # a position word needs this clear gap, as a fraction of the side


@dataclass(frozen=True)
class ShiftedExpression(ReferringExpression):
    """A referring expression of the shifted world: the shared record plus its phrasing ``style``.

    ``style`` is ``"plain"`` for exactly "the {colour} {shape}" (attribute kind only) and ``"free"`` otherwise.
    """

    style: str = "free"


@dataclass
class ShiftedScene:
    """One scene of the shifted world, read like a ShapesWorld :class:`~vlseg.data.Scene` (image, masks, objects,
    ``referring_expressions()``), so that code written for one scene (the playground) takes either."""

    image: np.ndarray  # (H, W, 3) uint8
    semantic: np.ndarray  # (H, W) uint8, class index + 1, 0 = background
    instance: np.ndarray  # (H, W) uint8, object index + 1 in drawing order, 0 = background
    objects: list[ShapeObject]
    expressions: list[ShiftedExpression]
    background: str = ""
    world: str = "shifted"

    def referring_expressions(self) -> list[ShiftedExpression]:
        """Every unambiguous referring expression the shifted world's grammar wrote for this scene."""
        return list(self.expressions)


@dataclass
class ShiftedScenes:
    """A batch of shifted-world scenes with their masks, objects and every unambiguous referring expression.

    ``objects[i]`` lists scene ``i``'s objects in drawing order (later ones on top); ``instance`` stores the position
    in that list + 1. ``ShapeObject.radius`` is the radius of the object's bounding circle in pixels (the shape lies
    within ``radius`` of its centre), and ``size`` is ``"large"`` when its extent lies in the upper half of the range
    allowed for its shape, else ``"small"``. ``backgrounds[i]`` names scene ``i``'s background family, with
    ``"/near-hue"`` appended when it was given the hue of one of the objects. ``full_pixels[i][k]`` is the number of
    pixels object ``k`` would have in the masks were nothing drawn on top of it (its ``visible_pixels`` is at least
    half of that).
    """

    images: np.ndarray  # (N, H, W, 3) uint8
    semantic: np.ndarray  # (N, H, W) uint8, class index + 1, 0 = background
    instance: np.ndarray  # (N, H, W) uint8, object index + 1 in drawing order, 0 = background
    objects: list[list[ShapeObject]]
    expressions: list[list[ShiftedExpression]]
    seed: int
    backgrounds: list[str] = field(default_factory=list)
    full_pixels: list[list[int]] = field(default_factory=list)  # each object's pixel count were nothing on top of it

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> ShiftedScene:
        if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
            raise TypeError(f"index must be an integer; got {type(index).__name__}")
        if not -len(self) <= index < len(self):
            raise IndexError(f"index must be in [{-len(self)}, {len(self) - 1}] for {len(self)} scenes; got {index}")
        return ShiftedScene(self.images[index], self.semantic[index], self.instance[index], self.objects[index],
                            self.expressions[index], self.backgrounds[index] if self.backgrounds else "")


@dataclass
class ShiftedReferringSet:
    """One referring expression per scene, with the mask of the object it refers to."""

    images: np.ndarray  # (B, H, W, 3) uint8
    texts: list[str]
    masks: np.ndarray  # (B, H, W) bool: the referred object's pixels
    kinds: list[str]
    styles: list[str]
    names_heldout: list[bool]

    def __len__(self) -> int:
        return len(self.texts)


# =====================================================================================================================
# Argument checks
# =====================================================================================================================
def _check_num_objects(value: Any) -> tuple[int, int]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"num_objects must be a pair (min, max) of integers in 1..4; got {value!r}")
    low = check_int(value[0], "num_objects[0]")
    high = check_int(value[1], "num_objects[1]")
    if not (1 <= low <= high <= 4):
        raise ValueError(f"num_objects must be a pair (min, max) with 1 <= min <= max <= 4; got {tuple(value)!r}")
    return low, high


def _check_choices(value: Any, name: str, allowed: tuple[str, ...]) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, (tuple, list)):
        raise TypeError(f"{name} must be None or a tuple of names from {list(allowed)}; got {value!r}")
    unknown = [v for v in value if not isinstance(v, str) or v not in allowed]
    if unknown or not value:
        raise ValueError(f"{name} must be a non-empty tuple of names from {list(allowed)}; got {tuple(value)!r}")
    return tuple(value)


# =====================================================================================================================
# Drawing
# =====================================================================================================================
def _hsv_to_rgb(h: Any, s: Any, v: Any) -> np.ndarray:
    """RGB on the 0–255 scale from hue (degrees), saturation and value in [0, 1]; broadcasts, adds a last axis of 3."""
    h, s, v = np.broadcast_arrays(np.asarray(h, float), np.asarray(s, float), np.asarray(v, float))
    sector = (h % 360.0) / 60.0
    chroma = v * s
    second = chroma * (1.0 - np.abs(sector % 2.0 - 1.0))
    zero = np.zeros_like(chroma)
    i = np.floor(sector).astype(int) % 6
    r = np.choose(i, [chroma, second, zero, zero, second, chroma])
    g = np.choose(i, [second, chroma, chroma, second, zero, zero])
    b = np.choose(i, [zero, zero, second, chroma, chroma, second])
    m = v - chroma
    return np.stack([r + m, g + m, b + m], axis=-1) * 255.0


def _inside(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Whether the points (u, v), in the shape's own frame and in units of its radius, lie inside it."""
    if shape == "circle":
        return u * u + v * v <= 1.0
    if shape == "ring":
        rr = u * u + v * v
        return (rr <= 1.0) & (rr >= _RING_INNER**2)
    if shape == "square":
        half = 1.0 / math.sqrt(2.0)
        return (np.abs(u) <= half) & (np.abs(v) <= half)
    if shape == "diamond":
        return np.abs(u) / _DIAMOND_HALF_WIDTH + np.abs(v) <= 1.0
    if shape == "cross":
        au, av = np.abs(u), np.abs(v)
        length, width = _CROSS_HALF_LENGTH, _CROSS_HALF_WIDTH
        return ((au <= length) & (av <= width)) | ((au <= width) & (av <= length))
    if shape == "triangle":
        # equilateral, vertices on the unit circle; each edge lies at distance 1/2 from the centre
        inside = np.ones(u.shape, bool)
        for angle in (math.pi / 2.0, math.pi / 2.0 + 2.0 * math.pi / 3.0, math.pi / 2.0 + 4.0 * math.pi / 3.0):
            inside &= u * math.cos(angle) + v * math.sin(angle) <= 0.5
        return inside
    if shape == "star":
        # fold the plane into one tenth of the star: the wedge between an outer tip (on the u axis) and the next
        # inner vertex, then test against the edge joining them
        radius = np.hypot(u, v)
        theta = np.arctan2(v, u)
        wedge = 2.0 * math.pi / 5.0
        phi = np.abs((theta % wedge) - wedge / 2.0)  # 0 at an inner vertex, wedge / 2 at a tip
        phi = wedge / 2.0 - phi  # 0 at a tip, wedge / 2 at an inner vertex
        x, y = radius * np.cos(phi), radius * np.sin(phi)
        bx, by = _STAR_INNER * math.cos(wedge / 2.0), _STAR_INNER * math.sin(wedge / 2.0)
        # the centre lies on the inner side of the line from the tip (1, 0) to the inner vertex (bx, by)
        return (bx - 1.0) * y - by * (x - 1.0) >= 0.0
    raise ValueError(f"unknown shape {shape!r}")  # pragma: no cover - the shapes come from SHAPES


@dataclass
class _Drawn:
    """An object while a scene is being built: its attributes and its coverage over a box of pixels."""

    colour: str
    shape: str
    cx: float
    cy: float
    radius: float
    angle: float
    large: bool
    box: tuple[int, int, int, int]  # y0, y1, x0, x1
    coverage: np.ndarray  # (y1 - y0, x1 - x0) in [0, 1]
    rgb: np.ndarray = field(default_factory=lambda: np.zeros(3))  # (3,) base colour on the 0–255 scale
    shade: float = 0.0
    shade_angle: float = 0.0

    @property
    def own(self) -> np.ndarray:
        return self.coverage >= 0.5  # (h, w) bool

    @property
    def class_index(self) -> int:
        return class_index(f"{self.colour} {self.shape}")


def _coverage(shape: str, cx: float, cy: float, radius: float, angle: float, side: int):
    """The fraction of each pixel of the shape's bounding box that lies inside the shape (4 × 4 supersampling)."""
    x0, x1 = max(math.floor(cx - radius) - 1, 0), min(math.ceil(cx + radius) + 1, side)
    y0, y1 = max(math.floor(cy - radius) - 1, 0), min(math.ceil(cy + radius) + 1, side)
    offsets = (np.arange(_SUPERSAMPLE) + 0.5) / _SUPERSAMPLE
    xs = (np.arange(x0, x1)[:, None] + offsets).ravel() - cx  # (w·4,)
    ys = (np.arange(y0, y1)[:, None] + offsets).ravel() - cy  # (h·4,)
    c, s = math.cos(angle) / radius, math.sin(angle) / radius
    u = c * xs[None, :] + s * ys[:, None]  # (h·4, w·4)
    v = -s * xs[None, :] + c * ys[:, None]  # (h·4, w·4)
    inside = _inside(shape, u, v)
    cover = inside.reshape(y1 - y0, _SUPERSAMPLE, x1 - x0, _SUPERSAMPLE).mean(axis=(1, 3))  # (h, w)
    return (y0, y1, x0, x1), cover


def _extent_range(shape: str, side: int, min_pixels: int) -> tuple[float, float]:
    """Smallest and largest radius (pixels) for a shape: enough pixels at the low end, 45 % extent at the top."""
    least = math.sqrt(_AREA_MARGIN * min_pixels / _AREA[shape])
    low = max(_MIN_EXTENT * side / 2.0, least)
    return low, max(_MAX_EXTENT * side / 2.0, low * 1.05)


def _layout(rng: np.random.Generator, n: int, side: int, min_pixels: int) -> list[_Drawn]:
    """Place ``n`` objects one by one; each new one is re-drawn until every earlier object stays visible enough.

    Objects of the same colour name are kept from touching, so that they never merge into one blob. Classes are drawn
    so that look-alikes (same class, same shape or same colour) are common: they are what spatial, relational and
    ordinal expressions need.
    """
    for restart in range(1000):
        shrink = 0.97 ** (restart // 10)  # give up a little size if a scene keeps failing
        placed: list[_Drawn] = []
        instance = np.zeros((side, side), np.int16)  # (H, W)
        own_areas: list[int] = []
        for k in range(n):
            for _attempt in range(40):
                colour = COLOUR_NAMES[rng.integers(len(COLOUR_NAMES))]
                shape = SHAPES[rng.integers(len(SHAPES))]
                if placed:
                    draw = rng.random()
                    model = placed[rng.integers(len(placed))]
                    if draw < 0.25:
                        colour, shape = model.colour, model.shape
                    elif draw < 0.40:
                        shape = model.shape
                    elif draw < 0.55:
                        colour = model.colour
                low, high = _extent_range(shape, side, min_pixels)
                high = max(low, high * shrink)
                position = rng.random()
                radius = low + position * (high - low)
                cx = rng.uniform(radius + 1.0, side - radius - 1.0)
                cy = rng.uniform(radius + 1.0, side - radius - 1.0)
                angle = rng.uniform(0.0, 2.0 * math.pi)
                if any(o.colour == colour and math.hypot(o.cx - cx, o.cy - cy) < o.radius + radius + 1.5
                       for o in placed):
                    continue
                box, cover = _coverage(shape, cx, cy, radius, angle, side)
                own = cover >= 0.5
                area = int(own.sum())
                if area < min_pixels:
                    continue
                trial = instance.copy()
                y0, y1, x0, x1 = box
                trial[y0:y1, x0:x1][own] = k + 1
                visible = np.bincount(trial.ravel(), minlength=k + 2)[1:k + 1]  # (k,)
                needed = np.maximum(_MIN_VISIBLE_SHARE * np.asarray(own_areas, float), min_pixels)
                if np.all(visible >= needed):
                    placed.append(_Drawn(colour, shape, cx, cy, radius, angle, position >= 0.5, box, cover))
                    own_areas.append(area)
                    instance = trial
                    break
            else:
                break
        if len(placed) == n:
            return placed
    raise RuntimeError("could not lay out a scene")  # pragma: no cover - never reached in practice


def _object_colour(rng: np.random.Generator, colour: str) -> tuple[np.ndarray, tuple[float, float, float]]:
    hue, jitter, (s0, s1), (v0, v1) = _PALETTE[colour]
    hsv = (hue + rng.uniform(-jitter, jitter), rng.uniform(s0, s1), rng.uniform(v0, v1))
    return _hsv_to_rgb(*hsv), hsv


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    """Any hue, saturation from grey to vivid, value from dark to bright."""
    return _hsv_to_rgb(rng.uniform(0.0, 360.0), rng.uniform(0.0, 0.95), rng.uniform(0.15, 0.95))


def _near_hue_colour(rng: np.random.Generator, hsv: tuple[float, float, float]) -> np.ndarray:
    """A colour of (about) the given hue that differs clearly from it in value or saturation."""
    hue, _, value = hsv
    hue = hue + rng.uniform(-10.0, 10.0)
    if value >= 0.7 and rng.random() < 0.5:
        return _hsv_to_rgb(hue, rng.uniform(0.4, 1.0), rng.uniform(0.12, 0.35))  # a dark shade
    return _hsv_to_rgb(hue, rng.uniform(0.08, 0.3), rng.uniform(0.88, 1.0))  # a pale tint


def _smooth_upsample_matrix(grid: int, side: int) -> np.ndarray:
    """(side, grid) weights that interpolate a grid of values smoothly (smooth-step) onto ``side`` pixels."""
    position = (np.arange(side) + 0.5) / side * (grid - 1)  # (side,)
    left = np.clip(np.floor(position).astype(int), 0, grid - 2)
    t = position - left
    t = t * t * (3.0 - 2.0 * t)
    weights = np.zeros((side, grid))
    weights[np.arange(side), left] = 1.0 - t
    weights[np.arange(side), left + 1] += t
    return weights


def _background(rng: np.random.Generator, side: int, family: str, pick) -> np.ndarray:
    """One background of the given family; ``pick()`` draws one of its colours. Returns (H, W, 3) on 0–255."""
    first, second = pick(), pick()
    yy, xx = np.mgrid[0:side, 0:side] + 0.5  # (H, W) each
    if family == "flat":
        return np.broadcast_to(first, (side, side, 3)).copy()
    if family == "blotchy":
        grid = int(rng.integers(3, 9))
        bases = np.stack([first, second, pick()])  # (3, 3)
        weights = rng.dirichlet(np.full(3, 0.6), size=(grid, grid))  # (g, g, 3)
        nodes = weights @ bases  # (g, g, 3)
        up = _smooth_upsample_matrix(grid, side)  # (H, g)
        return np.einsum("ia,abc,jb->ijc", up, nodes, up)
    angle = rng.uniform(0.0, 2.0 * math.pi)
    along = (xx - side / 2.0) * math.cos(angle) + (yy - side / 2.0) * math.sin(angle)  # (H, W)
    if family == "linear":
        t = np.clip(along / (side * math.sqrt(0.5)) + 0.5, 0.0, 1.0)
    elif family == "radial":
        cx, cy = rng.uniform(0.0, side, size=2)
        t = np.clip(np.hypot(xx - cx, yy - cy) / (rng.uniform(0.5, 1.2) * side), 0.0, 1.0)
    elif family == "stripes":
        period = rng.uniform(4.0, 20.0) * side / 64.0
        t = np.clip(0.5 + 2.0 * np.sin(2.0 * math.pi * along / period), 0.0, 1.0)
    elif family == "checker":
        cell = rng.uniform(4.0, 16.0) * side / 64.0
        across = -(xx - side / 2.0) * math.sin(angle) + (yy - side / 2.0) * math.cos(angle)
        t = ((np.floor(along / cell) + np.floor(across / cell)) % 2.0).astype(float)
    else:  # pragma: no cover - the families come from BACKGROUND_FAMILIES
        raise ValueError(f"unknown background family {family!r}")
    return first * (1.0 - t[..., None]) + second * t[..., None]


def _gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of an (H, W, 3) image, reflecting at the borders."""
    radius = max(1, math.ceil(3.0 * sigma))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    side_h, side_w = image.shape[:2]
    padded = np.pad(image, ((radius, radius), (0, 0), (0, 0)), mode="reflect")
    image = sum(w * padded[j:j + side_h] for j, w in enumerate(kernel))
    padded = np.pad(image, ((0, 0), (radius, radius), (0, 0)), mode="reflect")
    return sum(w * padded[:, j:j + side_w] for j, w in enumerate(kernel))


def _paint(rng: np.random.Generator, objects: list[_Drawn], side: int) -> tuple[np.ndarray, str]:
    """The image of a laid-out scene: background, objects blended by coverage, then optional blur and noise."""
    hsvs = []
    for obj in objects:
        obj.rgb, hsv = _object_colour(rng, obj.colour)
        hsvs.append(hsv)
        if rng.random() < 0.6:
            obj.shade, obj.shade_angle = rng.uniform(0.05, 0.2), rng.uniform(0.0, 2.0 * math.pi)
    family = BACKGROUND_FAMILIES[rng.choice(len(BACKGROUND_FAMILIES), p=_FAMILY_SHARES)]
    near = rng.random() < _NEAR_HUE_SHARE
    like = int(rng.integers(len(objects)))
    for attempt in range(50):
        if near and attempt < 40:
            background = _background(rng, side, family, lambda: _near_hue_colour(rng, hsvs[like]))
        else:
            near = False
            background = _background(rng, side, family, lambda: _random_colour(rng))
        contrast = []
        for obj in objects:
            y0, y1, x0, x1 = obj.box
            beneath = background[y0:y1, x0:x1][obj.own].mean(axis=0)  # (3,)
            contrast.append(np.linalg.norm(beneath - obj.rgb))
        if min(contrast) >= _MIN_CONTRAST:
            break
    image = background
    for obj in objects:
        y0, y1, x0, x1 = obj.box
        colour = np.broadcast_to(obj.rgb, (y1 - y0, x1 - x0, 3))  # (h, w, 3)
        if obj.shade:
            yy, xx = np.mgrid[y0:y1, x0:x1] + 0.5
            along = ((xx - obj.cx) * math.cos(obj.shade_angle) + (yy - obj.cy) * math.sin(obj.shade_angle))
            darken = 1.0 - obj.shade * np.clip(0.5 + 0.5 * along / obj.radius, 0.0, 1.0)  # (h, w), darkening only
            colour = colour * darken[..., None]
        cover = obj.coverage[..., None]  # (h, w, 1)
        image[y0:y1, x0:x1] = image[y0:y1, x0:x1] * (1.0 - cover) + colour * cover
    if rng.random() < _BLUR_SHARE:
        image = _gaussian_blur(image, rng.uniform(*_BLUR_SIGMA))
    if rng.random() < _NOISE_SHARE:
        image = image + rng.normal(0.0, rng.uniform(*_NOISE_SIGMA), size=image.shape)
    return image, family + ("/near-hue" if near else "")


# =====================================================================================================================
# Referring expressions: this world's own grammar
# =====================================================================================================================
# No "coloured": the shipped tokenizer splits it into c-o-l-o-u-"red", which would slip a colour word into every
# phrase that used it.
_LEAD = ("find ", "segment ", "show me ", "where is ", "point to ", "highlight ", "locate ", "select ", "mask ")
_TRAIL = (" in the picture", " in the image", " in this image", " in the scene")
_ORDINALS = ("first", "second", "third", "fourth")

_FULL_FORMS = ("the {s} that is {c}", "the {c}-tinted {s}", "the {s} in {c}", "the {c} {s}")
_SHAPE_FORMS = ("the {s}", "the only {s}", "the {s}-shaped object", "the single {s}")
_COLOUR_FORMS = ("the {c} one", "the {c} shape", "the only {c} object", "the thing painted {c}", "the object in {c}")

_SUPERLATIVE = {
    "left": ("the leftmost {np}", "the {np} furthest to the left", "the {np} on the far left",
             "the {np} that is most to the left", "the {np} farthest left"),
    "right": ("the rightmost {np}", "the {np} furthest to the right", "the {np} on the far right",
              "the {np} farthest right"),
    "top": ("the topmost {np}", "the highest {np}", "the {np} nearest the top", "the {np} at the very top",
            "the uppermost {np}"),
    "bottom": ("the lowest {np}", "the bottommost {np}", "the {np} nearest the bottom", "the {np} at the very bottom"),
}
_OF_TWO = {  # extra phrasings when exactly two objects fit the noun phrase
    "left": ("the {np} on the left", "the left {np}"),
    "right": ("the {np} on the right", "the right {np}"),
    "top": ("the upper {np}", "the {np} higher up"),
    "bottom": ("the lower {np}", "the {np} further down"),
}
_RELATION = {
    "left": ("the {np} to the left of {a}", "the {np} left of {a}", "the {np} on the left side of {a}"),
    "right": ("the {np} to the right of {a}", "the {np} right of {a}", "the {np} on the right-hand side of {a}"),
    "top": ("the {np} above {a}", "the {np} over {a}", "the {np} higher than {a}", "the {np} higher up than {a}"),
    "bottom": ("the {np} under {a}", "the {np} beneath {a}", "the {np} below {a}", "the {np} lower than {a}"),
}
_COMPARATIVE = {  # for an anchor that lies more across than along the direction ("under" would mislead there)
    "left": ("the {np} further left than {a}", "the {np} more to the left than {a}"),
    "right": ("the {np} further right than {a}", "the {np} more to the right than {a}"),
    "top": ("the {np} higher than {a}", "the {np} higher up than {a}"),
    "bottom": ("the {np} lower than {a}", "the {np} lower down than {a}"),
}
_ORDINAL = {
    "left": ("the {o} {np} from the left", "the {o} {np} counting from the left", "the {np} that is {o} from the left"),
    "right": ("the {o} {np} from the right", "the {o} {np} counting from the right",
              "the {np} that is {o} from the right"),
    "top": ("the {o} {np} from the top", "the {o} {np} counting from the top", "the {np} that is {o} from the top"),
    "bottom": ("the {o} {np} from the bottom", "the {o} {np} counting from the bottom",
               "the {np} that is {o} from the bottom"),
}
_MIDDLE = ("the middle {np}", "the {np} in the middle", "the {np} between the other two")


def _score(obj: _Drawn, direction: str) -> float:
    """How far the object lies in a direction (larger = further left / right / up / down)."""
    return {"left": -obj.cx, "right": obj.cx, "top": -obj.cy, "bottom": obj.cy}[direction]


def _fits(obj: _Drawn, colour: str | None, shape: str | None) -> bool:
    return (colour is None or obj.colour == colour) and (shape is None or obj.shape == shape)


def _plural(noun: str) -> str:
    return noun + ("es" if noun.endswith("ss") else "s")


class _Grammar:
    """Writes every unambiguous referring expression of one scene, one randomly chosen phrasing per meaning.

    A *noun phrase* names the colour and shape, the shape only, the colour only, or neither ("the one"); the objects
    it fits are its *look-alikes*. The rules, all in the objects' centres:

    * attribute: the noun phrase fits the target alone; or, among look-alikes of one shape, the target is at least
      1.3 times smaller (larger) than every other one ("the smaller red circle");
    * spatial: the noun phrase fits two or more objects and the target leads every other look-alike in one direction
      by at least 10 % of the side ("the leftmost circle");
    * relation: the anchor has a description that fits it alone; the target lies at least 10 % of the side beyond it
      in one direction, and every other look-alike lies level with the anchor or on its other side ("the circle
      beneath the red square"); when the target is more across than along that direction, only comparatives are used
      ("lower than");
    * ordinal: three or more look-alikes, each at least 10 % of the side apart along one axis ("the second circle
      from the left").
    """

    def __init__(self, rng: np.random.Generator, objects: list[_Drawn], side: int):
        self.rng, self.objects, self.side, self.gap = rng, objects, side, _GAP * side
        self.found: list[ShiftedExpression] = []
        self.texts: set[str] = set()

    def choose(self, options):
        return options[int(self.rng.integers(len(options)))]

    def add(self, text: str, target: int, kind: str, heldout: bool, style: str = "free", *,
            wrapped: bool = False) -> None:
        """Record an expression; a free one may get a leading verb and a trailing place (unless ``wrapped``)."""
        if style == "free" and not wrapped:
            if self.rng.random() < 0.45:
                text = self.choose(_LEAD) + text
            if self.rng.random() < 0.3:
                text = text + self.choose(_TRAIL)
        if text not in self.texts:
            self.texts.add(text)
            # by keyword: the shared record may grow optional fields (e.g. ShapesWorld's template ids)
            self.found.append(ShiftedExpression(text=text, target=target, kind=kind, names_heldout=heldout,
                                                style=style))

    def matches(self, colour: str | None, shape: str | None) -> list[int]:
        return [i for i, o in enumerate(self.objects) if _fits(o, colour, shape)]

    def noun(self, colour: str | None, shape: str | None) -> str:
        """A noun phrase without article that can follow "the" and an adjective."""
        if colour and shape:
            return self.choose((f"{colour} {shape}",) * 3 + (f"{colour}-tinted {shape}",))
        if shape:
            return shape
        if colour:
            return self.choose((f"{colour} shape", f"{colour} object", f"{colour} one", f"{colour} thing"))
        return self.choose(("shape", "object", "one", "item"))

    @staticmethod
    def heldout(colour: str | None, shape: str | None) -> bool:
        return bool(colour and shape) and class_index(f"{colour} {shape}") in HELDOUT_INDICES

    def unique_descriptions(self, index: int) -> list[tuple[str | None, str | None]]:
        obj = self.objects[index]
        candidates = ((obj.colour, obj.shape), (None, obj.shape), (obj.colour, None))
        return [d for d in candidates if self.matches(*d) == [index]]

    def write(self) -> list[ShiftedExpression]:
        for t, obj in enumerate(self.objects):
            self.attribute(t, obj)
            for colour, shape in ((obj.colour, obj.shape), (None, obj.shape), (obj.colour, None), (None, None)):
                group = self.matches(colour, shape)
                if len(group) >= 2:
                    self.spatial(t, colour, shape, group)
                    self.relation(t, colour, shape, group)
                    if len(group) >= 3:
                        self.ordinal(t, colour, shape, group)
        return self.found

    def attribute(self, t: int, obj: _Drawn) -> None:
        c, s = obj.colour, obj.shape
        for colour, shape in self.unique_descriptions(t):
            if colour and shape:
                self.add(f"the {c} {s}", t, "attribute", self.heldout(c, s), style="plain")
                text = self.choose(_FULL_FORMS).format(c=c, s=s)
                if text == f"the {c} {s}":  # the plain phrase counts as free only with a verb or a trailing place
                    text = self.choose(_LEAD) + text + self.choose(("", *_TRAIL))
                    self.add(text, t, "attribute", self.heldout(c, s), wrapped=True)
                else:
                    self.add(text, t, "attribute", self.heldout(c, s))
            elif shape:
                self.add(self.choose(_SHAPE_FORMS).format(s=s), t, "attribute", False)
            else:
                self.add(self.choose(_COLOUR_FORMS).format(c=c), t, "attribute", False)
        # size words, among look-alikes of the same shape only (sizes of different shapes do not compare well)
        for colour in (c, None):
            group = self.matches(colour, s)
            others = [self.objects[i] for i in group if i != t]
            if not others:
                continue
            smaller = all(o.radius >= 1.3 * obj.radius for o in others)
            larger = all(obj.radius >= 1.3 * o.radius for o in others)
            if not (smaller or larger):
                continue
            np_ = self.noun(colour, s)
            if smaller:
                options = ["the smaller {np}", "the smaller of the two {nps}"] if len(others) == 1 else \
                    ["the smallest {np}"]
                if not obj.large and all(o.large for o in others):
                    options += ["the small {np}", "the little {np}"]
                    if 2.0 * obj.radius < 0.27 * self.side:
                        options.append("the tiny {np}")
            else:
                options = ["the bigger {np}", "the larger {np}", "the larger of the two {nps}"] \
                    if len(others) == 1 else ["the biggest {np}", "the largest {np}"]
                if obj.large and not any(o.large for o in others):
                    options += ["the big {np}", "the large {np}"]
            text = self.choose(options).format(np=np_, nps=_plural(np_))
            self.add(text, t, "attribute", self.heldout(colour, s))

    def spatial(self, t: int, colour: str | None, shape: str | None, group: list[int]) -> None:
        obj = self.objects[t]
        for direction in ("left", "right", "top", "bottom"):
            if all(_score(obj, direction) >= _score(self.objects[i], direction) + self.gap for i in group if i != t):
                options = _SUPERLATIVE[direction] + (_OF_TWO[direction] if len(group) == 2 else ())
                text = self.choose(options).format(np=self.noun(colour, shape))
                self.add(text, t, "spatial", self.heldout(colour, shape))

    def relation(self, t: int, colour: str | None, shape: str | None, group: list[int]) -> None:
        obj = self.objects[t]
        for a, anchor in enumerate(self.objects):
            if a == t:
                continue
            descriptions = self.unique_descriptions(a)
            if not descriptions:
                continue
            for direction in ("left", "right", "top", "bottom"):
                offset = _score(obj, direction) - _score(anchor, direction)
                rivals = [i for i in group if i not in (t, a)]
                if offset < self.gap or any(_score(self.objects[i], direction) > _score(anchor, direction)
                                            for i in rivals):
                    continue
                a_colour, a_shape = self.choose(descriptions)
                a_text = "the " + (self.noun(a_colour, a_shape) if a_colour and a_shape else
                                   a_shape if a_shape else self.choose((f"{a_colour} one", f"{a_colour} shape")))
                across = abs(obj.cy - anchor.cy) if direction in ("left", "right") else abs(obj.cx - anchor.cx)
                table = _RELATION if across <= offset else _COMPARATIVE
                text = self.choose(table[direction]).format(np=self.noun(colour, shape), a=a_text)
                self.add(text, t, "relation", self.heldout(colour, shape) or self.heldout(a_colour, a_shape))

    def ordinal(self, t: int, colour: str | None, shape: str | None, group: list[int]) -> None:
        for first, last in (("left", "right"), ("top", "bottom")):
            order = sorted(group, key=lambda i: -_score(self.objects[i], first))  # from `first` to `last`
            scores = [_score(self.objects[i], last) for i in order]
            if min(np.diff(scores)) < self.gap:
                continue
            rank = order.index(t)
            heldout = self.heldout(colour, shape)
            for side, position in ((first, rank), (last, len(order) - 1 - rank)):
                text = self.choose(_ORDINAL[side]).format(o=_ORDINALS[position], np=self.noun(colour, shape))
                self.add(text, t, "ordinal", heldout)
            if first == "left" and len(order) == 3 and rank == 1:
                self.add(self.choose(_MIDDLE).format(np=self.noun(colour, shape)), t, "ordinal", heldout)


# =====================================================================================================================
# Public calls
# =====================================================================================================================
def shifted_scenes(n_scenes: int, *, seed: int = 0, image_size: int = 64,
                   num_objects: tuple[int, int] = (1, 4)) -> ShiftedScenes:
    """Draw ``n_scenes`` shifted-world scenes with their masks, objects and referring expressions.

    Each scene holds ``num_objects[0]`` to ``num_objects[1]`` objects (inclusive), drawn in order, later ones on top;
    each keeps at least half of its own area visible and at least 128 · (image_size / 64)² pixels. Scene ``i`` depends
    only on ``(seed, image_size, num_objects, i)``, not on ``n_scenes``.

    >>> scenes = shifted_scenes(8, seed=1)
    >>> scenes.images.shape, scenes.semantic.dtype
    ((8, 64, 64, 3), dtype('uint8'))
    """
    n_scenes = check_positive_int(n_scenes, "n_scenes")
    seed = check_seed(seed)
    image_size = check_int(image_size, "image_size", 32)
    low, high = _check_num_objects(num_objects)
    side = image_size
    min_pixels = round(_MIN_PIXELS_64 * (side / 64.0) ** 2)

    images = np.zeros((n_scenes, side, side, 3), np.uint8)  # (N, H, W, 3)
    semantic = np.zeros((n_scenes, side, side), np.uint8)  # (N, H, W)
    instance = np.zeros((n_scenes, side, side), np.uint8)  # (N, H, W)
    objects: list[list[ShapeObject]] = []
    expressions: list[list[ShiftedExpression]] = []
    backgrounds: list[str] = []
    full_pixels: list[list[int]] = []
    for i in range(n_scenes):
        streams = np.random.SeedSequence([seed, 9173, side, low, high, i]).spawn(3)
        layout_rng, paint_rng, text_rng = (np.random.default_rng(s) for s in streams)
        n = int(layout_rng.integers(low, high + 1))
        drawn = _layout(layout_rng, n, side, min_pixels)
        image, family = _paint(paint_rng, drawn, side)
        images[i] = np.clip(np.rint(image), 0, 255).astype(np.uint8)
        for k, obj in enumerate(drawn):
            y0, y1, x0, x1 = obj.box
            semantic[i, y0:y1, x0:x1][obj.own] = obj.class_index + 1
            instance[i, y0:y1, x0:x1][obj.own] = k + 1
        visible = np.bincount(instance[i].ravel(), minlength=n + 1)
        objects.append([
            ShapeObject(class_index=obj.class_index, colour=obj.colour, shape=obj.shape,
                        size="large" if obj.large else "small", cx=float(obj.cx), cy=float(obj.cy),
                        radius=float(obj.radius), visible_pixels=int(visible[k + 1]))
            for k, obj in enumerate(drawn)
        ])
        expressions.append(_Grammar(text_rng, drawn, side).write())
        backgrounds.append(family)
        full_pixels.append([int(obj.own.sum()) for obj in drawn])
    return ShiftedScenes(images, semantic, instance, objects, expressions, seed, backgrounds, full_pixels)


def shifted_referring_set(n_scenes: int, *, seed: int = 0, image_size: int = 64, kinds: tuple[str, ...] | None = None,
                          styles: tuple[str, ...] | None = None,
                          heldout_names: bool | None = None) -> ShiftedReferringSet:
    """One expression per scene drawn at random (seeded) among the eligible ones; scenes without one are skipped.

    An expression is eligible when its kind is in ``kinds``, its style in ``styles`` (``None`` = all) and, unless
    ``heldout_names`` is None, its ``names_heldout`` equals ``heldout_names`` (filtered *before* the draw). The draw
    first picks one of the eligible *kinds* present in the scene, then an expression of that kind, so that the kinds
    with many phrasings per scene (relations) do not crowd out the others.
    """
    n_scenes = check_positive_int(n_scenes, "n_scenes")
    seed = check_seed(seed)
    image_size = check_int(image_size, "image_size", 32)
    kinds = _check_choices(kinds, "kinds", KINDS)
    styles = _check_choices(styles, "styles", STYLES)
    if heldout_names is not None and not isinstance(heldout_names, bool):
        raise TypeError(f"heldout_names must be None, True or False; got {heldout_names!r}")
    scenes = shifted_scenes(n_scenes, seed=seed, image_size=image_size)
    chosen: list[tuple[int, ShiftedExpression]] = []
    for i, found in enumerate(scenes.expressions):
        eligible = [e for e in found if (kinds is None or e.kind in kinds) and (styles is None or e.style in styles)
                    and (heldout_names is None or e.names_heldout == heldout_names)]
        if not eligible:
            continue
        rng = np.random.default_rng([seed, 5011, image_size, i])
        present = sorted({e.kind for e in eligible}, key=KINDS.index)
        kind = present[int(rng.integers(len(present)))]
        of_kind = [e for e in eligible if e.kind == kind]
        chosen.append((i, of_kind[int(rng.integers(len(of_kind)))]))
    if not chosen:
        raise ValueError(f"no expression of kinds={kinds!r}, styles={styles!r} and heldout_names={heldout_names!r} in "
                         f"{n_scenes} scenes "
                         f"(seed={seed}); 'plain' expressions are all of kind 'attribute'")
    index = np.array([i for i, _ in chosen])
    targets = np.array([e.target for _, e in chosen])
    masks = scenes.instance[index] == (targets + 1)[:, None, None]  # (B, H, W)
    return ShiftedReferringSet(
        images=scenes.images[index], texts=[e.text for _, e in chosen], masks=masks,
        kinds=[e.kind for _, e in chosen], styles=[e.style for _, e in chosen],
        names_heldout=[e.names_heldout for _, e in chosen])
