"""Generation speed of the worlds: scenes per second (one process) at several image sizes.

ShapesWorld "v1" and its wider "v2" (:func:`vlseg.data.generate_batch`), and the shifted test world
(:func:`vlseg.data.shifted_scenes`, which writes every referring expression as it draws, so both columns are the same
measurement there).

Run: python benchmarks/generator_speed.py   →   benchmarks/results/generator.{json,md}
"""

from __future__ import annotations

import statistics
import time

from _common import machine, write

from vlseg.data import evaluation_scenes

BATCH = 256
REPEATS = 5


def scenes_per_second(image_size: int, referring: bool = False, world: str = "v1") -> float:
    """Median rate over ``REPEATS`` batches of ``world``'s validation scenes (each batch its own seed)."""
    evaluation_scenes(world, BATCH, seed=REPEATS + 1, image_size=image_size)  # warm-up, on a seed that is not timed
    rates = []
    for repeat in range(REPEATS):
        start = time.perf_counter()
        batch = evaluation_scenes(world, BATCH, seed=repeat + 1, image_size=image_size)
        if referring:
            for i in range(len(batch)):
                batch[i].referring_expressions()  # the shifted world's are written already: a cheap list copy
        rates.append(BATCH / (time.perf_counter() - start))
    return statistics.median(rates)


def main() -> None:
    rows = []
    for world in ("v1", "v2", "shifted"):
        for size in (32, 64, 128):
            with_text = scenes_per_second(size, referring=True, world=world)
            alone = with_text if world == "shifted" else scenes_per_second(size, world=world)
            rows.append({"world": world, "image_size": size, "scenes_per_s": round(alone),
                         "with_referring_per_s": round(with_text)})
            print(rows[-1], flush=True)
    table = ("| world | image size | scenes/s (images, masks, captions) | scenes/s (+ all referring expressions) |\n"
             "|---|---|---|---|\n")
    table += "\n".join(f"| {r['world']} | {r['image_size']}×{r['image_size']} | {r['scenes_per_s']:,} | "
                       f"{r['with_referring_per_s']:,} |" for r in rows)
    table += "\n\nThe shifted world writes its referring expressions while it draws: one measurement, in both columns."
    write("generator", {"machine": machine(), "batch": BATCH, "repeats": REPEATS, "rows": rows}, table)


if __name__ == "__main__":
    main()
