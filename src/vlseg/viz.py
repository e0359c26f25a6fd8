"""Pictures: scenes with their masks, referring expressions, training curves, confusion matrices."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import ListedColormap

from vlseg.data import CLASS_NAMES, COLOUR_NAMES, HELDOUT_CLASSES, SHAPES
from vlseg.data.vocabulary import COLOURS, IGNORE_INDEX
from vlseg.metrics import mask_ious


def semantic_palette() -> np.ndarray:
    """(256, 3) uint8 colours for semantic masks: black background, each class a distinct hue, white = ignore."""
    rng = np.random.default_rng(0)
    palette = rng.integers(40, 256, (256, 3)).astype(np.uint8)
    palette[0] = 0
    for k, name in enumerate(CLASS_NAMES):  # a class is drawn in its own colour, shaded by shape
        colour = np.array(COLOURS[name.split()[0]], dtype=float)
        shade = 0.55 + 0.45 * (SHAPES.index(name.split()[1]) / (len(SHAPES) - 1))
        palette[k + 1] = np.clip(colour * shade, 0, 255).astype(np.uint8)
    palette[IGNORE_INDEX] = 255
    return palette


def colorize(label_map: np.ndarray) -> np.ndarray:
    """(H, W) integer labels → (H, W, 3) uint8 picture with :func:`semantic_palette`."""
    return semantic_palette()[np.asarray(label_map).astype(np.int64) % 256]


def instance_cmap(n: int = 5) -> ListedColormap:
    colours = ["#000000", "#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00"][: n + 1]
    return ListedColormap(colours)


def show_scene(scene, axes: Sequence[plt.Axes] | None = None, title: bool = True) -> Sequence[plt.Axes]:
    """Image, semantic mask and instance mask of a scene side by side."""
    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(7.5, 2.8))
    axes[0].imshow(scene.image)
    axes[1].imshow(colorize(scene.semantic))
    axes[2].imshow(scene.instance, cmap=instance_cmap(), vmin=0, vmax=5, interpolation="nearest")
    for ax, name in zip(axes, ["image", "semantic mask", "instance mask"]):
        ax.set_xticks([])
        ax.set_yticks([])
        if title:
            ax.set_title(name, fontsize=9)
    for m, obj in enumerate(scene.objects):
        axes[2].text(obj.cx, obj.cy, str(m + 1), color="white", ha="center", va="center", fontsize=8)
        axes[1].text(obj.cx, obj.cy, obj.name, color="white", ha="center", va="center", fontsize=6)
    return axes


def scene_grid(images: np.ndarray, captions: Sequence[str] | None = None, cols: int = 6, width: float = 2.1):
    """A grid of images with (wrapped) captions below each."""
    import textwrap

    n = len(images)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * width, rows * (width + 0.45)), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i])
            if captions is not None:
                ax.set_title("\n".join(textwrap.wrap(captions[i], 28)), fontsize=7)
    fig.tight_layout()
    return fig


def show_referring(scene, expressions, max_per_object: int = 3, ax: plt.Axes | None = None) -> plt.Axes:
    """The image with each object's outline and a few of its referring expressions listed beside it."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.2))
    ax.imshow(scene.image)
    ax.set_xticks([])
    ax.set_yticks([])
    lines = []
    for m, obj in enumerate(scene.objects):
        ax.contour(scene.instance == m + 1, levels=[0.5], colors=[instance_cmap().colors[m + 1]], linewidths=1.5)
        ax.text(obj.cx, obj.cy, str(m + 1), color="white", ha="center", va="center", fontsize=9, weight="bold")
        own = [e for e in expressions if e.target == m]
        picked = []
        for kind in ("attribute", "spatial", "relation", "ordinal"):
            picked += [e for e in own if e.kind == kind][:1]
        lines.append(f"{m + 1}: " + " | ".join(f"{e.text} [{e.kind}]" for e in picked[:max_per_object]))
    ax.text(1.04, 0.5, "\n".join(lines), transform=ax.transAxes, va="center", fontsize=8, family="monospace")
    return ax


def heldout_grid(ax: plt.Axes | None = None) -> plt.Axes:
    """The 7×7 colour × shape table with the held-out classes marked."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4))
    table = np.array([[f"{c} {s}" in HELDOUT_CLASSES for s in SHAPES] for c in COLOUR_NAMES], dtype=float)
    ax.imshow(table, cmap=ListedColormap(["#d9ead3", "#e06666"]), vmin=0, vmax=1)
    ax.set_xticks(range(len(SHAPES)), SHAPES, rotation=45, ha="right")
    ax.set_yticks(range(len(COLOUR_NAMES)), COLOUR_NAMES)
    for i in range(len(COLOUR_NAMES)):
        for j in range(len(SHAPES)):
            ax.text(j, i, "held out" if table[i, j] else "seen", ha="center", va="center", fontsize=7)
    ax.set_title("colour × shape classes: seen vs held out")
    return ax


def plot_training(history_steps: np.ndarray, loss: np.ndarray, mi_bound: np.ndarray, batch_size: int, axes=None):
    """Loss and the InfoNCE bound on mutual information with its ceiling log k."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    axes[0].plot(history_steps, loss, lw=1)
    axes[0].set_xlabel("step")
    axes[0].set_ylabel("InfoNCE loss")
    axes[1].plot(history_steps, mi_bound, lw=1, label=r"$\log k - \mathcal{L}$")
    axes[1].axhline(np.log(batch_size), color="k", ls="--", lw=1, label=rf"$\log k$ = {np.log(batch_size):.2f} nats")
    axes[1].set_xlabel("step")
    axes[1].set_ylabel("MI lower bound (nats)")
    axes[1].legend(loc="lower right")
    return axes


def colorize_classes(class_map: np.ndarray) -> np.ndarray:
    """(H, W) class indices (0 … K − 1, ``IGNORE_INDEX`` for ignored) → picture in the semantic palette."""
    class_map = np.asarray(class_map).astype(np.int64)
    return colorize(np.where(class_map == IGNORE_INDEX, IGNORE_INDEX, class_map + 1))


def draw_patch_grid(ax: plt.Axes, image_size: int, patch_size: int, colour: str = "white", alpha: float = 0.35) -> None:
    """Thin lines on the patch boundaries of a ViT over an ``image_size`` picture."""
    for edge in np.arange(patch_size, image_size, patch_size) - 0.5:
        ax.axhline(edge, color=colour, lw=0.5, alpha=alpha)
        ax.axvline(edge, color=colour, lw=0.5, alpha=alpha)


def segmentation_grid(images: np.ndarray, columns: dict[str, np.ndarray], width: float = 1.9):
    """One row per image: the image, then one class-index map per named column (ground truth, predictions …).

    Maps smaller than the image (e.g. one label per patch) are drawn stretched over it.
    """
    rows, names = len(images), list(columns)
    fig, axes = plt.subplots(rows, 1 + len(names), figsize=((1 + len(names)) * width, rows * width), squeeze=False)
    size = images.shape[1]
    for row in range(rows):
        axes[row, 0].imshow(images[row])
        for col, name in enumerate(names, start=1):
            axes[row, col].imshow(colorize_classes(columns[name][row]), extent=(-0.5, size - 0.5, size - 0.5, -0.5),
                                  interpolation="nearest")
        for col, title in enumerate(["image"] + names):
            axes[row, col].set_xticks([])
            axes[row, col].set_yticks([])
            if row == 0:
                axes[row, col].set_title(title, fontsize=8)
    fig.tight_layout()
    return fig


def plot_roc_curves(curves: dict[str, tuple[np.ndarray, np.ndarray, float]], ax: plt.Axes | None = None, title: str = ""):
    """ROC curves ``{name: (fpr, tpr, auc)}`` with the chance diagonal."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    for name, (fpr, tpr, auc) in curves.items():
        ax.plot(np.asarray(fpr), np.asarray(tpr), lw=1.3, label=f"{name} ({auc:.2f})")
    ax.plot([0, 1], [0, 1], color="grey", ls=":", lw=1)
    ax.set_xlabel("false-positive rate")
    ax.set_ylabel("true-positive rate")
    ax.set_aspect("equal")
    ax.legend(fontsize=7, loc="lower right", title="encoder (AUC)", title_fontsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def overlay_maps(image: np.ndarray, maps: np.ndarray, titles: Sequence[str], *, cmap: str = "magma",
                 alpha: float = 0.6, width: float = 2.0, vmin: float | None = None, vmax: float | None = None,
                 fig_title: str = ""):
    """The image, then each (h, w) map (patch weights, similarities …) stretched over it, one panel per title."""
    import textwrap

    maps = np.asarray(maps)
    fig, axes = plt.subplots(1, 1 + len(maps), figsize=((1 + len(maps)) * width, width + 0.5), squeeze=False)
    size = image.shape[0]
    axes[0, 0].imshow(image)
    axes[0, 0].set_title("image", fontsize=8)
    for ax, heat, title in zip(axes[0, 1:], maps, titles):
        ax.imshow(image)
        ax.imshow(heat, cmap=cmap, alpha=alpha, extent=(-0.5, size - 0.5, size - 0.5, -0.5), interpolation="nearest",
                  vmin=vmin, vmax=vmax)
        ax.set_title("\n".join(textwrap.wrap(title, 22)), fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    if fig_title:
        fig.suptitle(fig_title, fontsize=9)
    fig.tight_layout()
    return fig


def dim_outside(image: np.ndarray, mask: np.ndarray, dim: float = 0.35) -> np.ndarray:
    """The image (H, W, 3) uint8 with the pixels outside the boolean ``mask`` (H, W) darkened to ``dim``."""
    shown = (image * dim).astype(np.uint8)
    shown[mask] = image[mask]
    return shown


def referring_grid(images: np.ndarray, texts: Sequence[str], targets: np.ndarray, columns: dict[str, np.ndarray],
                   width: float = 1.9):
    """One row per expression: the image with the referred object outlined, then each method's mask with its IoU.

    ``targets`` and every column are boolean masks (N, H, W); predictions are drawn over a dimmed image.
    """
    import textwrap

    rows, names = len(images), list(columns)
    ious = {name: mask_ious(torch.as_tensor(np.asarray(columns[name], dtype=bool)),
                            torch.as_tensor(np.asarray(targets, dtype=bool))) for name in names}  # (N,) each
    fig, axes = plt.subplots(rows, 1 + len(names), figsize=((1 + len(names)) * width, rows * (width + 0.25)),
                             squeeze=False)
    for row in range(rows):
        target = np.asarray(targets[row], dtype=bool)
        axes[row, 0].imshow(images[row], interpolation="nearest")  # the pixels as they are (and a smaller figure)
        axes[row, 0].contour(target, levels=[0.5], colors="white", linewidths=1.2)
        axes[row, 0].set_title("\n".join(textwrap.wrap(f"“{texts[row]}”", 24)), fontsize=7.5)
        for col, name in enumerate(names, start=1):
            axes[row, col].imshow(dim_outside(images[row], np.asarray(columns[name][row], dtype=bool)),
                                  interpolation="nearest")
            axes[row, col].contour(target, levels=[0.5], colors="white", linewidths=0.8)
            axes[row, col].set_title(f"{name}\nIoU {float(ious[name][row]):.2f}", fontsize=7.5)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig
