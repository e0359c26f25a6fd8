"""PASCAL VOC 2012 semantic segmentation, read from the folders as they are distributed.

**Layout.** The VOC2012 archive unpacks to::

    VOCdevkit/
      VOC2012/
        JPEGImages/2007_000033.jpg            # the photographs (RGB JPEG)
        SegmentationClass/2007_000033.png     # the labels (palette PNG, one index per pixel)
        ImageSets/Segmentation/train.txt      # one image id per line (1464 ids)
        ImageSets/Segmentation/val.txt        # (1449 ids)

``root`` may be the ``VOCdevkit`` folder, the ``VOC2012`` folder inside it, or the folder that holds
``VOCdevkit``.

**Labels.** A label PNG is a *palette* image (PIL mode ``"P"``): each pixel stores an index, and the
palette only says how to draw it (index ``i`` gets the colour built from the bits of ``i``). We read
the indices, never the colours: ``np.array(Image.open(path))`` of a mode-``"P"`` image gives them.
Plain index PNGs (mode ``"L"``) are accepted too. The indices are

* ``0`` – background,
* ``1``–``20`` – the classes of :data:`CLASS_NAMES`, in that order,
* ``255`` – :data:`VOID`, the uncertain band drawn around every object's outline (never scored).

**Two protocols.**

* *VOC-20* (``background=False``, what PACL reports): background is not a class. Its pixels become
  void (255) and the classes shift down to ``0``–``19``, so label ``k`` means ``CLASS_NAMES[k]``.
* *VOC-21* (``background=True``): ``0`` is background and ``1``–``20`` the classes, as stored;
  :attr:`VOCSegmentation.class_names` then starts with ``"background"``.

Each item is ``(image, label)``: ``image`` a uint8 numpy array (H, W, 3), ``label`` an int64 numpy
array (H, W) in the chosen protocol.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from vlseg.checks import check_path

CLASS_NAMES: tuple[str, ...] = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)
# The same classes, spelt for text prompts ("a photo of a dining table").
PROMPT_NAMES: tuple[str, ...] = tuple(
    {"diningtable": "dining table", "pottedplant": "potted plant", "tvmonitor": "tv monitor"}.get(name, name)
    for name in CLASS_NAMES
)
BACKGROUND = 0
VOID = 255
NUM_CLASSES = len(CLASS_NAMES)  # 20

ACCEPTED_LAYOUTS = ("<root>/JPEGImages (root is VOC2012)", "<root>/VOC2012 (root is VOCdevkit)",
                    "<root>/VOCdevkit/VOC2012 (root holds VOCdevkit)")
LABEL_MODES = ("P", "L")  # palette PNG (as distributed) or a plain 8-bit index PNG


def find_voc2012(root: str | os.PathLike) -> Path:
    """The ``VOC2012`` folder for ``root`` = ``VOC2012``, ``VOCdevkit`` or the parent of ``VOCdevkit``."""
    root = Path(check_path(root, "root"))
    if not root.is_dir():
        raise FileNotFoundError(f"VOC root {root} does not exist or is not a folder")
    for candidate in (root, root / "VOC2012", root / "VOCdevkit" / "VOC2012"):
        if (candidate / "JPEGImages").is_dir() and (candidate / "SegmentationClass").is_dir():
            return candidate
    raise FileNotFoundError(
        f"no VOC2012 folder (with JPEGImages/ and SegmentationClass/) found under VOC root {root}; "
        f"accepted layouts: {', '.join(ACCEPTED_LAYOUTS)}"
    )


def available_splits(voc2012: Path) -> list[str]:
    """The split names with a list file in ``ImageSets/Segmentation`` (usually train, trainval, val)."""
    folder = voc2012 / "ImageSets" / "Segmentation"
    return sorted(path.stem for path in folder.glob("*.txt")) if folder.is_dir() else []


def read_split(voc2012: Path, split: str) -> list[str]:
    """The image ids listed in ``ImageSets/Segmentation/<split>.txt``, one per line."""
    if not isinstance(split, str):
        raise TypeError(f"split must be a str such as 'val'; got a {type(split).__name__} ({split!r})")
    path = voc2012 / "ImageSets" / "Segmentation" / f"{split}.txt"
    if not path.is_file():
        found = available_splits(voc2012)
        raise FileNotFoundError(
            f"unknown VOC split {split!r}: no split file {path}; the splits found in "
            f"{path.parent} are {found if found else 'none (the folder is missing or empty)'}"
        )
    ids = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not ids:
        raise ValueError(f"VOC split file {path} lists no image ids")
    return ids


def check_files_exist(paths: list[Path], what: str, split_file: Path) -> None:
    missing = [path for path in paths if not path.is_file()]
    if missing:
        shown = ", ".join(str(path) for path in missing[:3]) + (" …" if len(missing) > 3 else "")
        raise FileNotFoundError(f"{len(missing)} {what} listed in {split_file} are missing: {shown}")


def read_image(path: Path) -> np.ndarray:
    """An RGB photograph as uint8 (H, W, 3)."""
    with Image.open(path) as image:
        return np.array(image.convert("RGB"))  # (H, W, 3) uint8


def read_label_indices(path: Path) -> np.ndarray:
    """The raw class indices of a label PNG as uint8 (H, W), checked to lie in {0..20, 255}."""
    with Image.open(path) as label:
        if label.mode not in LABEL_MODES:
            raise ValueError(f"VOC label {path} has PIL mode {label.mode!r}; expected a palette PNG (mode 'P') "
                             "or an index PNG (mode 'L') that stores class indices, not colours")
        indices = np.array(label)  # (H, W) uint8: palette indices, not RGB
    values = np.unique(indices)
    bad = values[(values > NUM_CLASSES) & (values != VOID)]
    if bad.size:
        raise ValueError(f"VOC label {path} holds values {bad.tolist()}; expected 0 (background), "
                         f"1..{NUM_CLASSES} (classes) or {VOID} (void)")
    return indices


def to_protocol(indices: np.ndarray, background: bool) -> np.ndarray:
    """Raw indices (H, W) → int64 labels: VOC-21 keeps them, VOC-20 voids background and shifts classes to 0..19."""
    labels = indices.astype(np.int64)  # (H, W)
    if background:
        return labels
    void = (labels == BACKGROUND) | (labels == VOID)
    return np.where(void, VOID, labels - 1)


class VOCSegmentation(Dataset):
    """PASCAL VOC 2012 segmentation as a map-style data set: item ``i`` is ``(image, label)``.

    ``image`` is uint8 (H, W, 3); ``label`` is int64 (H, W) with 255 for void, and either the 20 classes
    as 0..19 (``background=False``, VOC-20) or background 0 and the classes 1..20 (``background=True``,
    VOC-21). All listed files are checked to exist when the data set is made; pixels are read lazily.
    """

    def __init__(self, root: str | os.PathLike, split: str = "val", background: bool = False) -> None:
        if not isinstance(background, bool):
            raise TypeError(f"background must be True (VOC-21) or False (VOC-20); got {background!r}")
        self.voc2012 = find_voc2012(root)
        self.split = split
        self.background = background
        self.ids = read_split(self.voc2012, split)
        split_file = self.voc2012 / "ImageSets" / "Segmentation" / f"{split}.txt"
        self.image_paths = [self.voc2012 / "JPEGImages" / f"{image_id}.jpg" for image_id in self.ids]
        self.label_paths = [self.voc2012 / "SegmentationClass" / f"{image_id}.png" for image_id in self.ids]
        check_files_exist(self.image_paths, "images (JPEGImages/<id>.jpg)", split_file)
        check_files_exist(self.label_paths, "labels (SegmentationClass/<id>.png)", split_file)

    @property
    def class_names(self) -> tuple[str, ...]:
        """The name of each label value: 20 classes (VOC-20) or ``"background"`` and the 20 classes (VOC-21)."""
        return ("background",) + CLASS_NAMES if self.background else CLASS_NAMES

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"index must be an integer; got a {type(index).__name__} ({index!r})")
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for the {len(self)} images of VOC split {self.split!r}")
        image_path, label_path = self.image_paths[index], self.label_paths[index]
        image = read_image(image_path)  # (H, W, 3) uint8
        indices = read_label_indices(label_path)  # (H, W) uint8
        if indices.shape != image.shape[:2]:
            raise ValueError(f"VOC label {label_path} is {indices.shape[1]}×{indices.shape[0]} (W×H) but its image "
                             f"{image_path} is {image.shape[1]}×{image.shape[0]}; they must match")
        return image, to_protocol(indices, self.background)  # (H, W, 3), (H, W)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for index in range(len(self)):
            yield self[index]

    def __repr__(self) -> str:
        protocol = "VOC-21" if self.background else "VOC-20"
        return f"VOCSegmentation({str(self.voc2012)!r}, split={self.split!r}, {protocol}, {len(self)} images)"
