"""RefCOCO, RefCOCO+ and RefCOCOg: referring expressions on COCO photographs, in the official ``refer`` layout.

**Layout** (github.com/lichengunc/refer, its ``data`` folder is ``root``)::

    root/
      refcoco/refs(unc).p  refs(google).p  instances.json
      refcoco+/refs(unc).p                 instances.json
      refcocog/refs(umd).p refs(google).p  instances.json
      train2014/COCO_train2014_000000581857.jpg        # the COCO train2014 photographs; also accepted:
                                                       # root/images/train2014/, root/images/mscoco/images/train2014/

**refs file.** A pickle (written by Python 2's cPickle) of a list of *refs*, one per referred object::

    {"ref_id": 0, "ann_id": 1719310, "image_id": 581857, "split": "testB", "category_id": 1,
     "file_name": "COCO_train2014_000000581857_1719310.jpg",      # not a real file: it ends in the ann_id
     "sentences": [{"sent": "the lady with the blue shirt", "raw": "THE LADY with the blue shirt", ...}, ...]}

A pickle can run code while it loads, so we load refs files with :class:`RefsUnpickler`, which refuses
every global: a refs file holds only dicts, lists, strings and numbers, which need none.

**instances.json.** COCO's annotation file restricted to the data set's images: ``images`` (``id``,
``file_name``, ``height``, ``width``) and ``annotations`` (``id``, ``image_id``, ``segmentation``).
A ``segmentation`` is one of

* *polygons*: a list of flat ``[x1, y1, x2, y2, ...]`` lists in pixel coordinates, the object is their union;
* *uncompressed RLE*: ``{"counts": [5, 3, 7, ...], "size": [h, w]}``;
* *compressed RLE*: ``{"counts": "d1k0...", "size": [h, w]}``, the same run lengths written as text.

**Run-length encoding (RLE).** Read the mask column by column (column-major, "Fortran" order) and write
down the lengths of the runs, which alternate 0s and 1s and always start with a run of 0s (possibly of
length 0). The compressed form, COCO's ``rleToString``, stores each count as a little-endian sequence
of 5-bit chunks, one character per chunk (``chr(48 + chunk)``, bit 0x20 = "more chunks follow", bit 0x10
of the last chunk = sign). From the fourth count on it stores the difference to the count two places
back (the previous run of the same value), which is small and often negative.

Each item is one *sentence* (a ref has one or more): ``(image, mask, sentence, ref_id)`` with ``image``
uint8 (H, W, 3), ``mask`` bool (H, W), ``sentence`` the text and ``ref_id`` the ref's id.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any, Iterator, NamedTuple, Sequence

import numpy as np
from PIL import Image, ImageDraw
from torch.utils.data import Dataset

from vlseg.checks import check_path, check_positive_int

# The data sets and, for each, the split schemes ("split_by") that exist for it.
SPLITS_BY: dict[str, tuple[str, ...]] = {
    "refcoco": ("unc", "google"),
    "refcoco+": ("unc",),
    "refcocog": ("umd", "google"),
}
# Where the COCO train2014 photographs may lie, relative to root (the last is the refer repo's own layout).
IMAGE_FOLDERS: tuple[str, ...] = ("train2014", "images/train2014", "images/mscoco/images/train2014")
REF_KEYS: tuple[str, ...] = ("ref_id", "ann_id", "image_id", "split", "sentences")


class ReferringItem(NamedTuple):
    image: np.ndarray  # (H, W, 3) uint8
    mask: np.ndarray  # (H, W) bool, the referred object
    sentence: str
    ref_id: int


# ------------------------------------------------------------------------------------------------ masks


def counts_from_string(string: str | bytes) -> list[int]:
    """Run lengths from COCO's compressed RLE string (maskApi.c ``rleFrString``)."""
    text = string.decode("ascii") if isinstance(string, bytes) else string
    counts: list[int] = []
    position = 0
    while position < len(text):
        value, shift, more = 0, 0, True
        while more:
            if position >= len(text):
                raise ValueError(f"compressed RLE string {text!r} ends in the middle of a count")
            chunk = ord(text[position]) - 48  # each character carries 5 bits of the count, plus 2 flag bits
            if not 0 <= chunk < 64:
                raise ValueError(f"compressed RLE string has character {text[position]!r} at {position}; "
                                 "expected characters '0' to 'o' (ASCII 48 to 111)")
            value |= (chunk & 0x1F) << shift
            more = bool(chunk & 0x20)  # 0x20: another chunk follows
            position += 1
            shift += 5
            if not more and chunk & 0x10:  # 0x10 in the last chunk: the count is negative, extend the sign
                value |= -1 << shift
        if len(counts) > 2:  # from the fourth count on, stored as a difference to the count two back
            value += counts[-2]
        if value < 0:
            raise ValueError(f"compressed RLE string {text!r} decodes to a negative run length ({value})")
        counts.append(value)
    return counts


def rle_size(rle: Any) -> tuple[int, int]:
    """``(height, width)`` of an RLE dict, checked."""
    if not isinstance(rle, dict) or "counts" not in rle or "size" not in rle:
        raise TypeError(f"rle must be a dict with 'counts' and 'size' ([height, width]); got {rle!r:.200}")
    size = rle["size"]
    if not isinstance(size, (list, tuple)) or len(size) != 2:
        raise ValueError(f"rle['size'] must be [height, width]; got {size!r}")
    return check_positive_int(size[0], "rle['size'][0] (height)"), check_positive_int(size[1], "rle['size'][1] (width)")


def decode_rle(rle: dict) -> np.ndarray:
    """A COCO RLE dict (compressed string or uncompressed list ``counts``) → bool mask (h, w)."""
    height, width = rle_size(rle)
    counts = rle["counts"]
    if isinstance(counts, (str, bytes)):
        counts = counts_from_string(counts)
    elif isinstance(counts, (list, tuple)):
        if not all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) and c >= 0 for c in counts):
            raise ValueError(f"rle['counts'] must hold non-negative integers; got {list(counts)[:10]!r}…")
    else:
        raise TypeError(f"rle['counts'] must be a str (compressed RLE) or a list of ints; got a "
                        f"{type(counts).__name__}")
    if sum(counts) != height * width:
        raise ValueError(f"rle['counts'] add up to {sum(counts)} pixels but rle['size'] {[height, width]} has "
                         f"{height * width}")
    run_values = np.arange(len(counts)) % 2 == 1  # runs alternate 0, 1, 0, 1, … starting with 0s
    column_major = np.repeat(run_values, counts)  # (h * w,) the mask read column by column
    return np.ascontiguousarray(column_major.reshape((height, width), order="F"))  # (h, w) bool


def polygons_to_mask(polygons: Sequence[Sequence[float]], height: int, width: int) -> np.ndarray:
    """The union of COCO polygons (flat ``[x1, y1, x2, y2, ...]`` lists) as a bool mask (height, width).

    Rasterised with ``PIL.ImageDraw.polygon``, which fills the pixels whose centres (integer
    coordinates) lie inside or on the outline: a rectangle with corners (2, 3) and (7, 8) covers
    columns 2..7 and rows 3..8. pycocotools rasterises slightly differently at the boundary (about a
    one-pixel band along the outline can differ), so IoUs can differ a little from its masks.
    """
    height, width = check_positive_int(height, "height"), check_positive_int(width, "width")
    if not isinstance(polygons, (list, tuple)) or not polygons:
        raise TypeError(f"polygons must be a non-empty list of flat [x1, y1, x2, y2, ...] lists; got {polygons!r:.200}")
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    for number, polygon in enumerate(polygons):
        if (not isinstance(polygon, (list, tuple)) or len(polygon) < 4 or len(polygon) % 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in polygon)):
            raise ValueError(f"polygons[{number}] must be a flat list of an even number (>= 4) of coordinates "
                             f"[x1, y1, x2, y2, ...]; got {polygon!r:.200}")
        points = [(float(x), float(y)) for x, y in zip(polygon[0::2], polygon[1::2])]
        draw.polygon(points, fill=1, outline=1)
    return np.array(canvas).astype(bool)  # (height, width)


def segmentation_to_mask(segmentation: Any, height: int, width: int) -> np.ndarray:
    """Any COCO ``segmentation`` (polygons, uncompressed or compressed RLE) → bool (height, width)."""
    if isinstance(segmentation, dict):
        return decode_rle(segmentation)
    return polygons_to_mask(segmentation, height, width)


# ------------------------------------------------------------------------------------------------ refs


class RefsUnpickler(pickle.Unpickler):
    """A pickle reader that refuses every global, so that loading a refs file cannot run code.

    Plain dicts, lists, tuples, strings, numbers, booleans and None are built by pickle opcodes of their
    own; only other objects (and functions a malicious file wants to call, such as ``os.system``) are
    looked up as globals through :meth:`find_class`, which here always refuses.
    """

    def __init__(self, file: Any, path: Path) -> None:
        super().__init__(file, encoding="latin1")  # Python 2 byte strings → str
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(
            f"refs file {self.path} asks for the global {module}.{name}; refused: a refs file holds only plain "
            "containers (dicts, lists, strings, numbers) and needs no globals. This file is not a genuine refs "
            "file (it may try to run code); do not load it with plain pickle"
        )


def check_refs(refs: Any, path: Path) -> list[dict]:
    """A refs file's content: a list of dicts with ref_id, ann_id, image_id, split and sentences."""
    if not isinstance(refs, list):
        raise ValueError(f"refs file {path} holds a {type(refs).__name__}; expected a list of refs (dicts)")
    for number, ref in enumerate(refs):
        if not isinstance(ref, dict) or any(key not in ref for key in REF_KEYS):
            got = sorted(ref) if isinstance(ref, dict) else type(ref).__name__
            raise ValueError(f"refs file {path}: entry {number} must be a dict with keys {list(REF_KEYS)}; got {got}")
        sentences = ref["sentences"]
        if not isinstance(sentences, list) or not sentences:
            raise ValueError(f"refs file {path}: ref_id {ref['ref_id']} has sentences {sentences!r:.100}; "
                             "expected a non-empty list of dicts with 'sent' (or 'raw')")
        for sentence in sentences:
            if not isinstance(sentence_text(sentence), str):
                raise ValueError(f"refs file {path}: ref_id {ref['ref_id']} has a sentence {sentence!r:.100} "
                                 "without text; expected a dict with 'sent' (or 'raw') a str")
    return refs


def sentence_text(sentence: Any) -> str | None:
    """The text of a sentence dict: ``sent`` (lower-cased, tokenised), else ``raw``."""
    if not isinstance(sentence, dict):
        return None
    return sentence.get("sent") or sentence.get("raw")


def load_refs(path: Path) -> list[dict]:
    """Read and check a refs pickle with :class:`RefsUnpickler`."""
    if not path.is_file():
        raise FileNotFoundError(f"refs file {path} not found")
    with open(path, "rb") as file:
        try:
            refs = RefsUnpickler(file, path).load()
        except pickle.UnpicklingError:
            raise
        except Exception as error:  # truncated or not a pickle at all
            raise pickle.UnpicklingError(f"refs file {path} is not a readable pickle: "
                                         f"{type(error).__name__}: {error}") from error
    return check_refs(refs, path)


def load_instances(path: Path) -> tuple[dict[int, dict], dict[int, dict]]:
    """instances.json → (image entries by image id, annotations by annotation id)."""
    if not path.is_file():
        raise FileNotFoundError(f"instances file {path} not found")
    with open(path) as file:
        try:
            instances = json.load(file)
        except json.JSONDecodeError as error:
            raise ValueError(f"instances file {path} is not valid JSON: {error}") from error
    if not isinstance(instances, dict) or not all(isinstance(instances.get(key), list)
                                                  for key in ("images", "annotations")):
        raise ValueError(f"instances file {path} must be a JSON object with 'images' and 'annotations' lists")
    images = {image["id"]: image for image in instances["images"]}
    annotations = {annotation["id"]: annotation for annotation in instances["annotations"]}
    return images, annotations


def find_image_folder(root: Path, image_root: str | os.PathLike | None) -> Path:
    """``image_root`` if given, else the first of :data:`IMAGE_FOLDERS` under ``root`` that exists."""
    if image_root is not None:
        folder = Path(check_path(image_root, "image_root"))
        if not folder.is_dir():
            raise FileNotFoundError(f"image_root {folder} does not exist or is not a folder")
        return folder
    for relative in IMAGE_FOLDERS:
        if (root / relative).is_dir():
            return root / relative
    tried = ", ".join(str(root / relative) for relative in IMAGE_FOLDERS)
    raise FileNotFoundError(f"no COCO train2014 image folder under {root}; tried {tried} (or pass image_root=)")


# ------------------------------------------------------------------------------------------------ data set


class RefCOCO(Dataset):
    """RefCOCO / RefCOCO+ / RefCOCOg as a map-style data set with one item per sentence.

    Item ``i`` is a :class:`ReferringItem` ``(image, mask, sentence, ref_id)``: uint8 (H, W, 3),
    bool (H, W), str, int. Everything that names a file or an id is checked when the data set is made
    (the refs, their annotations and images in instances.json, the image files); pixels are read lazily.
    """

    def __init__(self, root: str | os.PathLike, dataset: str = "refcoco", split_by: str = "unc", split: str = "val",
                 image_root: str | os.PathLike | None = None) -> None:
        root = Path(check_path(root, "root"))
        if dataset not in SPLITS_BY or split_by not in SPLITS_BY[dataset]:
            valid = "; ".join(f"dataset={name!r} with split_by in {list(schemes)}"
                              for name, schemes in SPLITS_BY.items())
            raise ValueError(f"unknown combination dataset={dataset!r}, split_by={split_by!r}; valid: {valid}")
        if not root.is_dir():
            raise FileNotFoundError(f"RefCOCO root {root} does not exist or is not a folder")
        folder = root / dataset
        if not folder.is_dir():
            raise FileNotFoundError(f"no {dataset} folder {folder} under RefCOCO root {root} (expected the refer "
                                    f"layout root/{dataset}/refs({split_by}).p and root/{dataset}/instances.json)")
        self.dataset, self.split_by, self.split = dataset, split_by, split
        self.refs_path = folder / f"refs({split_by}).p"
        self.instances_path = folder / "instances.json"
        all_refs = load_refs(self.refs_path)
        splits = sorted({ref["split"] for ref in all_refs})
        if split not in splits:
            raise ValueError(f"unknown split {split!r} for {dataset} ({split_by}); {self.refs_path} has splits "
                             f"{splits}")
        self.refs = [ref for ref in all_refs if ref["split"] == split]
        images, annotations = load_instances(self.instances_path)
        self.images, self.annotations = self._entries_of_refs(images, annotations)
        self.image_folder = find_image_folder(root, image_root)
        self._check_image_files()
        # one item per sentence: (position of the ref in self.refs, its sentence text)
        self.items: list[tuple[int, str]] = [(position, sentence_text(sentence))
                                             for position, ref in enumerate(self.refs) for sentence in ref["sentences"]]

    def _entries_of_refs(self, images: dict[int, dict], annotations: dict[int, dict]
                         ) -> tuple[dict[int, dict], dict[int, dict]]:
        """Keep only the split's image and annotation entries, checking that every ref finds its own."""
        kept_images, kept_annotations = {}, {}
        for ref in self.refs:
            if ref["ann_id"] not in annotations:
                raise KeyError(f"ref_id {ref['ref_id']} of {self.refs_path} names ann_id {ref['ann_id']}, which is "
                               f"not among the annotations of {self.instances_path}")
            if ref["image_id"] not in images:
                raise KeyError(f"ref_id {ref['ref_id']} of {self.refs_path} names image_id {ref['image_id']}, which "
                               f"is not among the images of {self.instances_path}")
            annotation = annotations[ref["ann_id"]]
            if annotation.get("image_id") != ref["image_id"]:
                raise ValueError(f"ref_id {ref['ref_id']} of {self.refs_path} is on image_id {ref['image_id']} but "
                                 f"its annotation {ref['ann_id']} in {self.instances_path} is on image_id "
                                 f"{annotation.get('image_id')}")
            kept_annotations[ref["ann_id"]] = annotation
            kept_images[ref["image_id"]] = images[ref["image_id"]]
        return kept_images, kept_annotations

    def _check_image_files(self) -> None:
        missing = [path for path in map(self.image_path, self.images) if not path.is_file()]
        if missing:
            shown = ", ".join(str(path) for path in missing[:3]) + (" …" if len(missing) > 3 else "")
            raise FileNotFoundError(f"{len(missing)} image files of {self.dataset} split {self.split!r} "
                                    f"(named in {self.instances_path}) are missing: {shown}")

    def image_path(self, image_id: int) -> Path:
        """The photograph of ``image_id``, named by instances.json (the refs' own file_name is not a file)."""
        return self.image_folder / self.images[image_id]["file_name"]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> ReferringItem:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"index must be an integer; got a {type(index).__name__} ({index!r})")
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for the {len(self)} sentences of {self.dataset} "
                             f"split {self.split!r}")
        position, sentence = self.items[index]
        ref = self.refs[position]
        path = self.image_path(ref["image_id"])
        with Image.open(path) as photo:
            image = np.array(photo.convert("RGB"))  # (H, W, 3) uint8
        return ReferringItem(image, self._mask(ref, path, image.shape[:2]), sentence, int(ref["ref_id"]))

    def _mask(self, ref: dict, path: Path, image_size: tuple[int, int]) -> np.ndarray:
        """The ref's annotation as a bool (H, W) mask, checked against the photograph's actual size."""
        entry = self.images[ref["image_id"]]
        listed = (entry.get("height"), entry.get("width"))
        if listed != image_size:
            raise ValueError(f"{self.instances_path} gives image_id {ref['image_id']} height×width {listed[0]}×"
                             f"{listed[1]} but {path} is {image_size[0]}×{image_size[1]}")
        segmentation = self.annotations[ref["ann_id"]].get("segmentation")
        try:
            mask = segmentation_to_mask(segmentation, *image_size)  # (H, W)
        except (TypeError, ValueError) as error:
            raise ValueError(f"annotation {ref['ann_id']} in {self.instances_path}: {error}") from error
        if mask.shape != image_size:
            raise ValueError(f"annotation {ref['ann_id']} in {self.instances_path} has an RLE mask of height×width "
                             f"{mask.shape[0]}×{mask.shape[1]} but its image {path} is "
                             f"{image_size[0]}×{image_size[1]}")
        return mask

    def __iter__(self) -> Iterator[ReferringItem]:
        for index in range(len(self)):
            yield self[index]

    def __repr__(self) -> str:
        return (f"RefCOCO({self.dataset!r}, split_by={self.split_by!r}, split={self.split!r}: {len(self.refs)} refs, "
                f"{len(self)} sentences)")
