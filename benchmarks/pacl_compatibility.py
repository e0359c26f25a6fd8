"""PACL's all-pairs compatibility φ̂: naive (builds B × B × D) against the chunked Gram form of vlseg.pacl.

Run: python benchmarks/pacl_compatibility.py [--device cuda]   →   benchmarks/results/pacl_compatibility[_cuda].{json,md}

For B_img = B_txt = B ∈ {128, 512, 1024}, T = 196 patches (ViT-B/16 at 224 px), D = 512, forward only
(``torch.no_grad``), float32:

* **agreement**: the largest |φ̂_naive − φ̂_efficient| over the B × B matrix;
* **peak memory beyond the inputs**: on CPU, the peak bytes of the tensors the call creates, counted exactly by
  :class:`vlseg.memory.TensorMemoryTracker` (process-level numbers such as the peak RSS mix in allocator caching
  and vary run to run); on CUDA, ``torch.cuda.max_memory_allocated`` above the inputs after a reset;
* **time**: the best of ``REPEATS`` calls after one warm-up call.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write  # noqa: E402

from vlseg.memory import TensorMemoryTracker  # noqa: E402
from vlseg.pacl import pacl_compatibility, pacl_compatibility_naive  # noqa: E402

SIZES = (128, 512, 1024)
TOKENS, DIM = 196, 512
REPEATS = 3
MIB = 2**20
METHODS = {"naive": pacl_compatibility_naive, "efficient": pacl_compatibility}


def inputs(batch: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator(device=device).manual_seed(batch)
    patches = torch.empty(batch, TOKENS, DIM, device=device).normal_(generator=generator)  # filled in place
    texts = torch.empty(batch, DIM, device=device).normal_(generator=generator)
    return patches, texts


@torch.no_grad()
def measure(method: str, batch: int, device: str) -> dict:
    """One (method, B) cell: peak memory of the first call beyond the inputs, best time of the next ones, the result."""
    patches, texts = inputs(batch, device)
    fn = METHODS[method]
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        fn(patches, texts, 0.1)
        torch.cuda.synchronize()
        extra = torch.cuda.max_memory_allocated() - before
    else:
        with TensorMemoryTracker() as tracker:
            fn(patches, texts, 0.1)
        extra = tracker.peak_bytes
    times = []
    for _ in range(REPEATS):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        result = fn(patches, texts, 0.1)
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return {"extra_mib": extra / MIB, "seconds": min(times), "result": result.cpu()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    rows = []
    for batch in SIZES:
        cells = {m: measure(m, batch, args.device) for m in METHODS}
        naive, efficient = cells["naive"], cells["efficient"]
        rows.append({
            "B": batch,
            "max_abs_diff": float((naive["result"] - efficient["result"]).abs().max()),
            "naive_mib": round(naive["extra_mib"], 1), "efficient_mib": round(efficient["extra_mib"], 1),
            "naive_s": round(naive["seconds"], 3), "efficient_s": round(efficient["seconds"], 3),
            "bxbxd_mib": batch * batch * DIM * 4 / MIB,
        })
        print(rows[-1], flush=True)
    table = ("| B | naive: peak memory | efficient: peak memory | memory ratio | naive: time | "
             "efficient: time | time ratio | max abs. difference |\n|---|---|---|---|---|---|---|---|\n")
    table += "\n".join(
        f"| {r['B']} | {r['naive_mib']:,.0f} MiB | {r['efficient_mib']:,.0f} MiB | "
        f"{r['naive_mib'] / max(r['efficient_mib'], 1e-9):.0f}× | {r['naive_s']:.2f} s | {r['efficient_s']:.2f} s | "
        f"{r['naive_s'] / r['efficient_s']:.1f}× | {r['max_abs_diff']:.1e} |" for r in rows
    )
    table += (f"\n\nT = {TOKENS}, D = {DIM}, B_img = B_txt = B, forward only, float32, best of {REPEATS} calls; "
              "peak memory beyond the inputs. "
              "The B × B × D tensor alone would take " + ", ".join(f"{r['bxbxd_mib']:,.0f} MiB" for r in rows) + ".")
    name = "pacl_compatibility" + ("" if args.device == "cpu" else f"_{args.device}")
    device_info = machine() + (f", {torch.cuda.get_device_name()}" if args.device == "cuda" else "")
    write(name, {"machine": device_info, "tokens": TOKENS, "dim": DIM, "rows": rows}, table)


if __name__ == "__main__":
    main()
