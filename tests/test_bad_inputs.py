"""A table of bad (and edge-case) inputs across the public API, the way a new user would misuse it.

Every case asserts EITHER a clear error — a ``TypeError``/``ValueError`` (or, for files, ``FileNotFoundError``,
``CorruptCheckpointError``, ``CheckpointMismatchError``, ``PermissionError``) whose message matches a regex naming
the argument and what was received — OR the right answer, stated precisely by its checker. An obscure internal
error (IndexError, torch RuntimeError, KeyError, AttributeError, SafetensorError, …) or a silent wrong answer fails.

A case that fails and cannot be fixed at once goes into ``KNOWN_FAILURES`` (strict xfail) with its reason; today it is
empty.
"""

from __future__ import annotations

import math
import re
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import vlseg
import vlseg.checkpoint
import vlseg.shipped
from vlseg.checkpoint import CheckpointMismatchError, CorruptCheckpointError, load_checkpoint, save_checkpoint
from vlseg.coherence import coherence_auc, roc_auc
from vlseg.data import CLASS_NAMES, ShapesWorld, generate_batch
from vlseg.pacl import pacl_compatibility
from vlseg.losses import clip_loss
from vlseg.metrics import IoUAccumulator, boundary_band, mask_ious, mean_iou, paired_bootstrap, referring_metrics
from vlseg.segmentation import class_targets, evaluate_segmentation
from vlseg.shipped import load_weights, model_card
from vlseg.zeroshot import confusion_matrix
from vlseg.zeroshot import predict as zs_predict

# ---- data shared by the cases (small: 64×64 scenes, few classes) ----------------------------------------------------
SC = generate_batch(6, seed=11, split="val")
IMG = SC.images[0]  # (64, 64, 3) uint8
BATCH2 = SC.images[:2]  # (2, 64, 64, 3)
NAMES = ["green ring", "purple triangle", "cyan diamond"]  # classes of scenes 0 and 1
K = len(NAMES)
TEXTS = ["a green ring", "a purple triangle"]  # query_maps: Q = 2
EXPR = "the green ring"
REF = "python -m vlseg.train"
WEIGHTS = vlseg.checkpoint.WEIGHTS_DIR


@pytest.fixture(scope="module")
def models():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: one thread is fastest, and far faster on a shared, busy machine
    yield types.SimpleNamespace(clip=vlseg.pretrained("tiny-clip-shapes", device="cpu"),
                                pacl=vlseg.pretrained("pacl-shapes", device="cpu"),
                                cris=vlseg.pretrained("cris-shapes", device="cpu"))
    torch.set_num_threads(threads)


@pytest.fixture
def ctx(models, tmp_path, monkeypatch):
    return types.SimpleNamespace(clip=models.clip, pacl=models.pacl, cris=models.cris, tmp=tmp_path, mp=monkeypatch)


# ---- the API entry points taking images -----------------------------------------------------------------------------
API = {
    "classify": lambda c, x, **kw: c.clip.classify(x, NAMES, **kw),
    "zs_predict": lambda c, x, **kw: zs_predict(c.clip, x, NAMES, **kw),
    "segment": lambda c, x, **kw: c.pacl.segment(x, NAMES, **kw),
    "query_maps": lambda c, x, **kw: c.pacl.query_maps(x, TEXTS, **kw),
    "predict": lambda c, x, **kw: c.cris.predict(x, EXPR, **kw),
}
IMAGE_APIS = ("classify", "segment", "query_maps", "predict")


def check_output(api: str, sizes: list[tuple[int, int]], as_list: bool):
    """The right shape and type for ``api`` on images of ``sizes``: one output per image, each at its own size."""

    def check(out, c):
        if api in ("classify", "zs_predict"):
            assert isinstance(out, torch.Tensor) and out.dtype == torch.long and tuple(out.shape) == (len(sizes),)
            assert bool(((out >= 0) & (out < K)).all())
            return
        per_image = list(out) if as_list else [out[i] for i in range(len(out))]
        if as_list:
            assert isinstance(out, list)
        else:
            assert isinstance(out, torch.Tensor) and len(out) == len(sizes)
        assert len(per_image) == len(sizes)
        for one, (h, w) in zip(per_image, sizes):
            if api == "segment":
                assert one.dtype == torch.long and tuple(one.shape) == (h, w)
                assert bool(((one >= -1) & (one < K)).all())
            elif api == "query_maps":
                assert one.dtype == torch.float32 and tuple(one.shape) == (len(TEXTS), h, w)
                assert bool(torch.isfinite(one).all()) and float(one.abs().max()) <= 1.0 + 1e-4
            else:
                assert one.dtype == torch.bool and tuple(one.shape) == (h, w)

    return check


def same_as(reference):
    """The result equals ``reference(ctx)`` exactly (tensors, lists of tensors or numbers)."""

    def check(out, c):
        ref = reference(c)
        if isinstance(ref, list):
            assert isinstance(out, list) and len(out) == len(ref)
            for a, b in zip(out, ref):
                assert torch.equal(a, b)
        elif isinstance(ref, torch.Tensor):
            assert isinstance(out, torch.Tensor) and out.shape == ref.shape and torch.allclose(out.float(), ref.float(), atol=1e-5)
        else:
            assert out == pytest.approx(ref, nan_ok=True)

    return check


def no_warnings(fn):
    def wrapped(c):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return fn(c)

    return wrapped


# ---- the table ---------------------------------------------------------------------------------------------------------
CASES: list = []


def bad(id_, fn, exc, regex):
    CASES.append((id_, fn, ("raises", exc, regex)))


def good(id_, fn, check):
    CASES.append((id_, fn, ("returns", check)))


def _rgba_array():
    return np.concatenate([IMG, np.full((64, 64, 1), 255, np.uint8)], axis=-1)


def _ragged():
    arr = np.empty(2, dtype=object)
    arr[0], arr[1] = IMG, IMG[:32]
    return arr


# bad images: (id, factory, exception, regex on the message); every one goes to every image-taking call
BAD_IMAGES = [
    ("float01-64", lambda: IMG.astype(np.float32) / 255, TypeError, r"images must be uint8.*float32.*\[0, 1\]"),
    ("float01-48", lambda: IMG[:48, :48].astype(np.float32) / 255, TypeError, r"images must be uint8.*float"),
    ("float01-batch", lambda: BATCH2.astype(np.float64) / 255, TypeError, r"images must be uint8.*float64"),
    ("float01-torch", lambda: torch.from_numpy(IMG).float() / 255, TypeError, r"images must be uint8.*tensor"),
    ("float0-255", lambda: IMG.astype(np.float32), TypeError, r"images must be uint8.*float32"),
    ("nan", lambda: np.full((64, 64, 3), np.nan, np.float32), TypeError, r"images must be uint8.*NaN"),
    ("int64", lambda: IMG.astype(np.int64), TypeError, r"images must be uint8.*int64"),
    ("bool", lambda: IMG > 128, TypeError, r"images must be uint8.*bool"),
    ("chw-torch-batch", lambda: torch.from_numpy(BATCH2).permute(0, 3, 1, 2), ValueError, r"images.*channel-first"),
    ("chw-numpy-single", lambda: IMG.transpose(2, 0, 1).copy(), ValueError, r"images.*channel-first"),
    ("rank2", lambda: IMG[..., 0].copy(), ValueError, r"images must have shape.*got shape \(64, 64\)"),
    ("rank5", lambda: BATCH2[None], ValueError, r"images must have shape.*got shape \(1, 2, 64, 64, 3\)"),
    ("rgba-array", _rgba_array, ValueError, r"images must have 3 colour channels.*\(64, 64, 4\)"),
    ("empty-batch", lambda: np.zeros((0, 64, 64, 3), np.uint8), ValueError, r"images is an empty batch"),
    ("empty-list", lambda: [], ValueError, r"images is an empty list"),
    ("zero-width", lambda: np.zeros((64, 0, 3), np.uint8), ValueError, r"images has an empty image"),
    ("str-path", lambda: "scene.png", TypeError, r"images must be.*got a str"),
    ("bytes", lambda: IMG.tobytes(), TypeError, r"images must be.*got a bytes"),
    ("none", lambda: None, TypeError, r"images must be.*got a NoneType"),
    ("ragged-object-array", _ragged, TypeError, r"images must be.*ragged"),
    ("nested-python-lists", lambda: IMG.tolist(), TypeError, r"images\[0\] must be.*got a list"),
    ("list-with-float-item", lambda: [IMG, IMG.astype(np.float32) / 255], TypeError, r"images\[1\] must be uint8"),
    ("list-with-batch-item", lambda: [BATCH2], ValueError, r"images\[0\] must have shape"),
    ("pil-float-F", lambda: Image.fromarray(IMG[..., 0].astype(np.float32) / 255), TypeError,
     r"images.*(float|mode 'F')"),
    ("pil-16bit-I16", lambda: Image.fromarray(IMG[..., 0].astype(np.uint16) * 257), TypeError,
     r"images.*(16|mode 'I;16')"),
]
for api in IMAGE_APIS:
    for name, make, exc, regex in BAD_IMAGES:
        bad(f"{api}-images-{name}", (lambda a, m: lambda c: API[a](c, m()))(api, make), exc, regex)

# edge-case images with a right answer: shape (each output at its input's own size) and, where stated, equality
EDGE_IMAGES = [
    ("1x1", lambda: IMG[:1, :1].copy(), [(1, 1)], False),
    ("3xW", lambda: IMG[:3, :40].copy(), [(3, 40)], False),  # (3, 40, 3) is HWC: height 3, width 40
    ("3x3x3", lambda: IMG[:3, :3].copy(), [(3, 3)], False),
    ("64x128", lambda: np.concatenate([SC.images[0], SC.images[1]], axis=1), [(64, 128)], False),
    ("48x96", lambda: np.ascontiguousarray(SC.images[2][:48].repeat(2, axis=1)[:, :96]), [(48, 96)], False),
    ("batch-48x96", lambda: np.stack([SC.images[2][:48, :48].repeat(2, axis=1)] * 2), [(48, 96)] * 2, False),
    ("pil-list-sizes", lambda: [Image.fromarray(IMG), Image.fromarray(SC.images[1][:40, :56])], [(64, 64), (40, 56)],
     True),
    ("tuple-sizes", lambda: (IMG, SC.images[1][:17, :33]), [(64, 64), (17, 33)], True),
    ("pil-L", lambda: Image.fromarray(IMG).convert("L"), [(64, 64)], False),
    ("pil-RGBA", lambda: Image.fromarray(IMG).convert("RGBA"), [(64, 64)], False),
    ("pil-P", lambda: Image.fromarray(IMG).convert("P"), [(64, 64)], False),
    ("list-of-one", lambda: [IMG], [(64, 64)], True),
    ("torch-uint8", lambda: torch.from_numpy(BATCH2.copy()), [(64, 64)] * 2, False),
]
for api in IMAGE_APIS:
    for name, make, sizes, as_list in EDGE_IMAGES:
        good(f"{api}-edge-{name}", (lambda a, m: lambda c: API[a](c, m()))(api, make), check_output(api, sizes, as_list))

# same answer as the plain contiguous copy: flipped views, read-only arrays (without a warning), permuted tensors, PIL
EQUIVALENT = [
    ("flipped-view", lambda: SC.images[:2, :, ::-1], lambda: SC.images[:2, :, ::-1].copy()),
    ("flipped-vertical", lambda: SC.images[2][::-1], lambda: SC.images[2][::-1].copy()),
    ("strided-slice", lambda: SC.images[3][::2, ::2], lambda: SC.images[3][::2, ::2].copy()),
    ("permuted-torch", lambda: torch.from_numpy(BATCH2.transpose(0, 3, 1, 2).copy()).permute(0, 2, 3, 1),
     lambda: BATCH2.copy()),
    ("pil-RGB", lambda: Image.fromarray(IMG), lambda: IMG.copy()),
    ("pil-L-is-gray", lambda: Image.fromarray(IMG).convert("L"),
     lambda: np.repeat(np.array(Image.fromarray(IMG).convert("L"))[..., None], 3, axis=-1)),
    ("pil-RGBA-opaque", lambda: Image.fromarray(IMG).convert("RGBA"), lambda: IMG.copy()),
]


def _readonly():
    arr = BATCH2.copy()
    arr.flags.writeable = False
    return arr


for api in IMAGE_APIS:
    for name, make, plain in EQUIVALENT:
        good(f"{api}-same-{name}", (lambda a, m: lambda c: API[a](c, m()))(api, make),
             same_as((lambda a, p: lambda c: API[a](c, p()))(api, plain)))
    good(f"{api}-same-readonly-no-warning", no_warnings((lambda a: lambda c: API[a](c, _readonly()))(api)),
         same_as((lambda a: lambda c: API[a](c, BATCH2.copy()))(api)))


# segment of a 64×128 image of two scenes side by side ≈ the two halves segmented separately
def _side_by_side_agreement(c, background, object_pixels_only):
    fractions = []
    for a in (0, 2, 4):
        left, right = SC.images[a], SC.images[a + 1]
        names = sorted({o.name for i in (a, a + 1) for o in SC.objects[i]})
        wide = c.pacl.segment(np.concatenate([left, right], axis=1), names, background=background)[0]
        halves = torch.cat([c.pacl.segment(left, names, background=background)[0],
                            c.pacl.segment(right, names, background=background)[0]], dim=1)
        keep = (torch.from_numpy(np.concatenate([SC.semantic[a], SC.semantic[a + 1]], axis=1) > 0)
                if object_pixels_only else torch.ones_like(wide, dtype=torch.bool))
        fractions.append(float((wide[keep] == halves[keep]).float().mean()))
    return float(np.mean(fractions))


good("segment-side-by-side-default-all-pixels", lambda c: _side_by_side_agreement(c, "auto", False),
     lambda out, c: out > 0.5)
good("segment-side-by-side-no-background-object-pixels", lambda c: _side_by_side_agreement(c, None, True),
     lambda out, c: out > 0.5)
good("segment-side-by-side-default-object-pixels", lambda c: _side_by_side_agreement(c, "auto", True),
     lambda out, c: out > 0.5)


# an image whose columns are duplicated (64×128) squashes back to ≈ the original: the labels ≈ the original's, doubled
def _column_doubled_agreement(c):
    wide = c.pacl.segment(np.repeat(IMG, 2, axis=1), NAMES, background=None)[0]
    doubled = c.pacl.segment(IMG, NAMES, background=None)[0].repeat_interleave(2, dim=1)
    return float((wide == doubled).float().mean())


good("segment-column-doubled", _column_doubled_agreement, lambda out, c: out > 0.95)
good("predict-column-doubled",
     lambda c: float((c.cris.predict(np.repeat(IMG, 2, axis=1), EXPR)[0]
                      == c.cris.predict(IMG, EXPR)[0].repeat_interleave(2, dim=1)).float().mean()),
     lambda out, c: out > 0.95)

# ---- class names and texts ------------------------------------------------------------------------------------------
for api in ("classify", "segment", "zs_predict"):
    call = {"classify": lambda c, n: c.clip.classify(IMG, n), "segment": lambda c, n: c.pacl.segment(IMG, n),
            "zs_predict": lambda c, n: zs_predict(c.clip, IMG, n)}[api]
    for name, value, exc, regex in [
        ("single-string", "red circle", TypeError, r"class_names must be a list of strings; got the single string"),
        ("empty-list", [], ValueError, r"class_names is empty"),
        ("bytes", b"red circle", TypeError, r"class_names must be .*got a bytes"),
        ("list-of-bytes", [b"red circle", b"blue square"], TypeError, r"class_names\[0\] must be a string.*bytes"),
        ("int", 5, TypeError, r"class_names must be .*got a int"),
        ("none", None, TypeError, r"class_names must be .*got a NoneType"),
        ("list-with-int", ["red circle", 3], TypeError, r"class_names\[1\] must be a string.*int"),
        ("list-with-empty", ["red circle", ""], ValueError, r"class_names\[1\] is an empty string"),
        ("whitespace", ["   "], ValueError, r"class_names\[0\] is an empty string"),
        ("set", {"red circle", "blue square"}, TypeError, r"class_names.*(set|order)"),
    ]:
        bad(f"{api}-class_names-{name}", (lambda f, v: lambda c: f(c, v))(call, value), exc, regex)
    good(f"{api}-class_names-numpy-strings", (lambda f: lambda c: f(c, np.array(NAMES)))(call),
         same_as((lambda f: lambda c: f(c, list(NAMES)))(call)))
    good(f"{api}-class_names-tuple", (lambda f: lambda c: f(c, tuple(NAMES)))(call),
         same_as((lambda f: lambda c: f(c, list(NAMES)))(call)))
    good(f"{api}-class_names-generator", (lambda f: lambda c: f(c, (n for n in NAMES)))(call),
         same_as((lambda f: lambda c: f(c, list(NAMES)))(call)))

for name, value, exc, regex in [
    ("bytes", b"a red circle", TypeError, r"texts must be .*got a bytes"),
    ("int", 7, TypeError, r"texts must be .*got a int"),
    ("none", None, TypeError, r"texts must be .*got a NoneType"),
    ("empty-string", "", ValueError, r"texts\[0\] is an empty string"),
    ("whitespace", "   ", ValueError, r"texts\[0\] is an empty string"),
    ("empty-list", [], ValueError, r"texts is empty"),
    ("list-with-empty", ["a red circle", ""], ValueError, r"texts\[1\] is an empty string"),
    ("list-of-bytes", [b"a red circle"], TypeError, r"texts\[0\] must be a string.*bytes"),
]:
    bad(f"query_maps-texts-{name}", (lambda v: lambda c: c.pacl.query_maps(IMG, v))(value), exc, regex)
    bad(f"predict-texts-{name}", (lambda v: lambda c: c.cris.predict(IMG, v))(value), exc, regex)
bad("predict-texts-3-for-2-images", lambda c: c.cris.predict(BATCH2, ["a", "b", "c"]), ValueError,
    r"texts has 3 texts for 2 images")
bad("predict-texts-2-for-1-image", lambda c: c.cris.predict(IMG, [EXPR, "the cyan diamond"]), ValueError,
    r"texts has 2 texts for 1 images")
bad("predict-texts-2-for-3-list", lambda c: c.cris.predict([IMG, IMG, IMG], [EXPR, EXPR]), ValueError,
    r"texts has 2 texts for 3 images")
good("query_maps-texts-single-string", lambda c: c.pacl.query_maps(IMG, "a green ring"),
     lambda out, c: tuple(out.shape) == (1, 1, 64, 64))
good("predict-texts-one-for-all", lambda c: c.cris.predict(BATCH2, EXPR),
     same_as(lambda c: c.cris.predict(BATCH2, [EXPR, EXPR])))
good("predict-texts-one-per-image", lambda c: c.cris.predict(BATCH2, [EXPR, "the cyan diamond"]),
     same_as(lambda c: torch.cat([c.cris.predict(SC.images[0], EXPR), c.cris.predict(SC.images[1], "the cyan diamond")])))
good("predict-texts-very-long", lambda c: c.cris.predict(IMG, " ".join(["the big green ring"] * 40)),
     lambda out, c: tuple(out.shape) == (1, 64, 64) and out.dtype == torch.bool)
good("predict-texts-non-ascii", lambda c: c.cris.predict(IMG, "the grün ring ☃"),
     lambda out, c: tuple(out.shape) == (1, 64, 64) and out.dtype == torch.bool)

# ---- thresholds and background --------------------------------------------------------------------------------------
for name, value, exc, regex in [
    ("1.5", 1.5, ValueError, r"threshold must lie strictly between 0 and 1.*got 1.5"),
    ("1", 1.0, ValueError, r"threshold must lie strictly between 0 and 1.*got 1.0"),
    ("0", 0, ValueError, r"threshold must lie strictly between 0 and 1.*got 0"),
    ("-0.1", -0.1, ValueError, r"threshold must lie strictly between 0 and 1.*got -0.1"),
    ("nan", float("nan"), ValueError, r"threshold must lie strictly between 0 and 1.*got nan"),
    ("str", "0.5", TypeError, r"threshold must be a number.*got a str"),
    ("True", True, TypeError, r"threshold must be a number.*got a bool"),
    ("tensor", torch.tensor([0.5, 0.6]), TypeError, r"threshold must be a number.*got a Tensor"),
]:
    bad(f"predict-threshold-{name}", (lambda v: lambda c: c.cris.predict(IMG, EXPR, threshold=v))(value), exc, regex)
good("predict-threshold-numpy-float", lambda c: c.cris.predict(BATCH2, EXPR, threshold=np.float32(0.5)),
     same_as(lambda c: c.cris.predict(BATCH2, EXPR, threshold=0.5)))
good("predict-threshold-default-is-0.35", lambda c: c.cris.predict(BATCH2, EXPR, threshold=0.35),
     same_as(lambda c: c.cris.predict(BATCH2, EXPR)))

for name, value, exc, regex in [
    ("foo", "foo", ValueError, r"background must be 'auto'.*got 'foo'"),
    ("AUTO", "AUTO", ValueError, r"background must be 'auto'.*got 'AUTO'"),
    ("2.0", 2.0, ValueError, r"background .*must lie in \[-1, 1\]; got 2.0"),
    ("-1.5", -1.5, ValueError, r"background .*must lie in \[-1, 1\]; got -1.5"),
    ("nan", float("nan"), ValueError, r"background .*must lie in \[-1, 1\]; got nan"),
    ("True", True, TypeError, r"background must be 'auto', a number or None; got a bool"),
    ("list", [0.3], TypeError, r"background must be 'auto', a number or None; got a list"),
]:
    bad(f"segment-background-{name}", (lambda v: lambda c: c.pacl.segment(IMG, NAMES, background=v))(value), exc, regex)
good("segment-background-None-no-minus-one", lambda c: c.pacl.segment(BATCH2, NAMES, background=None),
     lambda out, c: bool(((out >= 0) & (out < K)).all()))
good("segment-background--1-equals-None", lambda c: c.pacl.segment(BATCH2, NAMES, background=-1.0),
     same_as(lambda c: c.pacl.segment(BATCH2, NAMES, background=None)))
good("segment-background-1-all-background", lambda c: c.pacl.segment(BATCH2, NAMES, background=1.0),
     lambda out, c: bool((out == -1).all()))
good("segment-background-numpy-float", lambda c: c.pacl.segment(BATCH2, NAMES, background=np.float32(0.25)),
     same_as(lambda c: c.pacl.segment(BATCH2, NAMES, background=0.25)))
good("segment-background-int-0", lambda c: c.pacl.segment(BATCH2, NAMES, background=0),
     same_as(lambda c: c.pacl.segment(BATCH2, NAMES, background=0.0)))

# ---- batch sizes ----------------------------------------------------------------------------------------------------
BATCH_CALLS = dict(API)
BATCH_CALLS["evaluate_segmentation"] = lambda c, x, **kw: evaluate_segmentation(
    c.clip, SC.images[:2], class_targets(SC.semantic[:2]), list(CLASS_NAMES), progress=False, **kw)
for api, call in BATCH_CALLS.items():
    for name, value, exc, regex in [
        ("0", 0, ValueError, r"batch_size must be a positive integer; got 0"),
        ("-1", -1, ValueError, r"batch_size must be a positive integer; got -1"),
        ("2.5", 2.5, TypeError, r"batch_size must be a positive integer; got a float \(2.5\)"),
    ]:
        bad(f"{api}-batch_size-{name}", (lambda f, v: lambda c: f(c, BATCH2, batch_size=v))(call, value), exc, regex)
bad("classify-batch_size-str", lambda c: c.clip.classify(IMG, NAMES, batch_size="8"), TypeError,
    r"batch_size must be a positive integer; got a str")
bad("classify-batch_size-True", lambda c: c.clip.classify(IMG, NAMES, batch_size=True), TypeError,
    r"batch_size must be a positive integer; got a bool")
good("zs_predict-one-image-batch_size-16", lambda c: zs_predict(c.clip, IMG, NAMES, batch_size=16),
     lambda out, c: tuple(out.shape) == (1,) and 0 <= int(out[0]) < K)
good("classify-one-image-batch_size-16", lambda c: c.clip.classify(IMG, NAMES, batch_size=16),
     same_as(lambda c: c.clip.classify(IMG[None], NAMES)))
for api in ("classify", "segment", "query_maps", "predict"):
    good(f"{api}-batch_size-2-of-5-same-as-one-chunk",
         (lambda a: lambda c: API[a](c, SC.images[:5], batch_size=2))(api),
         same_as((lambda a: lambda c: API[a](c, SC.images[:5], batch_size=64))(api)))
good("classify-batch_size-numpy-int", lambda c: c.clip.classify(BATCH2, NAMES, batch_size=np.int64(1)),
     same_as(lambda c: c.clip.classify(BATCH2, NAMES)))

# ---- confusion matrix -----------------------------------------------------------------------------------------------
P, T = torch.tensor([0, 1, 1, 2]), torch.tensor([0, 1, 2, 2])
bad("confusion-targets-255", lambda c: confusion_matrix(P, torch.tensor([0, 1, 255, 2]), 3), ValueError,
    r"targets must lie in \[0, 3\); got values from 0 to 255")
bad("confusion-targets--1", lambda c: confusion_matrix(P, torch.tensor([0, -1, 2, 2]), 3), ValueError,
    r"targets must lie in \[0, 3\); got values from -1")
bad("confusion-predictions-out-of-range", lambda c: confusion_matrix(torch.tensor([0, 1, 3, 2]), T, 3), ValueError,
    r"predictions must lie in \[0, 3\); got values from 0 to 3")
bad("confusion-float-predictions", lambda c: confusion_matrix(P.float(), T, 3), TypeError,
    r"predictions must hold integer class indices; got dtype torch.float32")
bad("confusion-float-targets", lambda c: confusion_matrix(P, np.array([0.0, 1.0, 2.0, 2.0]), 3), TypeError,
    r"targets must hold integer class indices; got dtype torch.float64")
bad("confusion-bool", lambda c: confusion_matrix(P > 0, T > 0, 2), TypeError, r"predictions must hold integer")
bad("confusion-shape-mismatch", lambda c: confusion_matrix(P, T[:3], 3), ValueError,
    r"predictions \(4,\) and targets \(3,\) differ in shape")
bad("confusion-K-0", lambda c: confusion_matrix(P, T, 0), ValueError, r"num_classes must be a positive integer; got 0")
bad("confusion-K-float", lambda c: confusion_matrix(P, T, 3.0), TypeError, r"num_classes must be a positive integer")
good("confusion-right-answer", lambda c: confusion_matrix(P, T, 3),
     lambda out, c: torch.equal(out, torch.tensor([[1, 0, 0], [0, 1, 0], [0, 1, 1]])))
good("confusion-numpy-lists", lambda c: confusion_matrix(np.array([0, 1, 1, 2]), [0, 1, 2, 2], 3),
     lambda out, c: torch.equal(out, torch.tensor([[1, 0, 0], [0, 1, 0], [0, 1, 1]])))
good("confusion-empty", lambda c: confusion_matrix(torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long), 2),
     lambda out, c: torch.equal(out, torch.zeros(2, 2, dtype=torch.long)))

# ---- mIoU and friends -----------------------------------------------------------------------------------------------
PM, TM = torch.tensor([[0, 0, 1, 1]]), torch.tensor([[0, 1, 1, 1]])  # IoU 1/2 and 2/3 → mIoU 7/12
bad("mean_iou-ignore_index-None", lambda c: mean_iou(PM, TM, 2, ignore_index=None), TypeError,
    r"ignore_index must be an integer label.*got None")
bad("mean_iou-ignore_index-str", lambda c: mean_iou(PM, TM, 2, ignore_index="255"), TypeError,
    r"ignore_index must be an integer label.*got '255'")
bad("mean_iou-float-pred", lambda c: mean_iou(PM.float(), TM, 2), ValueError, r"pred and target must be integer")
bad("mean_iou-shape-mismatch", lambda c: mean_iou(PM, TM[:, :3], 2), ValueError,
    r"pred \(1, 4\) and target \(1, 3\) must have the same shape")
bad("mean_iou-num_classes-0", lambda c: mean_iou(PM, TM, 0), ValueError, r"num_classes must be a positive integer")
bad("mean_iou-label-out-of-range", lambda c: mean_iou(PM + 1, TM, 2), ValueError, r"pred has labels from 1 to 2")
bad("mean_iou-target--1-default-ignore", lambda c: mean_iou(PM, torch.tensor([[0, -1, 1, 1]]), 2), ValueError,
    r"target has labels from -1")
good("mean_iou-right-answer", lambda c: mean_iou(PM, TM, 2)[0], lambda out, c: out == pytest.approx(7 / 12))
good("mean_iou-perfect", lambda c: mean_iou(TM, TM, 2)[0], lambda out, c: out == 1.0)
good("mean_iou-ignore_index--1", lambda c: mean_iou(PM, torch.tensor([[0, -1, 1, 1]]), 2, ignore_index=-1)[0],
     same_as(lambda c: mean_iou(PM, torch.tensor([[0, 255, 1, 1]]), 2)[0]))
good("mean_iou-all-ignored-is-nan", lambda c: mean_iou(PM, torch.full((1, 4), 255), 2)[0],
     lambda out, c: math.isnan(out))
good("mean_iou-numpy-uint8", lambda c: mean_iou(PM.numpy().astype(np.uint8), TM.numpy().astype(np.uint8), 2)[0],
     lambda out, c: out == pytest.approx(7 / 12))
bad("IoUAccumulator-num_classes-0", lambda c: IoUAccumulator(0), ValueError, r"num_classes must be a positive integer")
bad("IoUAccumulator-num_classes-float", lambda c: IoUAccumulator(3.0), TypeError, r"num_classes must be a positive integer")
bad("IoUAccumulator-ignore_index-None", lambda c: IoUAccumulator(3, ignore_index=None), TypeError, r"ignore_index")
bad("IoUAccumulator-update-mismatch", lambda c: IoUAccumulator(2).update(PM, TM[:, :2]), ValueError,
    r"pred \(1, 4\) and target \(1, 2\)")


def _accumulated(c):
    acc = IoUAccumulator(2)
    acc.update(PM[:, :2], TM[:, :2])
    acc.update(PM[:, 2:], TM[:, 2:])
    return acc.compute()[0]


good("IoUAccumulator-two-updates-equal-one-call", _accumulated, lambda out, c: out == pytest.approx(7 / 12))

MA = torch.tensor([[[True, True], [False, False]], [[False, False], [False, False]]])
MB = torch.tensor([[[True, False], [False, False]], [[False, False], [False, False]]])
bad("referring_metrics-float-masks", lambda c: referring_metrics(MA.float(), MB.float()), ValueError,
    r"pred_masks and gt_masks must be boolean")
bad("referring_metrics-2d", lambda c: referring_metrics(MA[0], MB[0]), ValueError, r"pred_masks \(2, 2\).*must both be \(N, H, W\)")
bad("referring_metrics-shape-mismatch", lambda c: referring_metrics(MA, MB[:1]), ValueError, r"pred_masks .* gt_masks")
bad("referring_metrics-empty", lambda c: referring_metrics(MA[:0], MB[:0]), ValueError, r"(pred_masks|gt_masks).*empty|no expressions.*(pred_masks|gt_masks)")
good("referring_metrics-right-answer", lambda c: referring_metrics(MA, MB),
     lambda out, c: out["mIoU"] == pytest.approx(0.75) and out["oIoU"] == pytest.approx(0.5)
     and out["prec@0.5"] == pytest.approx(0.5) and out["prec@0.9"] == pytest.approx(0.5))
good("referring_metrics-both-empty", lambda c: referring_metrics(MA[1:], MB[1:]),
     lambda out, c: out["mIoU"] == 1.0 and out["oIoU"] == 1.0)
good("mask_ious-right-answer", lambda c: mask_ious(MA, MB),
     lambda out, c: torch.allclose(out, torch.tensor([0.5, 1.0], dtype=torch.float64)))

SQUARE = torch.zeros(1, 6, 6, dtype=torch.bool)
SQUARE[0, 2:4, 2:4] = True


def _band_reference(masks: np.ndarray, width: int) -> np.ndarray:
    """A pixel is in the band iff its (2w+1)² window (clipped to the image) holds both mask and non-mask pixels."""
    n, h, w = masks.shape
    out = np.zeros_like(masks)
    for i in range(n):
        for y in range(h):
            for x in range(w):
                win = masks[i, max(0, y - width): y + width + 1, max(0, x - width): x + width + 1]
                out[i, y, x] = win.any() and not win.all()
    return out


RANDOM_MASKS = torch.from_numpy(np.random.default_rng(0).random((2, 9, 11)) < 0.4)
bad("boundary_band-width--1", lambda c: boundary_band(SQUARE, width=-1), ValueError, r"width must be a positive integer; got -1")
bad("boundary_band-width-0", lambda c: boundary_band(SQUARE, width=0), ValueError, r"width must be a positive integer; got 0")
bad("boundary_band-width-1.5", lambda c: boundary_band(SQUARE, width=1.5), TypeError, r"width must be a positive integer")
bad("boundary_band-float-masks", lambda c: boundary_band(SQUARE.float()), ValueError, r"masks must be boolean")
bad("boundary_band-2d", lambda c: boundary_band(SQUARE[0]), ValueError, r"masks must be boolean \(N, H, W\)")
good("boundary_band-square", lambda c: boundary_band(SQUARE, 1),
     lambda out, c: torch.equal(out, torch.from_numpy(_band_reference(SQUARE.numpy(), 1))) and int(out.sum()) == 16)
good("boundary_band-random-width-2", lambda c: boundary_band(RANDOM_MASKS, 2),
     lambda out, c: torch.equal(out, torch.from_numpy(_band_reference(RANDOM_MASKS.numpy(), 2))))
good("boundary_band-numpy-bool", lambda c: boundary_band(SQUARE.numpy(), 1), same_as(lambda c: boundary_band(SQUARE, 1)))

SA = torch.tensor([0.5, 0.7, 0.2, 0.9])
bad("paired_bootstrap-n_resamples-0", lambda c: paired_bootstrap(SA, SA, n_resamples=0), ValueError, r"n_resamples must be a positive integer")
bad("paired_bootstrap-level-1.5", lambda c: paired_bootstrap(SA, SA, level=1.5), ValueError, r"level must lie strictly between 0 and 1")
bad("paired_bootstrap-level-str", lambda c: paired_bootstrap(SA, SA, level="0.95"), TypeError, r"level must be a number")
bad("paired_bootstrap-shape-mismatch", lambda c: paired_bootstrap(SA, SA[:3]), ValueError, r"expected two \(N,\) score vectors")
bad("paired_bootstrap-empty", lambda c: paired_bootstrap(SA[:0], SA[:0]), ValueError, r"expected two \(N,\) score vectors")
bad("paired_bootstrap-nan-scores", lambda c: paired_bootstrap(torch.tensor([0.5, float("nan"), 0.2]), SA[:3]), ValueError,
    r"scores_a.*NaN")
good("paired_bootstrap-identical", lambda c: paired_bootstrap(SA, SA), lambda out, c: out == (0.0, 0.0, 0.0))
good("paired_bootstrap-shifted", lambda c: paired_bootstrap(SA + 1, SA),
     lambda out, c: all(v == pytest.approx(1.0) for v in out))

# ---- segmentation evaluation ----------------------------------------------------------------------------------------
SEG_TARGETS = class_targets(SC.semantic[:4])  # 255 on background
ALL = list(CLASS_NAMES)


def _evaluate(c, targets, names=ALL, images=SC.images[:4], **kw):
    return evaluate_segmentation(c.clip, images, targets, names, progress=False, **kw)


good("evaluate_segmentation-ignore_index--1",
     lambda c: (lambda r: (r.miou, r.patch_accuracy))(_evaluate(c, torch.where(SEG_TARGETS == 255, -1, SEG_TARGETS),
                                                                  ignore_index=-1)),
     same_as(lambda c: (lambda r: (r.miou, r.patch_accuracy))(_evaluate(c, SEG_TARGETS))))
bad("evaluate_segmentation-raw-semantic", lambda c: _evaluate(c, SC.semantic[:4], names=NAMES), ValueError,
    r"targets.*class_targets")
_LOW = generate_batch(3, seed=5, split="val", classes=["red circle", "red square"])
bad("evaluate_segmentation-raw-semantic-low-classes",
    lambda c: _evaluate(c, _LOW.semantic, images=_LOW.images), ValueError, r"targets.*class_targets")
bad("evaluate_segmentation-targets--1-default-ignore",
    lambda c: _evaluate(c, torch.where(SEG_TARGETS == 255, -1, SEG_TARGETS)), ValueError, r"targets.*-1.*ignore_index")
bad("evaluate_segmentation-float-targets", lambda c: _evaluate(c, SEG_TARGETS.float()), ValueError,
    r"targets must be integer class maps")
bad("evaluate_segmentation-targets-shape", lambda c: _evaluate(c, SEG_TARGETS[:3]), ValueError,
    r"targets must be integer class maps .*\(3, 64, 64\)")
bad("evaluate_segmentation-list-images", lambda c: _evaluate(c, SEG_TARGETS, images=list(SC.images[:4])), ValueError,
    r"images.*got a list")
bad("evaluate_segmentation-empty-class_names", lambda c: _evaluate(c, SEG_TARGETS, names=[]), ValueError,
    r"class_names is empty")
bad("evaluate_segmentation-string-class_names", lambda c: _evaluate(c, SEG_TARGETS, names="red circle"), TypeError,
    r"class_names must be a list of strings")
bad("evaluate_segmentation-ignore_index-None", lambda c: _evaluate(c, SEG_TARGETS, ignore_index=None), TypeError,
    r"ignore_index must be an integer")
good("class_targets-right-answer", lambda c: class_targets(np.array([[0, 1, 49, 255]], np.uint8)),
     lambda out, c: torch.equal(out, torch.tensor([[255, 0, 48, 255]])))
good("class_targets-ignore_index--1-keeps-255-ignored",
     lambda c: class_targets(np.array([[0, 1, 49, 255]], np.uint8), ignore_index=-1),
     lambda out, c: torch.equal(out, torch.tensor([[-1, 0, 48, -1]])))

# ---- coherence ------------------------------------------------------------------------------------------------------
LAB = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2])
FEAT = torch.nn.functional.one_hot(LAB, 3).float() + 0.01 * torch.randn(8, 3, generator=torch.Generator().manual_seed(0))
FEAT_NAN = FEAT.clone()
FEAT_NAN[2, 1] = float("nan")
FEAT_INF = FEAT.clone()
FEAT_INF[4, 0] = float("inf")
bad("coherence-nan-features", lambda c: coherence_auc(FEAT_NAN, LAB, num_pairs=500), ValueError, r"patch_features.*(NaN|finite)")
bad("coherence-all-nan-features", lambda c: coherence_auc(torch.full((8, 3), float("nan")), LAB, num_pairs=500), ValueError,
    r"patch_features.*(NaN|finite)")
bad("coherence-inf-features", lambda c: coherence_auc(FEAT_INF, LAB, num_pairs=500), ValueError, r"patch_features.*(inf|finite)")
bad("coherence-1d-features", lambda c: coherence_auc(FEAT[:, 0], LAB, num_pairs=500), ValueError, r"patch_features must be \(N, D\)")
bad("coherence-label-count", lambda c: coherence_auc(FEAT, LAB[:5], num_pairs=500), ValueError, r"patch_labels has 5 entries for 8")
bad("coherence-one-class", lambda c: coherence_auc(FEAT, torch.zeros(8, dtype=torch.long), num_pairs=500), ValueError,
    r"patch_labels|positive and negative")
bad("coherence-all-ignored", lambda c: coherence_auc(FEAT, torch.full((8,), 255), num_pairs=500), ValueError,
    r"patch_labels|labelled patches")
bad("coherence-num_pairs-0", lambda c: coherence_auc(FEAT, LAB, num_pairs=0), ValueError, r"num_pairs")
bad("coherence-num_pairs--5", lambda c: coherence_auc(FEAT, LAB, num_pairs=-5), ValueError, r"num_pairs")
bad("coherence-scope-foo", lambda c: coherence_auc(FEAT, LAB, num_pairs=500, scope="foo"), ValueError, r"unknown scope 'foo'")
bad("coherence-within-no-ids", lambda c: coherence_auc(FEAT, LAB, num_pairs=500, scope="within"), ValueError,
    r"scope='within' needs image_ids")
good("coherence-separable-is-1", lambda c: coherence_auc(FEAT, LAB, num_pairs=2000), lambda out, c: out == 1.0)

# ---- losses ---------------------------------------------------------------------------------------------------------
E1 = torch.randn(4, 8, generator=torch.Generator().manual_seed(1))
E2 = torch.randn(4, 8, generator=torch.Generator().manual_seed(2))


def _clip_loss_reference(a, b, s):
    logits = s * torch.nn.functional.normalize(a, dim=-1) @ torch.nn.functional.normalize(b, dim=-1).t()
    t = torch.arange(len(a))
    return 0.5 * (torch.nn.functional.cross_entropy(logits, t) + torch.nn.functional.cross_entropy(logits.t(), t))


bad("clip_loss-negative-scale", lambda c: clip_loss(E1, E2, -10.0), ValueError, r"logit_scale.*-10")
bad("clip_loss-nan-scale", lambda c: clip_loss(E1, E2, float("nan")), ValueError, r"logit_scale.*nan")
bad("clip_loss-str-scale", lambda c: clip_loss(E1, E2, "10"), TypeError, r"logit_scale")
bad("clip_loss-vector-scale", lambda c: clip_loss(E1, E2, torch.ones(2)), ValueError, r"logit_scale must be a float or a 0-d")
bad("clip_loss-nan-embeds", lambda c: clip_loss(torch.full((4, 8), float("nan")), E2, 10.0), ValueError, r"image_embeds.*(NaN|finite)")
bad("clip_loss-batch-1", lambda c: clip_loss(E1[:1], E2[:1], 10.0), ValueError, r"at least 2 pairs")
bad("clip_loss-shape-mismatch", lambda c: clip_loss(E1, E2[:3], 10.0), ValueError,
    r"image_embeds \(4, 8\) and text_embeds \(3, 8\) must have the same shape")
bad("clip_loss-1d", lambda c: clip_loss(E1[0], E2[0], 10.0), ValueError, r"image_embeds and text_embeds must be \(B, D\)")
good("clip_loss-right-answer", lambda c: clip_loss(E1, E2, 7.0),
     lambda out, c: float(out) == pytest.approx(float(_clip_loss_reference(E1, E2, 7.0)), rel=1e-5))
good("clip_loss-clamped-at-100", lambda c: clip_loss(E1, E2, 1000.0), same_as(lambda c: clip_loss(E1, E2, 100.0)))

# ---- data -----------------------------------------------------------------------------------------------------------
bad("generate_batch-negative-seed", lambda c: generate_batch(2, seed=-1), ValueError, r"seed.*-1")
bad("generate_batch-float-seed", lambda c: generate_batch(2, seed=1.5), TypeError, r"seed.*1.5")
bad("generate_batch-n-0", lambda c: generate_batch(0), ValueError, r"n_scenes must be .*got 0")
bad("generate_batch-n-negative", lambda c: generate_batch(-3), ValueError, r"n_scenes must be .*got -3")
bad("generate_batch-n-float", lambda c: generate_batch(2.5), TypeError, r"n_scenes.*2.5")
bad("generate_batch-n-str", lambda c: generate_batch("4"), TypeError, r"n_scenes.*'4'")
bad("generate_batch-split-training", lambda c: generate_batch(2, split="training"), ValueError, r"unknown split 'training'")
bad("generate_batch-split-None", lambda c: generate_batch(2, split=None), ValueError, r"unknown split None")
bad("generate_batch-negative-block", lambda c: generate_batch(2, block=-1), ValueError, r"block.*-1")
bad("generate_batch-image_size-8", lambda c: generate_batch(2, image_size=8), ValueError, r"image_size must be an integer >= 16")
bad("generate_batch-num_objects-0", lambda c: generate_batch(2, num_objects=(0, 2)), ValueError, r"num_objects must be two integers")
bad("generate_batch-num_objects-5", lambda c: generate_batch(2, num_objects=(1, 5)), ValueError, r"num_objects must be two integers")
bad("generate_batch-unknown-class", lambda c: generate_batch(2, classes=["pink circle"]), ValueError,
    r"unknown ShapesWorld class 'pink circle'")
bad("generate_batch-no-classes", lambda c: generate_batch(2, classes=[]), ValueError, r"classes must not be empty")
good("generate_batch-n-1", lambda c: generate_batch(1, seed=3),
     lambda out, c: len(out) == 1 and out.images.shape == (1, 64, 64, 3) and out.images.dtype == np.uint8)
good("generate_batch-deterministic", lambda c: generate_batch(3, seed=7, split="test").images,
     lambda out, c: np.array_equal(out, generate_batch(3, seed=7, split="test").images))


# ---- checkpoints ----------------------------------------------------------------------------------------------------
def _write(c, name, data: bytes) -> Path:
    path = c.tmp / f"{name}.safetensors"
    path.write_bytes(data)
    return path


def _shipped_bytes(name):
    return (WEIGHTS / f"{name}.safetensors").read_bytes()


def _corrupt_regex(name):
    return lambda c: rf"(?s){re.escape(str(c.tmp / (name + '.safetensors')))}.*corrupt.*{re.escape(REF + ' ' + name)}"


GARBAGE = bytes(range(256)) * 4
for name in ("tiny-clip-shapes", "pacl-shapes", "cris-shapes"):
    bad(f"load_weights-{name}-garbage", (lambda n: lambda c: (_write(c, n, GARBAGE), load_weights(n, c.tmp)))(name),
        CorruptCheckpointError, _corrupt_regex(name))
    bad(f"load_weights-{name}-truncated",
        (lambda n: lambda c: (_write(c, n, _shipped_bytes(n)[: len(_shipped_bytes(n)) // 2]), load_weights(n, c.tmp)))(name),
        CorruptCheckpointError, _corrupt_regex(name))
bad("load_weights-empty-file", lambda c: (_write(c, "pacl-shapes", b""), load_weights("pacl-shapes", c.tmp)),
    CorruptCheckpointError, _corrupt_regex("pacl-shapes"))
bad("load_weights-truncated-header", lambda c: (_write(c, "pacl-shapes", _shipped_bytes("pacl-shapes")[:6]),
                                                load_weights("pacl-shapes", c.tmp)),
    CorruptCheckpointError, _corrupt_regex("pacl-shapes"))
bad("load_weights-missing-file", lambda c: load_weights("pacl-shapes", c.tmp), FileNotFoundError,
    lambda c: rf"no checkpoint at {re.escape(str(c.tmp / 'pacl-shapes.safetensors'))}")
bad("load_checkpoint-garbage", lambda c: load_checkpoint(_write(c, "x", GARBAGE)), CorruptCheckpointError,
    lambda c: rf"(?s){re.escape(str(c.tmp / 'x.safetensors'))}.*corrupt")
bad("load_checkpoint-truncated-rebuild",
    lambda c: load_checkpoint(_write(c, "x", _shipped_bytes("cris-shapes")[:-1000]), rebuild="make it"),
    CorruptCheckpointError, lambda c: rf"(?s){re.escape(str(c.tmp / 'x.safetensors'))}.*make it")
bad("load_checkpoint-missing", lambda c: load_checkpoint(c.tmp / "nope.safetensors"), FileNotFoundError,
    r"no checkpoint at .*nope.safetensors")
bad("load_checkpoint-directory", lambda c: load_checkpoint(c.tmp), FileNotFoundError, r"no checkpoint at")


def _rewrite(c, name, edit, metadata_edit=None) -> Path:
    """The shipped checkpoint's metadata with edited tensors, written to tmp."""
    tensors, metadata = load_checkpoint(WEIGHTS / f"{name}.safetensors")
    edit(tensors)
    if metadata_edit is not None:
        metadata_edit(metadata)
    return save_checkpoint(c.tmp / f"{name}.safetensors", tensors, metadata)


def _drop_first(t):
    t.pop(sorted(t)[0])


def _reshape_first_matrix(t):
    key = next(k for k in sorted(t) if t[k].ndim == 2)
    t[key] = t[key].t().contiguous() if t[key].shape[0] != t[key].shape[1] else t[key].reshape(-1)


def _extra(t):
    t["unexpected.weight"] = torch.zeros(3)


for name in ("tiny-clip-shapes", "pacl-shapes", "cris-shapes"):
    for how, edit in (("dropped", _drop_first), ("reshaped", _reshape_first_matrix), ("extra", _extra)):
        bad(f"load_weights-{name}-tensor-{how}",
            (lambda n, e: lambda c: (_rewrite(c, n, e), load_weights(n, c.tmp)))(name, edit),
            CorruptCheckpointError, _corrupt_regex(name))
bad("load_weights-other-config", lambda c: (_rewrite(c, "pacl-shapes", lambda t: None,
                                                     lambda m: m["config"].update(hidden_dim=7)),
                                            load_weights("pacl-shapes", c.tmp)),
    CheckpointMismatchError, r"another configuration: hidden_dim: 7 in checkpoint, 384 expected")


def _no_metadata(c):
    from safetensors.torch import save_file
    path = c.tmp / "pacl-shapes.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    return load_weights("pacl-shapes", c.tmp)


bad("load_weights-not-a-vlseg-checkpoint", _no_metadata, CheckpointMismatchError, r"is not a vlseg checkpoint")


def _bad_json_metadata(c):
    from safetensors.torch import save_file
    path = c.tmp / "pacl-shapes.safetensors"
    save_file({"w": torch.zeros(2)}, str(path), metadata={"vlseg": "{not json"})
    return load_weights("pacl-shapes", c.tmp)


bad("load_weights-metadata-not-json", _bad_json_metadata, CorruptCheckpointError, _corrupt_regex("pacl-shapes"))
bad("save_checkpoint-no-config", lambda c: save_checkpoint(c.tmp / "a.safetensors", {"w": torch.zeros(2)}, {}), ValueError,
    r"metadata needs a 'config' entry")
bad("save_checkpoint-non-tensor", lambda c: save_checkpoint(c.tmp / "a.safetensors", {"w": [1.0, 2.0]}, {"config": {}}),
    TypeError, r"tensors.*'w'.*list")
bad("save_checkpoint-unserialisable-metadata",
    lambda c: save_checkpoint(c.tmp / "a.safetensors", {"w": torch.zeros(2)}, {"config": {"x": torch.zeros(1)}}),
    TypeError, r"metadata")
good("save-load-roundtrip", lambda c: load_checkpoint(save_checkpoint(c.tmp / "a.safetensors", {"w": torch.arange(3.0)},
                                                                      {"config": {"k": (1, 2)}}), {"k": [1, 2]}),
     lambda out, c: torch.equal(out[0]["w"], torch.arange(3.0)) and out[1]["config"] == {"k": [1, 2]})


def _card(c, text):
    (c.tmp / "pacl-shapes.json").write_text(text)
    return model_card("pacl-shapes", c.tmp)


bad("model_card-bad-json", lambda c: _card(c, "{oops"), ValueError,
    lambda c: rf"model card {re.escape(str(c.tmp / 'pacl-shapes.json'))} is not valid JSON.*{re.escape(REF)} pacl-shapes")
bad("model_card-missing", lambda c: model_card("pacl-shapes", c.tmp), FileNotFoundError, r"no model card pacl-shapes.json")

# ---- names, retraining ------------------------------------------------------------------------------------------------
for value in ("tiny-clip", "PACL-shapes", "", None, 3):
    bad(f"pretrained-unknown-{value!r}", (lambda v: lambda c: vlseg.pretrained(v, device="cpu"))(value), ValueError,
        rf"unknown pretrained model {re.escape(repr(value))}; known: \[")
bad("load_weights-unknown", lambda c: load_weights("clip", c.tmp), ValueError, r"unknown pretrained model 'clip'")
bad("model_card-unknown", lambda c: model_card("cris"), ValueError, r"unknown pretrained model 'cris'")


def _isolated(c, weights=(), corrupt=None):
    """WEIGHTS_DIR → an empty tmp folder (plus copies of ``weights``); CACHE_DIR → a path under a regular FILE, so it
    cannot be created; training would fail the test."""
    wdir = c.tmp / "weights"
    wdir.mkdir()
    for name in weights:
        (wdir / f"{name}.safetensors").write_bytes(_shipped_bytes(name))
    if corrupt is not None:
        (wdir / f"{corrupt}.safetensors").write_bytes(GARBAGE)
    blocker = c.tmp / "a-file"
    blocker.write_text("not a folder")
    c.mp.setattr(vlseg.checkpoint, "WEIGHTS_DIR", wdir)
    c.mp.setattr(vlseg.checkpoint, "CACHE_DIR", blocker / "cache")
    c.mp.setattr(vlseg.shipped, "ship", lambda *a, **k: pytest.fail("training started"))
    return wdir


for name in ("tiny-clip-shapes", "pacl-shapes", "cris-shapes"):
    bad(f"pretrained-{name}-unwritable-cache",
        (lambda n: lambda c: (_isolated(c), vlseg.pretrained(n, device="cpu", retrain=True)))(name),
        PermissionError, lambda c: rf"cannot write to {re.escape(str(c.tmp / 'a-file' / 'cache'))}.*VLSEG_CACHE")
bad("pretrained-no-retrain-no-weights",
    lambda c: (_isolated(c), vlseg.pretrained("pacl-shapes", device="cpu", retrain=False)),
    FileNotFoundError, r"no weights for 'pacl-shapes'")
bad("pretrained-corrupt-shipped",
    lambda c: (_isolated(c, corrupt="tiny-clip-shapes"), vlseg.pretrained("tiny-clip-shapes", device="cpu")),
    CorruptCheckpointError, lambda c: rf"(?s){re.escape(str(c.tmp / 'weights'))}.*corrupt.*{re.escape(REF)} tiny-clip-shapes")
bad("pretrained-pacl-corrupt-with-good-clip",
    lambda c: (_isolated(c, weights=["tiny-clip-shapes"], corrupt="pacl-shapes"), vlseg.pretrained("pacl-shapes", device="cpu")),
    CorruptCheckpointError, lambda c: rf"(?s)pacl-shapes.safetensors.*corrupt.*{re.escape(REF)} pacl-shapes")
good("pretrained-isolated-with-good-weights-loads",
     lambda c: (_isolated(c, weights=["tiny-clip-shapes", "pacl-shapes"]), vlseg.pretrained("pacl-shapes", device="cpu"))[1],
     lambda out, c: tuple(out.segment(IMG, NAMES, background=None).shape) == (1, 64, 64))

# ---- found by an independent probe of 427 misuses (each was an obscure error or a silent answer before) ----------------
_FEATS = torch.randn(40, 8, generator=torch.Generator().manual_seed(0))
_PE, _TE = torch.randn(2, 4, 8), torch.randn(3, 8)
bad("classify-template-two-placeholders", lambda c: c.clip.classify(IMG, NAMES, templates=["{} and {}"]), ValueError,
    r"template .*exactly one")
bad("classify-template-named-placeholder", lambda c: c.clip.classify(IMG, NAMES, templates=["{} {x}"]), ValueError,
    r"template .*exactly one")
bad("zs_predict-pacl-as-bundle", lambda c: zs_predict(c.pacl, IMG, NAMES), TypeError, r"bundle must be a ClipBundle.*PaclModel")
bad("zs_predict-string-as-bundle", lambda c: zs_predict("tiny-clip-shapes", IMG, NAMES), TypeError, r"bundle must be a ClipBundle")
bad("evaluate_segmentation-pacl-as-bundle", lambda c: evaluate_segmentation(c.pacl, SC.images[:4], SEG_TARGETS, ALL),
    TypeError, r"bundle must be a ClipBundle")
bad("confusion_matrix-strings", lambda c: confusion_matrix(["a", "b"], ["a", "a"], 2), TypeError, r"predictions must be")
bad("confusion_matrix-none", lambda c: confusion_matrix(None, torch.tensor([0]), 2), TypeError, r"predictions must be")
good("referring_metrics-list-of-masks",
     lambda c: referring_metrics([torch.ones(4, 4, dtype=torch.bool)] * 2, [torch.ones(4, 4, dtype=torch.bool)] * 2),
     lambda out, c: out["mIoU"] == 1.0)
bad("paired_bootstrap-seed-str", lambda c: paired_bootstrap(torch.rand(5), torch.rand(5), seed="a"), ValueError, r"seed")
bad("class_targets-ignore_index-None", lambda c: class_targets(SC.semantic[:1], ignore_index=None), TypeError,
    r"ignore_index")
bad("class_targets-ignore_index-is-a-class", lambda c: class_targets(SC.semantic[:1], ignore_index=5), ValueError,
    r"ignore_index=5 is a class index")
bad("roc_auc-nan-scores", lambda c: roc_auc(torch.tensor([0.1, float("nan"), 0.3, 0.8]), torch.tensor([0, 0, 1, 1])),
    ValueError, r"scores contain NaN")
bad("roc_auc-labels-not-binary", lambda c: roc_auc(torch.rand(4), torch.tensor([0, 0.3, 1, 1])), ValueError,
    r"labels must be boolean or 0/1")
bad("coherence-single-class-pairs", lambda c: coherence_auc(_FEATS, torch.zeros(40, dtype=torch.long), num_pairs=50),
    ValueError, r"patch_labels: every one of the 50 pairs")
bad("coherence-image_ids-too-short",
    lambda c: coherence_auc(_FEATS, torch.arange(40) % 3, scope="across", image_ids=torch.arange(10)), ValueError,
    r"image_ids has 10 entries for 40")
good("clip_loss-numpy-embeds", lambda c: clip_loss(_FEATS[:4].numpy(), _FEATS[4:8].numpy(), 10.0),
     same_as(lambda c: clip_loss(_FEATS[:4], _FEATS[4:8], 10.0)))
bad("pacl_compatibility-temperature-str", lambda c: pacl_compatibility(_PE, _TE, "1"), TypeError, r"patch_temperature")
bad("pacl_compatibility-chunk-float", lambda c: pacl_compatibility(_PE, _TE, text_chunk_size=2.5), TypeError,
    r"text_chunk_size")
bad("pacl_compatibility-empty", lambda c: pacl_compatibility(_PE[:0], _TE), ValueError, r"empty input")
bad("pacl_compatibility-nan", lambda c: pacl_compatibility(_PE * float("nan"), _TE), ValueError, r"NaN")
bad("generate_batch-image_size-float", lambda c: generate_batch(1, image_size=64.0), ValueError, r"image_size")
bad("generate_batch-classes-string", lambda c: generate_batch(1, classes="red circle"), TypeError,
    r"classes must be a list")
bad("generate_batch-duplicate_prob-2", lambda c: generate_batch(2, duplicate_prob=2.0), ValueError, r"duplicate_prob")
bad("ShapesWorld-block_size-0", lambda c: ShapesWorld(block_size=0), ValueError, r"block_size")
bad("ShapesWorld-float-index", lambda c: ShapesWorld()[1.5], TypeError, r"index must be an integer")
bad("load_checkpoint-None", lambda c: load_checkpoint(None), TypeError, r"path must be a path")
bad("load_checkpoint-device-tpu", lambda c: load_checkpoint(WEIGHTS / "pacl-shapes.safetensors", device="tpu"),
    ValueError, r"device")
good("save_checkpoint-shared-memory",
     lambda c: (lambda t: (save_checkpoint(c.tmp / "s.safetensors", {"a": t, "b": t[:2]}, {"config": {}}),
                           load_checkpoint(c.tmp / "s.safetensors")[0]["b"]))(torch.arange(4.0))[1],
     lambda out, c: out.tolist() == [0.0, 1.0])
bad("save_checkpoint-onto-a-folder", lambda c: save_checkpoint(c.tmp, {"w": torch.zeros(1)}, {"config": {}}),
    IsADirectoryError, r"is a folder")
if not torch.cuda.is_available():
    bad("pretrained-device-cuda-missing", lambda c: vlseg.pretrained("tiny-clip-shapes", device="cuda:7"), ValueError,
        r"device 'cuda:7'")
bad("build_clip-missing-folder", lambda c: vlseg.build_clip("/nonexistent/clip"), FileNotFoundError, r"no folder")
bad("build_clip-None", lambda c: vlseg.build_clip(None), TypeError, r"name must be a path")
bad("tokenize-special-token", lambda c: c.clip.tokenize(["red circle <|endoftext|> blue star"]), ValueError,
    r"texts\[0\] contains the special token")

# ---- known failures (strict xfail): the library gives an obscure error or a silent wrong answer today ----------------
KNOWN_FAILURES: dict[str, str] = {}  # every case passes; a new failing case is listed here with its reason


def _params():
    ids = [case[0] for case in CASES]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    for id_, fn, expect in CASES:
        marks = [pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[id_])] if id_ in KNOWN_FAILURES else []
        yield pytest.param(fn, expect, id=id_, marks=marks)


@pytest.mark.parametrize("call, expect", list(_params()))
def test_bad_input(call, expect, ctx):
    if expect[0] == "raises":
        _, exc, regex = expect
        pattern = regex(ctx) if callable(regex) else regex
        # TypeError and ValueError are both "a clear error" for a bad argument; the file errors must be exactly theirs
        with pytest.raises((TypeError, ValueError) if exc in (TypeError, ValueError) else exc) as info:
            call(ctx)
        assert re.search(pattern, str(info.value)), f"{type(info.value).__name__}: {info.value}\n  does not match {pattern!r}"
    else:
        _, check = expect
        out = call(ctx)
        assert check(out, ctx) is not False, f"wrong answer: {out!r}"


def test_the_table_is_large():
    assert len(CASES) >= 140
