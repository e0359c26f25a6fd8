"""The looks of ShapesWorld's world "v2": jittered colours, backgrounds of any hue, anti-aliased paint, blur and noise.

World "v1" paints every object in its one named colour on a grey-ish, low-saturation background. "v2" keeps the
same objects, masks and names but makes the pixels much less regular, so that a model has to learn what "red" or
"background" means rather than memorise seven RGB triples. Every step is one small function, vectorised over the
batch:

1. :func:`jitter_object_colours` – each object's colour is drawn in HSV inside its name's own band
   (:data:`COLOUR_BANDS`): hue within ± a few degrees of the name's hue, saturation and value within ranges. The
   bands never overlap, with gaps of at least 14° between red / orange / yellow and 26° between cyan / blue /
   purple, so jitter never crosses into a neighbouring name.
2. :func:`background_colours` – two colours per scene, of any hue, saturation and value. A share
   (:data:`CLOSE_HUE_SHARE`) of scenes take a hue close to one of their objects' hues on purpose. Any background
   colour within :data:`CLASH_HUE_DEG` of an object's hue is made distinguishable from it: either muted (saturation
   0.05–0.35) or dark (value 0.10–0.38), while object colours are saturated (≥ 0.55) and bright (≥ 0.55).
3. :func:`background_pattern` – a mixing weight t ∈ [0, 1] per pixel, one of four families
   (:data:`BACKGROUND_FAMILIES`, equal shares): flat (t = 0), a linear two-colour gradient at any angle, stripes at
   any angle, frequency and sharpness, and smooth blotches (low-resolution noise upsampled bilinearly).
4. :func:`composite` – objects painted back to front with the "over" operator: colour ← colour·(1 − c) + object·c,
   c the object's coverage of the pixel (anti-aliasing; coverage comes from supersampling, see
   :func:`vlseg.data.shapes_world._coverage`).
5. :func:`gaussian_blur` – on a share (:data:`BLUR_SHARE`) of the images, a separable Gaussian blur of σ in
   :data:`BLUR_SIGMA` pixels.
6. :func:`add_noise` – Gaussian pixel noise of a random strength per image (σ in :data:`NOISE_SIGMA`, on 0–255).

Masks are never blurred or noised: they are the geometry (coverage ≥ 0.5).
"""

from __future__ import annotations

import numpy as np

from vlseg.data.vocabulary import COLOUR_NAMES

# name: (hue centre in degrees, hue half-width in degrees, saturation range, value range)
COLOUR_BANDS: dict[str, tuple[float, float, tuple[float, float], tuple[float, float]]] = {
    "red": (0.0, 8.0, (0.72, 0.95), (0.70, 0.95)),  # 352°–8°
    "orange": (28.0, 6.0, (0.80, 1.00), (0.88, 1.00)),  # 22°–34°  (bright: dark orange reads as brown)
    "yellow": (53.0, 5.0, (0.75, 0.95), (0.88, 1.00)),  # 48°–58°  (bright: dark yellow reads as olive)
    "green": (128.0, 16.0, (0.65, 0.92), (0.55, 0.85)),  # 112°–144°
    "cyan": (185.0, 7.0, (0.70, 0.92), (0.72, 0.95)),  # 178°–192°
    "blue": (228.0, 10.0, (0.70, 0.92), (0.70, 0.95)),  # 218°–238°
    "purple": (278.0, 8.0, (0.55, 0.80), (0.62, 0.85)),  # 270°–286°
}
BACKGROUND_FAMILIES = ("flat", "gradient", "stripes", "blotches")
BACKGROUND_SHARES = (0.25, 0.25, 0.25, 0.25)
CLOSE_HUE_SHARE = 0.2  # scenes whose background hue is deliberately near an object's hue
CLOSE_HUE_DEG = 12.0  # … within ± this many degrees
CLASH_HUE_DEG = 45.0  # a background colour this close in hue to an object must be muted or dark
BLUR_SHARE = 0.4
BLUR_SIGMA = (0.4, 1.0)  # pixels
NOISE_SIGMA = (1.0, 12.0)  # per image, on the 0–255 scale


def hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """HSV (each in [0, 1], any shape ...) to RGB in [0, 255], shape (..., 3) float32 (the textbook sextant formula)."""
    h6 = np.mod(h, 1.0) * 6.0
    sextant = np.floor(h6).astype(np.int64) % 6
    f = h6 - np.floor(h6)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    # (r, g, b) per sextant: 0 (v,t,p) 1 (q,v,p) 2 (p,v,t) 3 (p,q,v) 4 (t,p,v) 5 (v,p,q)
    choices = np.stack([
        np.stack([v, t, p], -1), np.stack([q, v, p], -1), np.stack([p, v, t], -1),
        np.stack([p, q, v], -1), np.stack([t, p, v], -1), np.stack([v, p, q], -1),
    ])  # (6, ..., 3)
    rgb = np.take_along_axis(choices, sextant[None, ..., None].repeat(3, -1), axis=0)[0]
    return (255.0 * rgb).astype(np.float32)


def rgb_to_hue(rgb: np.ndarray) -> np.ndarray:
    """Hue in degrees [0, 360) of RGB values (..., 3) (any scale); grey pixels get hue 0."""
    rgb = rgb.astype(np.float32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    hi, lo = rgb.max(-1), rgb.min(-1)
    span = np.where(hi > lo, hi - lo, 1.0)
    hue = np.where(hi == r, (g - b) / span, np.where(hi == g, 2.0 + (b - r) / span, 4.0 + (r - g) / span))
    return np.mod(60.0 * hue, 360.0)


def jitter_object_colours(rng: np.random.Generator, colour_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An RGB colour per object inside its name's band. ``colour_idx`` (N, M) → RGB (N, M, 3) and hue (N, M) in [0, 1).

    hue = centre + U(−half-width, +half-width), saturation ~ U(band), value ~ U(band), all per object.
    """
    bands = np.array([[c, w, s[0], s[1], v[0], v[1]] for c, w, s, v in (COLOUR_BANDS[n] for n in COLOUR_NAMES)])
    centre, half, s_lo, s_hi, v_lo, v_hi = np.moveaxis(bands[colour_idx], -1, 0)  # each (N, M)
    u = rng.random((3, *colour_idx.shape))
    hue = np.mod((centre + half * (2 * u[0] - 1)) / 360.0, 1.0)
    sat = s_lo + (s_hi - s_lo) * u[1]
    val = v_lo + (v_hi - v_lo) * u[2]
    return hsv_to_rgb(hue, sat, val), hue


def background_colours(rng: np.random.Generator, object_hue: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Two background colours per scene, RGB (N, 2, 3), distinguishable from the scene's objects.

    ``object_hue`` (N, M) in [0, 1), ``valid`` (N, M) marks the scene's objects. Hue, saturation and value are
    uniform (value in [0.12, 0.95]); :data:`CLOSE_HUE_SHARE` of the scenes move their hue within
    ± :data:`CLOSE_HUE_DEG` of a random object's hue. Then every colour within :data:`CLASH_HUE_DEG` of an object's
    hue that is both saturated (> 0.4) and bright (> 0.45) is made muted or dark, at random.
    """
    n = len(object_hue)
    hue, sat, val = rng.random((n, 2)), rng.random((n, 2)), rng.uniform(0.12, 0.95, (n, 2))
    # a random object of each scene (objects 0 .. count-1 are valid)
    pick = np.minimum((rng.random(n) * valid.sum(1)).astype(np.int64), valid.sum(1) - 1)
    near = object_hue[np.arange(n), pick][:, None] + rng.uniform(-1, 1, (n, 2)) * CLOSE_HUE_DEG / 360.0
    close = rng.random(n) < CLOSE_HUE_SHARE
    hue = np.where(close[:, None], np.mod(near, 1.0), hue)
    # circular hue distance from each background colour to each object, (N, 2, M), in degrees
    gap = np.abs(hue[:, :, None] - object_hue[:, None, :])
    gap = 360.0 * np.minimum(gap, 1.0 - gap)
    clash = (np.where(valid[:, None, :], gap, np.inf).min(-1) < CLASH_HUE_DEG) & (sat > 0.4) & (val > 0.45)
    muted = rng.random((n, 2)) < 0.5
    sat = np.where(clash & muted, rng.uniform(0.05, 0.35, (n, 2)), sat)
    val = np.where(clash & ~muted, rng.uniform(0.10, 0.38, (n, 2)), val)
    return hsv_to_rgb(hue, sat, val)


def _upsample_bilinear(grid: np.ndarray, size: int) -> np.ndarray:
    """(N, k, k) → (N, size, size) by bilinear interpolation between grid points spread over the image."""
    k = grid.shape[-1]
    pos = (np.arange(size) + 0.5) / size * (k - 1)  # pixel centres in grid units
    i0 = np.minimum(np.floor(pos).astype(np.int64), k - 2)
    w = (pos - i0).astype(np.float32)
    rows = grid[:, i0] * (1 - w)[None, :, None] + grid[:, i0 + 1] * w[None, :, None]  # (N, size, k)
    return rows[:, :, i0] * (1 - w) + rows[:, :, i0 + 1] * w  # (N, size, size)


def background_pattern(rng: np.random.Generator, family: np.ndarray, size: int) -> np.ndarray:
    """The weight t ∈ [0, 1] of the second background colour at each pixel, (N, H, W) float32.

    ``family`` (N,) indexes :data:`BACKGROUND_FAMILIES`. With x, y the pixel centres in [0, 1] and
    p = cos(a)·(x − ½) + sin(a)·(y − ½) the position along a random direction a:

    * flat: t = 0;
    * gradient: t = ½ + p / (|cos a| + |sin a|), so t goes from 0 to 1 across the image;
    * stripes: t = ½ + ½·tanh(k·sin(2π f p + φ)) / tanh(k), f ∈ [1.5, 6] stripes per side, sharpness k ∈ [1, 8];
    * blotches: a 4×4 plus half a 7×7 grid of uniform noise, upsampled bilinearly, rescaled to [0, 1], smoothstepped.
    """
    n = len(family)
    coords = ((np.arange(size) + 0.5) / size - 0.5).astype(np.float32)
    yy, xx = np.meshgrid(coords, coords, indexing="ij")  # (H, W)
    angle = rng.uniform(0, 2 * np.pi, (n, 1, 1)).astype(np.float32)
    cos, sin = np.cos(angle), np.sin(angle)
    t = np.zeros((n, size, size), np.float32)
    grad = np.nonzero(family == BACKGROUND_FAMILIES.index("gradient"))[0]
    t[grad] = 0.5 + (cos[grad] * xx + sin[grad] * yy) / (np.abs(cos[grad]) + np.abs(sin[grad]))
    stripes = np.nonzero(family == BACKGROUND_FAMILIES.index("stripes"))[0]
    freq = rng.uniform(1.5, 6.0, (n, 1, 1)).astype(np.float32)[stripes]
    sharp = rng.uniform(1.0, 8.0, (n, 1, 1)).astype(np.float32)[stripes]
    phase = rng.uniform(0, 2 * np.pi, (n, 1, 1)).astype(np.float32)[stripes]
    wave = np.sin(2 * np.pi * freq * (cos[stripes] * xx + sin[stripes] * yy) + phase)
    t[stripes] = 0.5 + 0.5 * np.tanh(sharp * wave) / np.tanh(sharp)
    blotches = np.nonzero(family == BACKGROUND_FAMILIES.index("blotches"))[0]
    if len(blotches):
        field = _upsample_bilinear(rng.random((len(blotches), 4, 4)).astype(np.float32), size)
        field += 0.5 * _upsample_bilinear(rng.random((len(blotches), 7, 7)).astype(np.float32), size)
        lo, hi = field.min(axis=(1, 2), keepdims=True), field.max(axis=(1, 2), keepdims=True)
        u = (field - lo) / np.maximum(hi - lo, 1e-6)
        t[blotches] = u * u * (3 - 2 * u)  # smoothstep: broad patches of either colour
    return np.clip(t, 0.0, 1.0)


def make_backgrounds(
    rng: np.random.Generator, object_hue: np.ndarray, valid: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Backgrounds (N, H, W, 3) float32 in [0, 255] and their family index (N,)."""
    n = len(object_hue)
    family = rng.choice(len(BACKGROUND_FAMILIES), n, p=BACKGROUND_SHARES)
    colours = background_colours(rng, object_hue, valid)  # (N, 2, 3)
    t = background_pattern(rng, family, size)[..., None]  # (N, H, W, 1)
    return colours[:, None, None, 0] * (1 - t) + colours[:, None, None, 1] * t, family


def composite(background: np.ndarray, object_rgb: np.ndarray, coverage: np.ndarray) -> np.ndarray:
    """Objects over the background, back to front: image ← image·(1 − c) + rgb·c. Returns (N, H, W, 3) float32.

    ``background`` (N, H, W, 3), ``object_rgb`` (N, M, 3), ``coverage`` (N, M, H, W) in [0, 1] (0 for absent objects).
    """
    image = background.astype(np.float32, copy=True)
    for m in range(coverage.shape[1]):  # later objects on top
        c = coverage[:, m, :, :, None]  # (N, H, W, 1)
        image += c * (object_rgb[:, m, None, None, :] - image)
    return image


def gaussian_blur(images: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Separable Gaussian blur, one σ per image: ``images`` (N, H, W, C) float32, ``sigma`` (N,) > 0 pixels.

    Kernel w_k ∝ exp(−k² / 2σ²) for k = −3 … 3 (3σ covers σ ≤ 1), normalised to sum 1; edges reflect.
    Filtering rows then columns with the 1-D kernel equals the 2-D Gaussian filter.
    """
    radius = 3
    taps = np.arange(-radius, radius + 1, dtype=np.float32)
    kernel = np.exp(-(taps[None] ** 2) / (2 * sigma[:, None].astype(np.float32) ** 2))  # (N, 7)
    kernel /= kernel.sum(1, keepdims=True)
    height, width = images.shape[1:3]
    out = images
    for axis, length in ((1, height), (2, width)):
        pad = [(0, 0)] * 4
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad, mode="reflect")
        acc = np.zeros_like(out)
        for k in range(2 * radius + 1):
            window = padded[:, k : k + length] if axis == 1 else padded[:, :, k : k + length]
            acc += kernel[:, k, None, None, None] * window
        out = acc
    return out


def add_noise(rng: np.random.Generator, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian pixel noise, σ ~ U(:data:`NOISE_SIGMA`) per image. Returns the noisy images and σ (N,)."""
    sigma = rng.uniform(*NOISE_SIGMA, len(images)).astype(np.float32)
    noise = rng.standard_normal(images.shape, dtype=np.float32)
    return images + sigma[:, None, None, None] * noise, sigma


def paint(
    rng: np.random.Generator, colour_idx: np.ndarray, coverage: np.ndarray, valid: np.ndarray
) -> tuple[np.ndarray, dict]:
    """The whole "v2" paint job: images (N, H, W, 3) uint8 and what was drawn (family, blur σ, noise σ per image).

    ``colour_idx`` (N, M) indexes :data:`vlseg.data.vocabulary.COLOUR_NAMES`; ``coverage`` (N, M, H, W) in [0, 1];
    ``valid`` (N, M) marks the objects that exist.
    """
    n, _, size, _ = coverage.shape
    object_rgb, object_hue = jitter_object_colours(rng, colour_idx)  # (N, M, 3), (N, M)
    background, family = make_backgrounds(rng, object_hue, valid, size)  # (N, H, W, 3), (N,)
    images = composite(background, object_rgb, coverage)  # (N, H, W, 3)
    blurred = np.nonzero(rng.random(n) < BLUR_SHARE)[0]
    blur_sigma = np.zeros(n, np.float32)
    blur_sigma[blurred] = rng.uniform(*BLUR_SIGMA, len(blurred))
    if len(blurred):
        images[blurred] = gaussian_blur(images[blurred], blur_sigma[blurred])
    images, noise_sigma = add_noise(rng, images)
    looks = {
        "background": [BACKGROUND_FAMILIES[f] for f in family],
        "blur_sigma": blur_sigma,
        "noise_sigma": noise_sigma,
    }
    return np.clip(np.rint(images), 0, 255).astype(np.uint8), looks
