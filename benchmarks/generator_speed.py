"""ShapesWorld generation speed: scenes per second (one process) at several image sizes, in each world.

World "v2" paints more (anti-aliased edges, textured backgrounds, blur); the shifted test world always builds its
referring expressions with its scenes, so it has one column only.

Run: python benchmarks/generator_speed.py   →   benchmarks/results/generator.{json,md}
"""

from __future__ import annotations

import statistics
import time

from _common import machine, write

from vlseg.data import generate_batch, shifted_scenes

BATCH = 256
REPEATS = 5


def scenes_per_second(image_size: int, referring: bool = False, world: str = "v1") -> float:
    if world == "shifted":
        return median_rate(lambda repeat: shifted_scenes(BATCH, seed=1 + repeat, image_size=image_size))
    generate_batch(BATCH, seed=0, image_size=image_size, world=world)  # warm-up
    rates = []
    for repeat in range(REPEATS):
        start = time.perf_counter()
        batch = generate_batch(BATCH, seed=1, block=repeat, image_size=image_size, world=world)
        if referring:
            for i in range(len(batch)):
                batch[i].referring_expressions()
        rates.append(BATCH / (time.perf_counter() - start))
    return statistics.median(rates)


def median_rate(make) -> float:
    """Median scenes/s of ``make(repeat)`` over the repeats, after one warm-up call."""
    make(-1)
    rates = []
    for repeat in range(REPEATS):
        start = time.perf_counter()
        make(repeat)
        rates.append(BATCH / (time.perf_counter() - start))
    return statistics.median(rates)


def main() -> None:
    rows = []
    for world in ("v1", "v2"):
        for size in (32, 64, 128):
            rows.append({"world": world, "image_size": size, "scenes_per_s": round(scenes_per_second(size, world=world)),
                         "with_referring_per_s": round(scenes_per_second(size, referring=True, world=world))})
    for size in (32, 64, 128):
        rows.append({"world": "shifted", "image_size": size, "scenes_per_s": None,
                     "with_referring_per_s": round(scenes_per_second(size, world="shifted"))})
    table = ("| world | image size | scenes/s (images, masks, captions) | scenes/s (+ all referring expressions) |\n"
             "|---|---|---|---|\n")
    table += "\n".join(f"| {r['world']} | {r['image_size']}×{r['image_size']} | "
                       f"{'—' if r['scenes_per_s'] is None else format(r['scenes_per_s'], ',')} | "
                       f"{r['with_referring_per_s']:,} |" for r in rows)
    write("generator", {"machine": machine(), "batch": BATCH, "repeats": REPEATS, "rows": rows}, table)


if __name__ == "__main__":
    main()
