"""The playground (chapter 06): a scene of your choosing, your own words, and what the shipped models make of them.

Three pieces, usable apart:

* :func:`look` runs the four public calls on one image — CLIP's ``classify``, PACL's ``query_maps`` and ``segment``,
  CRIS's ``predict`` — and returns a :class:`PlaygroundView`: the maps, and the numbers behind them, scored against
  the scene's ground truth where the scene has one;
* :func:`show_view` draws a view as one figure;
* :class:`Playground` puts both behind ipywidgets controls: a validation scene, a new scene from a seed (of
  ShapesWorld v1, of the wider v2, or of the independently drawn shifted world), a scene you draw (colour, shape,
  size and position of up to three objects) or an image you upload; the text PACL maps, the class names it segments
  with and its background threshold; the expression CRIS segments and its threshold.

Ground truth exists for every generated or drawn scene (ShapesWorld's and the shifted world's), not for uploads.
PACL's segmentation is scored when every class name is one of ShapesWorld's 49 (objects of classes left off the list
are not scored); CRIS's mask when the expression is one of the scene's own referring expressions (typed text may
mean anything).
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch
from torch import Tensor

from vlseg.checks import check_number, check_probability
from vlseg.data import (CLASS_NAMES, COLOURS, SHAPES, SIZES, Scene, SceneBatch, ShiftedScene, draw_scene,
                        evaluation_scenes, generate_batch)
from vlseg.data.vocabulary import IGNORE_INDEX
from vlseg.images import as_images
from vlseg.metrics import mask_ious, mean_iou
from vlseg.viz import dim_outside

SOURCES = ("validation scene", "new scene", "v2 scene", "shifted scene", "draw", "upload")
SEEDED_WORLDS = {"new scene": "v1", "v2 scene": "v2", "shifted scene": "shifted"}  # a new scene of it from the seed
DRAWN_OBJECTS = 3  # objects the drawing controls offer
DEFAULT_DRAWING = (("red", "circle", "large", 0.3, 0.35), ("blue", "square", "small", 0.72, 0.3),
                   ("green", "triangle", "small", 0.5, 0.75))
LABEL_COLOURS = plt.get_cmap("tab10").colors  # class k of a segmentation is drawn in colour k (mod 10)


@dataclass(frozen=True)
class PlaygroundView:
    """What the models make of one image. Maps are at the image's own size (H, W)."""

    image: np.ndarray  # (H, W, 3) uint8
    clip_guess: str  # CLIP's zero-shot pick among the class names, for the whole image
    query: str
    similarity: Tensor  # (H, W) cosine of each pixel's patch embedding with the query (PACL's query_maps)
    class_names: tuple[str, ...]
    background: float  # the cosine below which a pixel is background
    segmentation: Tensor  # (H, W) long: index into class_names, −1 = background (PACL's segment)
    expression: str
    threshold: float  # CRIS's probability threshold
    mask: Tensor  # (H, W) bool (CRIS's predict)
    segmentation_miou: float | None  # against the scene's ground truth (background counted as a class), or None
    mask_iou: float | None  # against the referred object's ground truth, or None
    target: np.ndarray | None  # (H, W) bool: the referred object, when the expression is one of the scene's own

    def summary(self) -> str:
        """The numbers, one line per model."""
        share = {name: float((self.segmentation == k).float().mean()) for k, name in enumerate(self.class_names)}
        seg = "no ground truth" if self.segmentation_miou is None else f"mIoU {100 * self.segmentation_miou:.1f}"
        ref = "no ground truth" if self.mask_iou is None else f"IoU {100 * self.mask_iou:.1f}"
        return "\n".join([
            f"CLIP (whole image): {self.clip_guess}",
            f"PACL query {self.query!r}: cosine max {float(self.similarity.max()):.2f}, "
            f"mean {float(self.similarity.mean()):.2f}",
            f"PACL segmentation (background below {self.background:.2f}): {seg}; pixels "
            + ", ".join(f"{name} {100 * s:.0f}%" for name, s in share.items()),
            f"CRIS {self.expression!r} (threshold {self.threshold:.2f}): {100 * float(self.mask.float().mean()):.0f}% "
            f"of the pixels; {ref}",
        ])


def parse_class_names(text: str, name: str = "class_names") -> tuple[str, ...]:
    """``"red circle, blue square"`` → ``("red circle", "blue square")``; an error if no name is left."""
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a comma-separated string of class names; got a {type(text).__name__}")
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if not names:
        raise ValueError(f"{name} must name at least one class (comma-separated); got {text!r}")
    return names


def semantic_targets(scene: Scene | ShiftedScene, class_names: Sequence[str]) -> Tensor | None:
    """The scene's ground truth in ``class_names``' indices + 1 (0 = background), (H, W) long; objects of classes
    not in the list are ignored (255). None if a name is not a ShapesWorld class (free text has no ground truth)."""
    if not all(name in CLASS_NAMES for name in class_names):
        return None
    lookup = np.full(256, IGNORE_INDEX, dtype=np.int64)  # semantic value (class + 1, 0, 255) → target label
    lookup[0] = 0
    for k, name in enumerate(class_names):
        lookup[CLASS_NAMES.index(name) + 1] = k + 1
    return torch.from_numpy(lookup[scene.semantic])


def referred_object(scene: Scene | ShiftedScene, expression: str) -> np.ndarray | None:
    """The mask (H, W) bool of the object ``expression`` refers to, if it is one of the scene's own expressions."""
    wanted = " ".join(expression.lower().split())
    for candidate in scene.referring_expressions():
        if " ".join(candidate.text.lower().split()) == wanted:
            return scene.instance == candidate.target + 1
    return None


def look(pacl: Any, cris: Any, image: Any, *, query: str, class_names: Sequence[str], expression: str,
         background: float | str = "auto", threshold: float | None = None,
         scene: Scene | ShiftedScene | None = None) -> PlaygroundView:
    """Run CLIP's ``classify``, PACL's ``query_maps`` and ``segment`` and CRIS's ``predict`` on one image.

    ``image``: one (H, W, 3) uint8 image in any form :mod:`vlseg.images` accepts; ``scene``: the ShapesWorld scene it
    came from, if any (for the ground truth). ``background``: PACL's cosine threshold, or "auto" for its calibrated
    one; ``threshold``: CRIS's probability threshold (None: the model's own, 0.35).
    """
    checked = as_images(image, "image")
    if checked.as_list or len(checked) != 1:
        raise ValueError(f"image must be one image (H, W, 3); got {len(checked)} images")
    pixels = checked.block[0].cpu().numpy()  # (H, W, 3) uint8
    if scene is not None and scene.image.shape != pixels.shape:
        raise ValueError(f"scene is a {scene.image.shape} scene but image is {pixels.shape}: pass the scene's own image")
    if not isinstance(query, str) or not query.strip():
        raise ValueError(f"query must be a non-empty string; got {query!r}")
    if not isinstance(expression, str) or not expression.strip():
        raise ValueError(f"expression must be a non-empty string; got {expression!r}")
    class_names = tuple(class_names) if not isinstance(class_names, str) else parse_class_names(class_names)
    if background == "auto":
        if pacl.background_threshold is None:
            pacl.calibrate_background()
        background = pacl.background_threshold
    background = check_number(background, "background", -1.0, 1.0, what="'auto' or a cosine threshold")
    threshold = cris.config.threshold if threshold is None else check_probability(threshold, "threshold")

    guess = int(pacl.bundle.classify(pixels, list(class_names))[0])
    similarity = pacl.query_maps(pixels, [query])[0, 0]  # (H, W)
    segmentation = pacl.segment(pixels, list(class_names), background=background)[0]  # (H, W)
    mask = cris.predict(pixels, expression, threshold=threshold)[0]  # (H, W)

    segmentation_miou, mask_iou, target = None, None, None
    if scene is not None:
        targets = semantic_targets(scene, class_names)
        if targets is not None:
            segmentation_miou, _ = mean_iou(segmentation + 1, targets, len(class_names) + 1, IGNORE_INDEX)
        target = referred_object(scene, expression)
        if target is not None:
            mask_iou = float(mask_ious(mask[None], torch.from_numpy(target)[None])[0])
    return PlaygroundView(pixels, class_names[guess], query, similarity, class_names, background, segmentation,
                          expression, threshold, mask, segmentation_miou, mask_iou, target)


def show_view(view: PlaygroundView, width: float = 2.6) -> plt.Figure:
    """The image, PACL's map for the query, PACL's segmentation and CRIS's mask, side by side, with their numbers."""
    fig, axes = plt.subplots(1, 4, figsize=(4 * width, width + 1.1))
    wrap = lambda text: "\n".join(textwrap.wrap(text, 30))  # noqa: E731
    axes[0].imshow(view.image)
    axes[0].set_title(wrap(f"CLIP's pick: {view.clip_guess}"), fontsize=8)

    axes[1].imshow(view.image)
    heat = axes[1].imshow(view.similarity.numpy(), cmap="magma", alpha=0.65)
    fig.colorbar(heat, ax=axes[1], fraction=0.046, pad=0.03).ax.tick_params(labelsize=6)
    axes[1].set_title(wrap(f"PACL: “{view.query}” (max {float(view.similarity.max()):.2f})"), fontsize=8)

    labels = view.segmentation.numpy()
    colours = np.array([LABEL_COLOURS[k % len(LABEL_COLOURS)] for k in range(len(view.class_names))])
    shown = view.image / 255.0 * 0.35  # background: the image, dimmed
    shown[labels >= 0] = colours[labels[labels >= 0]] * 0.8 + view.image[labels >= 0] / 255.0 * 0.2
    axes[2].imshow(shown)
    score = "" if view.segmentation_miou is None else f", mIoU {100 * view.segmentation_miou:.0f}"
    axes[2].set_title(wrap(f"PACL segmentation (bg < {view.background:.2f}{score})"), fontsize=8)
    axes[2].legend(handles=[Patch(color=colours[k], label=name) for k, name in enumerate(view.class_names)],
                   fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=2, frameon=False)

    axes[3].imshow(dim_outside(view.image, view.mask.numpy()))
    if view.target is not None:
        axes[3].contour(view.target, levels=[0.5], colors="white", linewidths=1.0)
    score = "" if view.mask_iou is None else f", IoU {100 * view.mask_iou:.0f}"
    axes[3].set_title(wrap(f"CRIS: “{view.expression}” (p > {view.threshold:.2f}{score})"), fontsize=8)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def decode_upload(content: bytes, name: str = "upload") -> np.ndarray:
    """An uploaded image file → (H, W, 3) uint8 RGB; a clear error naming the file if it is not an image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(content)) as opened:
            return np.asarray(opened.convert("RGB"))
    except (UnidentifiedImageError, OSError):
        raise ValueError(f"{name} is not an image file PIL can read (PNG, JPEG, …; got {len(content)} bytes "
                         f"starting {bytes(content[:8])!r})") from None


class Playground:
    """The widgets of chapter 06. ``view`` holds the latest :class:`PlaygroundView` (None while a control's value is
    invalid; ``message`` then says why). Every control calls :meth:`refresh`, so setting a control's ``value`` from
    code (as the tests do) is the same as a reader moving it."""

    def __init__(self, pacl: Any, cris: Any, scenes: SceneBatch | None = None, *, seed: int = 0, scene: int = 0,
                 query: str = "a red shape") -> None:
        import ipywidgets as widgets

        self.pacl, self.cris = pacl, cris
        self.scenes = scenes if scenes is not None else generate_batch(24, seed=seed, split="val")
        if pacl.background_threshold is None:
            pacl.calibrate_background()
        layout = widgets.Layout(width="auto")
        self.source = widgets.ToggleButtons(options=SOURCES, value=SOURCES[0], description="scene",
                                            style={"button_width": "115px"})
        if not isinstance(scene, int) or not 0 <= scene < len(self.scenes):
            raise ValueError(f"scene must be an index into the {len(self.scenes)} scenes; got {scene!r}")
        self.scene_index = widgets.IntSlider(scene, 0, len(self.scenes) - 1, description="validation")
        self.seed = widgets.IntText(seed + 1000, description="seed")
        self.upload = widgets.FileUpload(accept="image/*", multiple=False, description="upload an image",
                                         tooltip="an image file of any size (PNG, JPEG, …)")
        self.drawing = [self._object_controls(widgets, spec) for spec in DEFAULT_DRAWING]
        self.query = widgets.Text(query, description="PACL map", layout=layout)
        self.class_names = widgets.Text("", description="classes", layout=layout)
        self.background = widgets.FloatSlider(float(pacl.background_threshold), min=-0.2, max=1.0, step=0.01,
                                              description="background")  # starts at the calibrated threshold
        self.expression = widgets.Combobox(options=(), value="", description="CRIS", ensure_option=False, layout=layout)
        self.threshold = widgets.FloatSlider(float(cris.config.threshold), min=0.05, max=0.95, step=0.05,
                                             description="threshold")
        self.output = widgets.Output()
        self.view: PlaygroundView | None = None
        self.message = ""
        self._quiet = False  # True while several controls change at once: one refresh at the end
        self._scene = self._set_scene()
        for control in self._controls():
            control.observe(self._changed, names="value")
        self.refresh()

    @staticmethod
    def _object_controls(widgets: Any, spec: tuple[str, str, str, float, float]) -> dict[str, Any]:
        colour, shape, size, x, y = spec
        narrow, label = widgets.Layout(width="150px"), {"description_width": "40px"}
        return {"show": widgets.Checkbox(True, description="show", indent=False, layout=widgets.Layout(width="70px")),
                "colour": widgets.Dropdown(options=tuple(COLOURS), value=colour, description="colour", layout=narrow,
                                           style=label),
                "shape": widgets.Dropdown(options=SHAPES, value=shape, description="shape", layout=narrow, style=label),
                "size": widgets.Dropdown(options=SIZES, value=size, description="size", layout=narrow, style=label),
                "x": widgets.FloatSlider(x, min=0.1, max=0.9, step=0.05, description="x", layout=narrow, style=label),
                "y": widgets.FloatSlider(y, min=0.1, max=0.9, step=0.05, description="y", layout=narrow, style=label)}

    def _controls(self) -> list[Any]:
        drawn = [control for row in self.drawing for control in row.values()]
        return [self.source, self.scene_index, self.seed, self.upload, *drawn, self.query, self.class_names,
                self.background, self.expression, self.threshold]

    @property
    def widget(self) -> Any:
        """The whole playground as one ipywidgets box."""
        import ipywidgets as widgets

        rows = [[row[key] for key in ("show", "colour", "shape", "size")] for row in self.drawing]
        draw = widgets.VBox([widgets.VBox([widgets.HBox(first), widgets.HBox([row["x"], row["y"]])])
                             for first, row in zip(rows, self.drawing)])  # two short lines per object: fits a page
        pickers = widgets.VBox([self.scene_index, widgets.HBox([self.seed]), draw, self.upload])
        return widgets.VBox([self.source, pickers, self.query, self.class_names, self.background, self.expression,
                             self.threshold, self.output])

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    # --- the scene -------------------------------------------------------------------------------------------------
    def _set_scene(self) -> Scene | ShiftedScene | None:
        """Make the chosen scene current; reset the class names and the expression to fit it."""
        source = self.source.value
        if source == "validation scene":
            scene = self.scenes[self.scene_index.value]
        elif source in SEEDED_WORLDS:
            scene = evaluation_scenes(SEEDED_WORLDS[source], 1, seed=int(self.seed.value))[0]
        elif source == "draw":
            objects = [tuple(row[key].value for key in ("colour", "shape", "size", "x", "y"))
                       for row in self.drawing if row["show"].value]
            scene = draw_scene(objects or DEFAULT_DRAWING[:1], seed=int(self.seed.value))
        else:
            scene = None
        self._quiet = True
        try:
            if scene is not None:
                self.class_names.value = ", ".join(dict.fromkeys(o.name for o in scene.objects))
                options = tuple(dict.fromkeys(e.text for e in scene.referring_expressions()))
                self.expression.options = options
                self.expression.value = options[0] if options else "the red shape"
            elif not self.class_names.value:
                self.class_names.value = "red circle, blue square"
        finally:
            self._quiet = False
        return scene

    def image(self) -> np.ndarray:
        """The current image (H, W, 3) uint8: the scene's, or the uploaded file's."""
        if self._scene is not None:
            return self._scene.image
        if not self.upload.value:
            raise ValueError("no image uploaded yet: choose a file with the upload button")
        item = self.upload.value[0]
        return decode_upload(bytes(item["content"]), repr(item.get("name", "the upload")))

    # --- updating --------------------------------------------------------------------------------------------------
    def _changed(self, change: dict) -> None:
        if self._quiet:
            return
        scene_controls = [self.source, self.scene_index, self.seed, *[c for row in self.drawing for c in row.values()]]
        if change["owner"] in scene_controls or (change["owner"] is self.upload and self.source.value == "upload"):
            self._scene = self._set_scene()
        self.refresh()

    def refresh(self) -> None:
        """Recompute the view from the controls and redraw it; an invalid value shows its message instead."""
        from IPython.display import clear_output, display

        try:
            self.view = look(self.pacl, self.cris, self.image(), scene=self._scene, query=self.query.value,
                             class_names=parse_class_names(self.class_names.value), expression=self.expression.value,
                             background=self.background.value, threshold=self.threshold.value)
            self.message = self.view.summary()
        except (ValueError, TypeError) as error:
            self.view, self.message = None, f"⚠ {error}"
        with self.output:
            clear_output(wait=True)
            if self.view is not None:
                figure = show_view(self.view)
                display(figure)
                plt.close(figure)
            print(self.message)
