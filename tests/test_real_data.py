"""Real-data loaders (PASCAL VOC 2012, RefCOCO/+/g) on tiny fixtures written in exactly the distributed formats."""

from __future__ import annotations

import json
import os
import pickle
import pickletools
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vlseg.data import VOC_CLASS_NAMES, RefCOCO, VOCSegmentation, decode_rle, open_dataset, polygons_to_mask
from vlseg.data.voc import CLASS_NAMES, PROMPT_NAMES, VOID


def names(path: Path) -> str:
    """A ``match=`` pattern for a message that names ``path``."""
    return re.escape(str(path))


# ------------------------------------------------------------------------------------------------ VOC fixtures


def voc_palette() -> list[int]:
    """The standard VOC (bitmap) palette: the colour of index i comes from the bits of i."""
    palette = []
    for index in range(256):
        red = green = blue = 0
        bits = index
        for shift in range(7, -1, -1):
            red |= (bits & 1) << shift
            green |= ((bits >> 1) & 1) << shift
            blue |= ((bits >> 2) & 1) << shift
            bits >>= 3
        palette += [red, green, blue]
    return palette


def test_voc_palette_is_the_real_one():
    palette = voc_palette()
    assert palette[3:6] == [128, 0, 0] and palette[15 * 3:15 * 3 + 3] == [192, 128, 128]  # aeroplane, person
    assert palette[255 * 3:] == [224, 224, 192]  # void


def gradient_image(height: int, width: int) -> np.ndarray:
    rows, cols = np.mgrid[0:height, 0:width]
    return np.stack([cols * 5, rows * 4, np.full_like(rows, 128)], axis=-1).astype(np.uint8)  # (H, W, 3)


def raw_label_a() -> np.ndarray:
    """30×40: a bottle (5) with its void border, on background."""
    label = np.zeros((30, 40), np.uint8)
    label[4:16, 6:20] = VOID
    label[5:15, 7:19] = 5
    return label


def raw_label_b() -> np.ndarray:
    """47×33: a person (15) and a tv monitor (20), each with a void border."""
    label = np.zeros((47, 33), np.uint8)
    label[2:30, 3:15] = VOID
    label[3:29, 4:14] = 15
    label[30:45, 18:32] = VOID
    label[31:44, 19:31] = 20
    return label


VOC_IDS = ("2007_000032", "2008_000123")


def save_palette_png(indices: np.ndarray, path: Path) -> None:
    label = Image.fromarray(indices)  # mode "L"
    label.putpalette(voc_palette())  # → mode "P", the indices unchanged
    assert label.mode == "P"
    label.save(path)


def make_voc(base: Path, label_mode: str = "P") -> Path:
    """``base/VOCdevkit/VOC2012`` with two images; returns the VOC2012 folder."""
    voc = base / "VOCdevkit" / "VOC2012"
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (voc / sub).mkdir(parents=True)
    for image_id, label in zip(VOC_IDS, (raw_label_a(), raw_label_b())):
        Image.fromarray(gradient_image(*label.shape)).save(voc / "JPEGImages" / f"{image_id}.jpg", quality=95)
        if label_mode == "P":
            save_palette_png(label, voc / "SegmentationClass" / f"{image_id}.png")
        else:
            Image.fromarray(label).save(voc / "SegmentationClass" / f"{image_id}.png")
    split_dir = voc / "ImageSets" / "Segmentation"
    (split_dir / "train.txt").write_text(f"{VOC_IDS[0]}\n")
    (split_dir / "val.txt").write_text(f"{VOC_IDS[1]}\n")
    (split_dir / "trainval.txt").write_text(f"{VOC_IDS[0]}\n{VOC_IDS[1]}\n")
    return voc


@pytest.fixture
def voc(tmp_path) -> Path:
    return make_voc(tmp_path)


def expected_voc20(raw: np.ndarray) -> np.ndarray:
    return np.where((raw == 0) | (raw == VOID), VOID, raw.astype(np.int64) - 1)


def test_class_names():
    assert len(CLASS_NAMES) == 20 and CLASS_NAMES[0] == "aeroplane" and CLASS_NAMES[-1] == "tvmonitor"
    assert CLASS_NAMES[14] == "person" and VOC_CLASS_NAMES == CLASS_NAMES
    assert (PROMPT_NAMES[10], PROMPT_NAMES[15], PROMPT_NAMES[19]) == ("dining table", "potted plant", "tv monitor")
    assert [p for p, c in zip(PROMPT_NAMES, CLASS_NAMES) if p != c] == ["dining table", "potted plant", "tv monitor"]


def test_voc20_items(voc):
    data = VOCSegmentation(voc, split="trainval")
    assert len(data) == 2 and data.class_names == CLASS_NAMES and data.num_classes == 20
    for (image, label), raw in zip(data, (raw_label_a(), raw_label_b())):
        assert image.dtype == np.uint8 and image.shape == raw.shape + (3,)
        assert np.abs(image.astype(int) - gradient_image(*raw.shape)).mean() < 4, "RGB, not transposed or swapped"
        assert label.dtype == np.int64 and label.shape == raw.shape
        assert np.array_equal(label, expected_voc20(raw))
    _, label = data[0]
    assert set(np.unique(label)) == {4, VOID}, "bottle (raw 5) becomes 4; background joins void"
    _, label = data[1]
    assert set(np.unique(label)) == {14, 19, VOID} and data.class_names[14] == "person"


def test_voc21_items(voc):
    data = VOCSegmentation(voc, split="trainval", background=True)
    assert data.class_names == ("background",) + CLASS_NAMES and len(data.class_names) == 21
    for (_, label), raw in zip(data, (raw_label_a(), raw_label_b())):
        assert label.dtype == np.int64 and np.array_equal(label, raw.astype(np.int64))
    assert set(np.unique(data[1][1])) == {0, 15, 20, VOID}


def test_voc_splits_and_indexing(voc):
    train, val = VOCSegmentation(voc, "train"), VOCSegmentation(voc, "val")
    assert train.ids == [VOC_IDS[0]] and val.ids == [VOC_IDS[1]] and len(train) == len(val) == 1
    assert val[0][0].shape == (47, 33, 3) and train[-1][0].shape == (30, 40, 3)
    with pytest.raises(IndexError, match="out of range"):
        val[1]


def test_voc_root_forms(voc):
    for root in (voc, voc.parent, voc.parent.parent, str(voc.parent)):
        data = VOCSegmentation(root, "val")
        assert data.voc2012 == voc and np.array_equal(data[0][1], expected_voc20(raw_label_b()))


def test_voc_mode_l_labels(tmp_path):
    voc = make_voc(tmp_path, label_mode="L")
    assert Image.open(voc / "SegmentationClass" / f"{VOC_IDS[1]}.png").mode == "L"
    assert np.array_equal(VOCSegmentation(voc, "val")[0][1], expected_voc20(raw_label_b()))


def test_voc_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError, match=names(tmp_path / "nowhere")):
        VOCSegmentation(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=names(tmp_path / "empty")) as error:
        VOCSegmentation(tmp_path / "empty")
    assert "VOCdevkit/VOC2012" in str(error.value) and "accepted layouts" in str(error.value)
    with pytest.raises(TypeError, match="root"):
        VOCSegmentation(None)


def test_voc_unknown_split_lists_found(voc):
    with pytest.raises(FileNotFoundError, match=names(voc / "ImageSets" / "Segmentation" / "test.txt")) as error:
        VOCSegmentation(voc, "test")
    assert "'test'" in str(error.value) and "['train', 'trainval', 'val']" in str(error.value)
    (voc / "ImageSets" / "Segmentation" / "val.txt").unlink()
    with pytest.raises(FileNotFoundError, match=names(voc / "ImageSets" / "Segmentation" / "val.txt")):
        VOCSegmentation(voc, "val")
    with pytest.raises(TypeError, match="split"):
        VOCSegmentation(voc, 1)
    with pytest.raises(TypeError, match="background"):
        VOCSegmentation(voc, "train", background="yes")


def test_voc_missing_image_or_label(voc):
    (voc / "ImageSets" / "Segmentation" / "val.txt").write_text(f"{VOC_IDS[1]}\n2099_999999\n")
    with pytest.raises(FileNotFoundError, match=names(voc / "JPEGImages" / "2099_999999.jpg")):
        VOCSegmentation(voc, "val")
    (voc / "SegmentationClass" / f"{VOC_IDS[0]}.png").unlink()
    with pytest.raises(FileNotFoundError, match=names(voc / "SegmentationClass" / f"{VOC_IDS[0]}.png")):
        VOCSegmentation(voc, "train")


def test_voc_label_size_mismatch(voc):
    label_path = voc / "SegmentationClass" / f"{VOC_IDS[1]}.png"
    save_palette_png(np.zeros((46, 33), np.uint8), label_path)
    with pytest.raises(ValueError, match=names(label_path)) as error:
        VOCSegmentation(voc, "val")[0]
    message = str(error.value)
    assert str(voc / "JPEGImages" / f"{VOC_IDS[1]}.jpg") in message and "33×46" in message and "33×47" in message


def test_voc_bad_label_mode_or_values(voc):
    label_path = voc / "SegmentationClass" / f"{VOC_IDS[1]}.png"
    Image.fromarray(np.zeros((47, 33, 3), np.uint8)).save(label_path)  # an RGB (colour) label
    with pytest.raises(ValueError, match=names(label_path)) as error:
        VOCSegmentation(voc, "val")[0]
    assert "'RGB'" in str(error.value)
    bad = raw_label_b()
    bad[0, 0], bad[1, 1] = 21, 100
    save_palette_png(bad, label_path)
    with pytest.raises(ValueError, match=names(label_path)) as error:
        VOCSegmentation(voc, "val")[0]
    assert "[21, 100]" in str(error.value)


# ------------------------------------------------------------------------------------------------ RLE


def mask_to_counts(mask: np.ndarray) -> list[int]:
    """Run lengths of a mask read column by column, starting with a run of 0s."""
    counts, current, run = [], False, 0
    for value in mask.flatten(order="F"):
        if bool(value) != current:
            counts.append(run)
            current, run = bool(value), 0
        run += 1
    return counts + [run]


def encode_counts(counts: list[int]) -> str:
    """COCO's ``rleToString`` (maskApi.c), written independently of the library's decoder."""
    chars = []
    for i, count in enumerate(counts):
        x = count - counts[i - 2] if i > 2 else count
        more = True
        while more:
            chunk = x & 0x1F
            x >>= 5  # arithmetic shift, like C's on a long
            more = x != -1 if chunk & 0x10 else x != 0
            if more:
                chunk |= 0x20
            chars.append(chr(chunk + 48))
    return "".join(chars)


def test_rle_hand_computed_string():
    # counts 0, 50, 3, 5: '0'; 50 = 18 + 1·32 → 'b' (18|0x20) then '1'; '3'; 5 - 50 = -45 → 'c' 'N'
    assert encode_counts([0, 50, 3, 5]) == "0b13cN"
    mask = decode_rle({"counts": "0b13cN", "size": [2, 29]})
    flat = np.zeros(58, bool)
    flat[0:50] = flat[53:58] = True
    assert mask.dtype == bool and mask.shape == (2, 29)
    assert np.array_equal(mask, flat.reshape(2, 29, order="F"))
    # 40 = 8 + 1·32 → 'X' '1'; column-major: the last two pixels are the bottom of the last column
    mask = decode_rle({"counts": "X12", "size": [6, 7]})
    assert np.argwhere(mask).tolist() == [[4, 6], [5, 6]]
    assert np.array_equal(decode_rle({"counts": b"123O", "size": [7, 1]})[:, 0], [0, 1, 1, 0, 0, 0, 1])


def blob_mask(height: int, width: int, seed: int) -> np.ndarray:
    rows, cols = np.mgrid[0:height, 0:width]
    blob = (rows - height / 2) ** 2 / (height / 3) ** 2 + (cols - width / 2.5) ** 2 / (width / 3) ** 2 < 1
    noise = np.random.default_rng(seed).random((height, width)) < 0.1
    return blob ^ noise  # (H, W): long runs and short ones, deltas of both signs


def test_rle_round_trip():
    for seed, (height, width) in enumerate([(20, 25), (31, 17), (1, 1), (64, 3)]):
        mask = blob_mask(height, width, seed)
        counts = mask_to_counts(mask)
        assert np.array_equal(decode_rle({"counts": encode_counts(counts), "size": [height, width]}), mask)
        assert np.array_equal(decode_rle({"counts": counts, "size": [height, width]}), mask)
    assert not decode_rle({"counts": [6], "size": [2, 3]}).any()


def test_rle_bad_input():
    with pytest.raises(ValueError, match="add up to 5"):
        decode_rle({"counts": [2, 3], "size": [2, 3]})
    with pytest.raises(ValueError, match="character"):
        decode_rle({"counts": "12~", "size": [2, 3]})
    with pytest.raises(ValueError, match="ends in the middle"):
        decode_rle({"counts": "b", "size": [2, 3]})
    with pytest.raises(TypeError, match="size"):
        decode_rle({"counts": [6]})
    with pytest.raises(ValueError, match="size"):
        decode_rle({"counts": [6], "size": [6]})


def test_polygons_to_mask():
    mask = polygons_to_mask([[2, 3, 7, 3, 7, 8, 2, 8]], 10, 12)
    expected = np.zeros((10, 12), bool)
    expected[3:9, 2:8] = True  # PIL fills the outline too: columns 2..7, rows 3..8
    assert mask.dtype == bool and np.array_equal(mask, expected)
    union = polygons_to_mask([[2, 3, 7, 3, 7, 8, 2, 8], [9.0, 0.0, 11.0, 0.0, 11.0, 1.0, 9.0, 1.0]], 10, 12)
    expected[0:2, 9:12] = True
    assert np.array_equal(union, expected)
    with pytest.raises(ValueError, match=r"polygons\[0\]"):
        polygons_to_mask([[1, 2, 3]], 10, 12)
    with pytest.raises(TypeError, match="polygons"):
        polygons_to_mask([], 10, 12)
    with pytest.raises(ValueError, match="height"):
        polygons_to_mask([[2, 3, 7, 3, 7, 8]], 0, 12)


# ------------------------------------------------------------------------------------------------ RefCOCO fixtures

# image id → (height, width)
COCO_IMAGES = {1: (30, 40), 2: (20, 25)}
RECTANGLE = [5, 6, 20, 6, 20, 15, 5, 15]  # corners (5, 6) and (20, 15)


def coco_file_name(image_id: int) -> str:
    return f"COCO_train2014_{image_id:012d}.jpg"


def rectangle_mask() -> np.ndarray:
    mask = np.zeros(COCO_IMAGES[1], bool)
    mask[6:16, 5:21] = True
    return mask


def rle_mask() -> np.ndarray:
    return blob_mask(*COCO_IMAGES[2], seed=3)


def uncompressed_mask() -> np.ndarray:
    mask = np.zeros(COCO_IMAGES[1], bool)
    mask[20:28, 30:38] = True
    mask[0, 0] = True
    return mask


def make_instances() -> dict:
    compressed = {"counts": encode_counts(mask_to_counts(rle_mask())), "size": list(COCO_IMAGES[2])}
    uncompressed = {"counts": mask_to_counts(uncompressed_mask()), "size": list(COCO_IMAGES[1])}
    return {
        "images": [{"id": image_id, "file_name": coco_file_name(image_id), "height": h, "width": w}
                   for image_id, (h, w) in COCO_IMAGES.items()],
        "annotations": [
            {"id": 101, "image_id": 1, "category_id": 1, "iscrowd": 0, "segmentation": [RECTANGLE]},
            {"id": 102, "image_id": 2, "category_id": 3, "iscrowd": 0, "segmentation": compressed},
            {"id": 103, "image_id": 1, "category_id": 1, "iscrowd": 1, "segmentation": uncompressed},
        ],
        "categories": [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}],
    }


def make_refs() -> list[dict]:
    def ref(ref_id, ann_id, image_id, split, sentences):
        return {"ref_id": ref_id, "ann_id": ann_id, "image_id": image_id, "split": split, "category_id": 1,
                "file_name": f"COCO_train2014_{image_id:012d}_{ann_id}.jpg",  # not a real file, as in refer
                "sent_ids": list(range(len(sentences))), "sentences": sentences}
    return [
        ref(0, 101, 1, "val", [{"sent": "the man on the left", "raw": "The man on the LEFT", "sent_id": 0},
                               {"sent": "left guy", "raw": "left guy", "sent_id": 1}]),
        ref(1, 102, 2, "val", [{"raw": "Red car", "tokens": ["red", "car"], "sent_id": 2}]),  # no 'sent': use 'raw'
        ref(2, 103, 1, "testA", [{"sent": "person in the corner", "raw": "person in the corner", "sent_id": 3}]),
    ]


def write_pickle(value, path: Path) -> None:
    with open(path, "wb") as file:
        pickle.dump(value, file, protocol=2)


def make_refer(root: Path, image_folder: str = "train2014") -> Path:
    """The refer data folder: refcoco (unc), refcoco+ (unc), refcocog (umd), and the COCO images."""
    instances = make_instances()
    for dataset, split_by in (("refcoco", "unc"), ("refcoco+", "unc"), ("refcocog", "umd")):
        (root / dataset).mkdir(parents=True)
        write_pickle(make_refs(), root / dataset / f"refs({split_by}).p")
        (root / dataset / "instances.json").write_text(json.dumps(instances))
    (root / image_folder).mkdir(parents=True)
    for image_id, (h, w) in COCO_IMAGES.items():
        Image.fromarray(gradient_image(h, w)).save(root / image_folder / coco_file_name(image_id), quality=95)
    return root


@pytest.fixture
def refer(tmp_path) -> Path:
    return make_refer(tmp_path / "refer")


def test_refcoco_items(refer):
    data = RefCOCO(refer, "refcoco", "unc", "val")
    assert len(data) == 3, "two refs, three sentences"
    expected = [("the man on the left", 0, rectangle_mask()), ("left guy", 0, rectangle_mask()),
                ("Red car", 1, rle_mask())]
    for item, (sentence, ref_id, mask) in zip(data, expected):
        image, got_mask, got_sentence, got_ref_id = item
        assert image.dtype == np.uint8 and image.shape == mask.shape + (3,)
        assert np.abs(image.astype(int) - gradient_image(*mask.shape)).mean() < 4
        assert got_mask.dtype == bool and np.array_equal(got_mask, mask)
        assert got_sentence == sentence and isinstance(got_sentence, str)
        assert got_ref_id == ref_id and type(got_ref_id) is int
        assert item.ref_id == ref_id
    test = RefCOCO(refer, split="testA")
    assert len(test) == 1
    image, mask, sentence, ref_id = test[0]
    assert np.array_equal(mask, uncompressed_mask()) and sentence == "person in the corner" and ref_id == 2
    assert image.shape == (30, 40, 3)


@pytest.mark.parametrize("folder", ["images/train2014", "images/mscoco/images/train2014"])
def test_refcoco_image_folders(tmp_path, folder):
    root = make_refer(tmp_path / "refer", image_folder=folder)
    data = RefCOCO(root)
    assert data.image_folder == root / folder and np.array_equal(data[0].mask, rectangle_mask())


def test_refcoco_image_root_override(refer, tmp_path):
    shutil.move(refer / "train2014", tmp_path / "coco_images")
    with pytest.raises(FileNotFoundError, match=names(refer / "images/mscoco/images/train2014")):
        RefCOCO(refer)
    data = RefCOCO(refer, image_root=tmp_path / "coco_images")
    assert len(data) == 3 and data[2].image.shape == (20, 25, 3)
    with pytest.raises(FileNotFoundError, match=names(tmp_path / "elsewhere")):
        RefCOCO(refer, image_root=tmp_path / "elsewhere")


def test_refcoco_datasets_and_combinations(refer):
    assert len(RefCOCO(refer, "refcoco+", "unc")) == 3 and len(RefCOCO(refer, "refcocog", "umd")) == 3
    for dataset, split_by in (("refcoco+", "google"), ("refcocog", "unc"), ("refclef", "unc")):
        with pytest.raises(ValueError, match=re.escape(f"dataset={dataset!r}, split_by={split_by!r}")) as error:
            RefCOCO(refer, dataset, split_by)
        assert "'refcocog' with split_by in ['umd', 'google']" in str(error.value)


def test_refcoco_unknown_split(refer):
    with pytest.raises(ValueError, match=re.escape("'testB'")) as error:
        RefCOCO(refer, split="testB")
    assert "['testA', 'val']" in str(error.value) and str(refer / "refcoco" / "refs(unc).p") in str(error.value)


def test_refcoco_missing_files(refer, tmp_path):
    with pytest.raises(FileNotFoundError, match=names(tmp_path / "nowhere")):
        RefCOCO(tmp_path / "nowhere")
    shutil.rmtree(refer / "refcocog")
    with pytest.raises(FileNotFoundError, match=names(refer / "refcocog")):
        RefCOCO(refer, "refcocog", "umd")
    with pytest.raises(FileNotFoundError, match=names(refer / "refcoco" / "refs(google).p")):
        RefCOCO(refer, "refcoco", "google")
    (refer / "refcoco+" / "instances.json").unlink()
    with pytest.raises(FileNotFoundError, match=names(refer / "refcoco+" / "instances.json")):
        RefCOCO(refer, "refcoco+")
    (refer / "train2014" / coco_file_name(2)).unlink()
    with pytest.raises(FileNotFoundError, match=names(refer / "train2014" / coco_file_name(2))):
        RefCOCO(refer)
    assert len(RefCOCO(refer, split="testA")) == 1, "testA only needs image 1"


def rewrite_instances(refer: Path, change) -> Path:
    path = refer / "refcoco" / "instances.json"
    instances = json.loads(path.read_text())
    change(instances)
    path.write_text(json.dumps(instances))
    return path


def test_refcoco_ids_missing_from_instances(refer):
    path = rewrite_instances(refer, lambda inst: inst["annotations"].pop(1))  # ann 102
    with pytest.raises(KeyError, match=names(path)) as error:
        RefCOCO(refer)
    assert "ann_id 102" in str(error.value) and "ref_id 1" in str(error.value)
    path = rewrite_instances(refer, lambda inst: inst["images"].pop(0))  # image 1
    with pytest.raises(KeyError, match=names(path)) as error:
        RefCOCO(refer, split="testA")
    assert "image_id 1" in str(error.value)


def test_refcoco_size_mismatches(refer):
    def wrong_height(instances):
        instances["images"][0]["height"] = 31
    path = rewrite_instances(refer, wrong_height)
    data = RefCOCO(refer)
    with pytest.raises(ValueError, match=names(path)) as error:
        data[0]
    assert str(refer / "train2014" / coco_file_name(1)) in str(error.value) and "31×40" in str(error.value)
    assert np.array_equal(data[2].mask, rle_mask()), "image 2 is unaffected"

    def wrong_rle_size(instances):
        instances["images"][0]["height"] = 30
        instances["annotations"][2]["segmentation"] = {"counts": [30 * 41], "size": [30, 41]}
    path = rewrite_instances(refer, wrong_rle_size)
    with pytest.raises(ValueError, match=names(path)) as error:
        RefCOCO(refer, split="testA")[0]
    assert "30×41" in str(error.value) and "30×40" in str(error.value)


# ------------------------------------------------------------------------------------------------ refs pickles


def test_refs_pickle_holds_no_globals():
    data = pickle.dumps(make_refs(), protocol=2)
    assert not any(op.name in ("GLOBAL", "STACK_GLOBAL", "REDUCE") for op, _, _ in pickletools.genops(data))


@pytest.mark.parametrize("target", ["os.system", "builtins.eval"])
def test_malicious_refs_pickle_is_refused(refer, tmp_path, target):
    sentinel = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            if target == "os.system":
                return os.system, (f"touch {sentinel}",)
            return eval, (f"open({str(sentinel)!r}, 'w').write('pwned')",)

    refs_path = refer / "refcoco" / "refs(unc).p"
    write_pickle([Exploit()], refs_path)
    with pytest.raises(pickle.UnpicklingError, match=names(refs_path)) as error:
        RefCOCO(refer)
    message = str(error.value)
    # the refused name as the file spells it (protocol 2 writes builtins as __builtin__)
    refused = r"(posix|nt)\.system" if target == "os.system" else r"(__builtin__|builtins)\.eval"
    assert re.search(refused, message)
    assert "only plain containers" in message
    assert not sentinel.exists(), "the pickle's code must never run"


def test_refs_pickle_bad_structure(refer):
    refs_path = refer / "refcoco" / "refs(unc).p"
    for content, words in [({"refs": []}, "holds a dict"), ([{"ref_id": 0}], "entry 0"),
                           ([dict(make_refs()[0], sentences=[])], "sentences"),
                           ([dict(make_refs()[0], sentences=[{"tokens": []}])], "without text")]:
        write_pickle(content, refs_path)
        with pytest.raises(ValueError, match=names(refs_path)) as error:
            RefCOCO(refer)
        assert words in str(error.value)
    refs_path.write_bytes(pickle.dumps(make_refs(), protocol=2)[:40])  # truncated
    with pytest.raises(pickle.UnpicklingError, match=names(refs_path)):
        RefCOCO(refer)


# ------------------------------------------------------------------------------------------------ open_dataset


def test_open_dataset_forms(voc, refer):
    devkit = voc.parent
    data = open_dataset(f"voc:{devkit}")
    assert isinstance(data, VOCSegmentation) and not data.background and data.split == "val"
    assert np.array_equal(data[0][1], expected_voc20(raw_label_b()))
    data = open_dataset(f"voc21:{devkit}", "train")
    assert data.background and data.split == "train" and np.array_equal(data[0][1], raw_label_a())
    for dataset, split_by in (("refcoco", "unc"), ("refcoco+", "unc"), ("refcocog", "umd")):
        data = open_dataset(f"{dataset}:{refer}")
        assert isinstance(data, RefCOCO) and (data.dataset, data.split_by, data.split) == (dataset, split_by, "val")
        assert len(data) == 3
    assert len(open_dataset(f"refcocog:{refer}", split="testA")) == 1


def test_open_dataset_bad_specs(voc):
    with pytest.raises(ValueError, match="generate_batch"):
        open_dataset("shapes")
    for spec in ("coco:/data", "voc", "voc:", f"{voc}", "refcoco-:/x"):
        with pytest.raises(ValueError, match="accepted forms: voc:PATH, voc21:PATH, refcoco:PATH") as error:
            open_dataset(spec)
        assert repr(spec) in str(error.value)
    with pytest.raises(TypeError, match="spec"):
        open_dataset(None)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        open_dataset("voc:/nowhere")


# ------------------------------------------------------------------------------ scoring models on real data sets
def test_score_semantic_oracle_constant_and_bad_segmenters(voc):
    from vlseg.scoring import score_semantic

    data = VOCSegmentation(voc, "trainval")
    oracle = score_semantic(lambda image: _oracle_label(data, image), data, progress=False)
    assert oracle == {"mIoU": 100.0, "pixel_accuracy": 100.0, "images": 2.0}
    labels = [data[i][1] for i in range(len(data))]
    valid = np.concatenate([label[label != VOID] for label in labels])
    constant = score_semantic(lambda image: np.zeros(image.shape[:2], dtype=np.int64), data, progress=False)
    assert constant["pixel_accuracy"] == pytest.approx(100 * np.mean(valid == 0))
    assert score_semantic(lambda image: np.zeros(image.shape[:2], dtype=np.int64), data, limit=1,
                          progress=False)["images"] == 1.0
    with pytest.raises(ValueError, match=r"segment returned shape \(4, 4\) for item 0"):
        score_semantic(lambda image: np.zeros((4, 4), dtype=np.int64), data, progress=False)
    with pytest.raises(ValueError, match="limit"):
        score_semantic(lambda image: image, data, limit=0, progress=False)


def _oracle_label(data: VOCSegmentation, image: np.ndarray) -> np.ndarray:
    """The true label of ``image`` (found by its pixels), void pixels set to class 0."""
    for index in range(len(data)):
        candidate, label = data[index]
        if candidate.shape == image.shape and np.array_equal(candidate, image):
            return np.where(label == VOID, 0, label)
    raise AssertionError("image not in the data set")


def test_score_referring_oracle_empty_and_bad_predictors(refer):
    from vlseg.scoring import score_referring

    data = RefCOCO(refer, "refcoco", "unc", "val")
    truths = {(s, image.shape): mask for image, mask, s, _ in data}
    oracle = score_referring(lambda image, sentence: truths[(sentence, image.shape)], data, progress=False)
    assert oracle["mIoU"] == 100.0 and oracle["oIoU"] == 100.0 and oracle["prec@0.9"] == 100.0
    assert oracle["expressions"] == 3.0
    empty = score_referring(lambda image, sentence: np.zeros(image.shape[:2], bool), data, progress=False)
    assert empty["mIoU"] == 0.0 and empty["oIoU"] == 0.0 and empty["prec@0.5"] == 0.0
    with pytest.raises(ValueError, match="must return a bool mask"):
        score_referring(lambda image, sentence: np.zeros(image.shape[:2]), data, progress=False)


def test_the_shipped_models_run_on_real_formats(voc, refer):
    """Each chapter's real-data call (MaskCLIP, PACL's VOC-20 protocol, CRIS) on images of their own sizes."""
    import vlseg
    from vlseg.data import VOC_PROMPT_NAMES
    from vlseg.scoring import score_referring, score_semantic
    from vlseg.segmentation import zero_shot_segmenter

    semantic = open_dataset(f"voc:{voc}", "trainval")
    referring = open_dataset(f"refcoco:{refer}")
    pacl, cris = vlseg.pretrained("pacl-shapes", device="cpu"), vlseg.pretrained("cris-shapes", device="cpu")
    segmenters = {"maskclip": zero_shot_segmenter(pacl.bundle, VOC_PROMPT_NAMES, "maskclip"),
                  "pacl": lambda image: pacl.segment(image, VOC_PROMPT_NAMES, background=None)[0]}
    for name, segment in segmenters.items():
        labels = segment(semantic[1][0])
        assert tuple(labels.shape) == semantic[1][1].shape and 0 <= int(labels.min()) <= int(labels.max()) < 20, name
        scores = score_semantic(segment, semantic, progress=False)
        assert 0 <= scores["mIoU"] <= 100 and scores["images"] == 2.0, name
    scores = score_referring(lambda image, sentence: cris.predict(image, sentence)[0], referring, progress=False)
    assert 0 <= scores["mIoU"] <= 100 and scores["expressions"] == 3.0


# ------------------------------------------------------------------ the chapters' real-data cells, on the fixtures
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def notebook_cells(name: str) -> tuple[str, str, list[str]]:
    """A notebook's parameter cell, the setup cell after it, and its cells tagged ``real-data``."""
    cells = [c for c in json.loads((NOTEBOOKS / name).read_text())["cells"] if c["cell_type"] == "code"]
    index = next(i for i, c in enumerate(cells) if "parameters" in c["metadata"].get("tags", []))
    real = ["".join(c["source"]) for c in cells if "real-data" in c["metadata"].get("tags", [])]
    return "".join(cells[index]["source"]), "".join(cells[index + 1]["source"]), real


@pytest.mark.parametrize("name, spec, unit", [("02_patch_alignment.ipynb", "voc", "images"),
                                              ("04_pacl.ipynb", "voc", "images"),
                                              ("05_cris.ipynb", "refcoco", "expressions")])
def test_the_chapters_real_data_cells_run_on_real_formats(name, spec, unit, tmp_path, capsys):
    """The cell a reader runs with DATA switched to real data: executed with the chapter's own setup cell."""
    import matplotlib

    matplotlib.use("Agg")
    root = make_voc(tmp_path) if spec == "voc" else make_refer(tmp_path / "refer")
    parameters, setup, real_cells = notebook_cells(name)
    assert len(real_cells) == 1 and "DATA" in parameters
    namespace: dict = {}
    exec(parameters, namespace)
    assert namespace["DATA"] == "shapes", "the committed default is ShapesWorld"
    exec(setup, namespace)
    exec(real_cells[0], namespace)
    assert 'DATA = "shapes": nothing to score' in capsys.readouterr().out
    namespace["DATA"] = f"{spec}:{root}"
    exec(real_cells[0], namespace)
    printed = capsys.readouterr().out
    assert re.search(rf"\b\d+ {unit} of {re.escape(namespace['DATA'])}: mIoU \d+\.\d", printed), printed
