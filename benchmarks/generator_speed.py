"""ShapesWorld generation speed: scenes per second (one process) at several image sizes.

Run: python benchmarks/generator_speed.py   →   benchmarks/results/generator.{json,md}
"""

from __future__ import annotations

import statistics
import time

from _common import machine, write

from vlseg.data import generate_batch

BATCH = 256
REPEATS = 5


def scenes_per_second(image_size: int, referring: bool = False) -> float:
    generate_batch(BATCH, seed=0, image_size=image_size)  # warm-up
    rates = []
    for repeat in range(REPEATS):
        start = time.perf_counter()
        batch = generate_batch(BATCH, seed=1, block=repeat, image_size=image_size)
        if referring:
            for i in range(len(batch)):
                batch[i].referring_expressions()
        rates.append(BATCH / (time.perf_counter() - start))
    return statistics.median(rates)


def main() -> None:
    rows = []
    for size in (32, 64, 128):
        rows.append({"image_size": size, "scenes_per_s": round(scenes_per_second(size)),
                     "with_referring_per_s": round(scenes_per_second(size, referring=True))})
    table = "| image size | scenes/s (images, masks, captions) | scenes/s (+ all referring expressions) |\n|---|---|---|\n"
    table += "\n".join(f"| {r['image_size']}×{r['image_size']} | {r['scenes_per_s']:,} | {r['with_referring_per_s']:,} |" for r in rows)
    write("generator", {"machine": machine(), "batch": BATCH, "repeats": REPEATS, "rows": rows}, table)


if __name__ == "__main__":
    main()
