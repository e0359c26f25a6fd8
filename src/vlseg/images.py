"""What the public calls accept as images, and how each output pixel maps back to its input pixel.

Accepted everywhere (``classify``, ``segment``, ``query_maps``, ``predict``, ``ClipBundle.pixel_values``):

* a numpy array or torch tensor of **uint8 RGB, channels last**: one image ``(H, W, 3)`` or a batch
  ``(N, H, W, 3)`` of images of one size;
* a PIL image (any mode; converted to RGB);
* a list or tuple of such single images, whose sizes may differ: dense outputs then come back as a list.

**Resize-and-back.** The model sees every image resized (bilinear, antialiased) to its ``S × S`` input, whatever
the aspect ratio: a 64 × 128 image is squashed, not cropped. Dense outputs are computed on the model's grid and
resized back to the image's own ``H × W``, so output pixel ``(y, x)`` always belongs to input pixel ``(y, x)``.
Images already ``S × S`` are not resampled at all. (CLIP's own preprocessing crops the centre square instead;
segmentation needs every pixel, so this course stretches.)

Anything else — floats, channel-first tensors, wrong ranks, empty batches, strings — raises a ``TypeError`` or
``ValueError`` that names the argument, what was received and what is expected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

EIGHT_BIT_PIL_MODES = ("1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "LAB", "HSV")
EXPECTED = "uint8 RGB images, channels last: (H, W, 3), (N, H, W, 3), a PIL image, or a list of those"


def _describe(value: Any) -> str:
    if isinstance(value, (np.ndarray, Tensor)):
        kind = "tensor" if isinstance(value, Tensor) else "array"
        return f"a {kind} of shape {tuple(value.shape)} and dtype {value.dtype}"
    return f"a {type(value).__name__}"


def _as_uint8_tensor(value: Any, name: str) -> Tensor:
    """One array-like → a contiguous, writable uint8 CPU tensor (shape not yet checked)."""
    if isinstance(value, Image.Image):
        if value.mode not in EIGHT_BIT_PIL_MODES:
            raise TypeError(f"{name} is a PIL image of mode {value.mode!r}, not 8 bits per channel; convert it to "
                            f"8-bit RGB first (e.g. scale to 0–255, then .convert('RGB'))")
        return torch.from_numpy(np.array(value.convert("RGB"), dtype=np.uint8))
    if isinstance(value, Tensor):
        tensor = value.detach().cpu()
    elif isinstance(value, np.ndarray):
        if value.dtype == object:
            raise TypeError(f"{name} must be {EXPECTED}; got {_describe(value)} (ragged? pass a list of images)")
        tensor = None
    else:
        raise TypeError(f"{name} must be {EXPECTED}; got {_describe(value)}")
    dtype = value.dtype
    if dtype not in (np.uint8, torch.uint8):
        is_float = tensor.is_floating_point() if tensor is not None else np.issubdtype(dtype, np.floating)
        hint = ""
        if is_float:
            array = value.float() if tensor is not None else torch.from_numpy(np.asarray(value, dtype=np.float32))
            if array.numel() and bool(torch.isnan(array).any()):
                hint = " It contains NaN."
            elif array.numel():
                hint = (f" Its values span {float(array.min()):.3g}…{float(array.max()):.3g}; for floats in [0, 1] "
                        "pass (x * 255).round() as uint8.")
        raise TypeError(f"{name} must be uint8 (0–255); got {_describe(value)}.{hint}")
    if tensor is None:  # a copy: handles negative strides (flipped views) and read-only arrays alike
        tensor = torch.from_numpy(np.array(value, dtype=np.uint8, copy=True))
    return tensor.contiguous()


def _check_shape(tensor: Tensor, name: str, batch_allowed: bool) -> None:
    shape = tuple(tensor.shape)
    ranks = "(H, W, 3) or (N, H, W, 3)" if batch_allowed else "(H, W, 3) (one image per list item)"
    if tensor.ndim not in ((3, 4) if batch_allowed else (3,)):
        raise ValueError(f"{name} must have shape {ranks}; got shape {shape}")
    if shape[-1] != 3:
        channel_first = shape[-3] == 3 if tensor.ndim >= 3 else False
        hint = " — it looks channel-first: use .permute(0, 2, 3, 1) (or (1, 2, 0) for one image)" if channel_first else ""
        raise ValueError(f"{name} must have 3 colour channels last, {ranks}; got shape {shape}{hint}")
    if tensor.ndim == 4 and shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (shape {shape}); pass at least one image")
    if shape[-3] == 0 or shape[-2] == 0:
        raise ValueError(f"{name} has an empty image (shape {shape}); height and width must be at least 1")


@dataclass
class Images:
    """Checked input images. Either ``block`` (N, H, W, 3) uint8 — one size — or ``items``, one (H, W, 3) each."""

    block: Tensor | None
    items: list[Tensor] | None
    as_list: bool  # the caller passed a list: answer with a list

    def __len__(self) -> int:
        return len(self.block) if self.block is not None else len(self.items)  # type: ignore[arg-type]

    @property
    def sizes(self) -> list[tuple[int, int]]:
        if self.block is not None:
            return [tuple(self.block.shape[1:3])] * len(self.block)  # type: ignore[list-item]
        return [tuple(item.shape[:2]) for item in self.items]  # type: ignore[misc, union-attr]

    def split(self, size: int) -> Iterator["Images"]:
        """The images in consecutive chunks of at most ``size`` (to bound memory)."""
        for start in range(0, len(self), size):
            chunk = slice(start, start + size)
            yield Images(self.block[chunk] if self.block is not None else None,
                         self.items[chunk] if self.items is not None else None, self.as_list)

    def model_input(self, size: int) -> Tensor:
        """All images as floats in [0, 1] at the model's ``size × size``: (N, 3, S, S), on the CPU."""
        if self.block is not None:
            return resize_images(self.block.permute(0, 3, 1, 2), size)
        return torch.cat([resize_images(item.permute(2, 0, 1)[None], size) for item in self.items])  # type: ignore[union-attr]

    def back(self, maps: Tensor, mode: str = "bilinear") -> Tensor | list[Tensor]:
        """Dense model outputs (N, C, h, w) → each image's own size: (N, C, H, W), or a list of (C, H, W)."""
        maps = maps.float()
        if not self.as_list and self.block is not None:
            height, width = self.block.shape[1:3]
            return _resize(maps, (int(height), int(width)), mode)
        return [_resize(one[None], size, mode)[0] for one, size in zip(maps, self.sizes)]


def _resize(maps: Tensor, size: tuple[int, int], mode: str) -> Tensor:
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return F.interpolate(maps, size=size, mode=mode, align_corners=False)


def resize_images(images: Tensor, size: int) -> Tensor:
    """uint8 (N, 3, H, W) → float (N, 3, S, S) in [0, 1]; bilinear with antialiasing, untouched when already S × S."""
    pixels = images.float() / 255.0
    if tuple(pixels.shape[-2:]) == (size, size):
        return pixels
    return F.interpolate(pixels, size=(size, size), mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)


def as_images(images: Any, name: str = "images") -> Images:
    """Check and convert what a caller passed as images (see the module docstring for what is accepted)."""
    if isinstance(images, Images):
        return images
    if isinstance(images, (list, tuple)):
        if len(images) == 0:
            raise ValueError(f"{name} is an empty list; pass at least one image")
        items = []
        for index, item in enumerate(images):
            tensor = _as_uint8_tensor(item, f"{name}[{index}]")
            _check_shape(tensor, f"{name}[{index}]", batch_allowed=False)
            items.append(tensor)
        return Images(None, items, as_list=True)
    if isinstance(images, (str, bytes)):
        raise TypeError(f"{name} must be {EXPECTED}; got a {type(images).__name__} (load the file with PIL first)")
    tensor = _as_uint8_tensor(images, name)
    _check_shape(tensor, name, batch_allowed=True)
    return Images(tensor[None] if tensor.ndim == 3 else tensor, None, as_list=False)
