"""How much memory does a computation hold? Peak bytes of the tensors it creates, counted exactly.

Process-level numbers (peak resident set size) mix in the allocator's caching and fragmentation, thread-pool
buffers and one-off library initialisation; on a CPU they vary run to run by more than the quantity of interest.
:class:`TensorMemoryTracker` counts what the algorithm itself keeps alive: a ``TorchDispatchMode`` sees every
tensor an operation returns, remembers its storage through a weak reference, and after each operation sums the
bytes of the storages still alive. Inputs created before the tracker starts are not counted; scratch space used
*inside* a single kernel (and freed before it returns) is not visible either.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves


class TensorMemoryTracker(TorchDispatchMode):
    """``with TensorMemoryTracker() as tracker: …`` then ``tracker.peak_bytes``."""

    def __init__(self) -> None:
        super().__init__()
        self.live: dict[int, tuple[StorageWeakRef, int]] = {}  # storage pointer → (weak ref, bytes)
        self.preexisting: set[int] = set()  # storages that existed before (inputs): never counted
        self.peak_bytes = 0

    def _prune(self) -> int:
        self.live = {ptr: (ref, size) for ptr, (ref, size) in self.live.items() if not ref.expired()}
        return sum(size for _, size in self.live.values())

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        for leaf in tree_leaves((args, kwargs)):
            if isinstance(leaf, torch.Tensor):
                ptr = leaf.untyped_storage().data_ptr()
                if ptr not in self.live:
                    self.preexisting.add(ptr)  # an input made outside (a view of it shares its storage)
        out = func(*args, **(kwargs or {}))
        known = set(self.live) | self.preexisting
        for leaf in tree_leaves(out):
            if isinstance(leaf, torch.Tensor) and leaf.device.type != "meta":
                storage = leaf.untyped_storage()
                ptr = storage.data_ptr()
                if ptr not in known and storage.nbytes() > 0:
                    self.live[ptr] = (StorageWeakRef(storage), storage.nbytes())
                    known.add(ptr)
        self.peak_bytes = max(self.peak_bytes, self._prune())
        return out
