"""``torch.utils.data.Dataset`` views of ShapesWorld, for DataLoader-based code."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from vlseg.data.shapes_world import ShapesWorld


class ShapesWorldDataset(Dataset):
    """``length`` scenes of a :class:`ShapesWorld` as a map-style data set.

    Item ``i`` is a dict with ``image`` (3, H, W) uint8, ``semantic`` and ``instance`` (H, W) int64,
    ``caption`` (str) and ``index``. Use :func:`collate_scenes` as the DataLoader's ``collate_fn``.
    ``world`` ("v1", the default, or "v2") and the other keyword arguments go to :class:`ShapesWorld`.
    """

    def __init__(self, length: int, split: str = "train", seed: int = 0, *, world: str = "v1", **world_kwargs) -> None:
        if length < 1:
            raise ValueError(f"length must be >= 1, got {length}")
        self.length = length
        self.world = ShapesWorld(split, seed, world=world, **world_kwargs)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} scenes")
        scene = self.world[index]
        return {
            "image": torch.from_numpy(scene.image).permute(2, 0, 1).contiguous(),  # (3, H, W) uint8
            "semantic": torch.from_numpy(scene.semantic.astype("int64")),  # (H, W)
            "instance": torch.from_numpy(scene.instance.astype("int64")),  # (H, W)
            "caption": scene.caption,
            "index": index,
        }


def collate_scenes(items: list[dict]) -> dict:
    """Stack tensors, keep captions as a list."""
    return {
        "image": torch.stack([it["image"] for it in items]),  # (B, 3, H, W)
        "semantic": torch.stack([it["semantic"] for it in items]),  # (B, H, W)
        "instance": torch.stack([it["instance"] for it in items]),  # (B, H, W)
        "caption": [it["caption"] for it in items],
        "index": torch.tensor([it["index"] for it in items]),
    }
