"""How many torch threads should the notebooks use? Their live work, timed with 1 and 2 threads, alone and beside
a second busy job.

Run: python benchmarks/threads.py   →   benchmarks/results/threads.{json,md}

The workload is what a chapter's live cells do: ``TRAIN_STEPS`` training steps of PACL's embedder and of CRIS at
their chapters' live batch sizes, and PACL's segmentation of ``SEGMENT_SCENES`` scenes. It runs in a child process
with a given thread count (``torch.set_num_threads``, as the notebooks' ``THREADS`` does), either alone or while a
second child runs the same workload with torch's default thread count (the machine's cores) — a second notebook,
a test run, a training started in another terminal. Each condition is timed ``REPEATS`` times; the table shows
the median. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

from _common import machine, write

TRAIN_STEPS, SEGMENT_SCENES, REPEATS = 8, 200, 3

WORKLOAD = r"""
import sys, time, torch
threads = int(sys.argv[1])
if threads > 0:
    torch.set_num_threads(threads)
import vlseg
from vlseg.cris import CRIS, CrisRecipe
from vlseg.cris.training import cris_step_fn
from vlseg.data import CLASS_NAMES, generate_batch
from vlseg.pacl import PaclModel, PaclRecipe
from vlseg.pacl.training import pacl_step_fn
from vlseg.training import TrainConfig, make_optimizer

def train(module, step_fn, steps):
    optimizer = make_optimizer(module, TrainConfig(steps=steps, lr=1e-4))
    for step in range(steps):
        loss = step_fn(step)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

bundle = vlseg.pretrained("tiny-clip-shapes")
scenes = generate_batch(SCENES, seed=0, split="val")
pacl_recipe, cris_recipe = PaclRecipe(seed=0), CrisRecipe(batch_size=32, seed=0)
start = time.perf_counter()
pacl = PaclModel(bundle, pacl_recipe.model)
train(pacl, pacl_step_fn(pacl, pacl_recipe), STEPS)
cris = CRIS(bundle, cris_recipe.model)
train(cris, cris_step_fn(cris, cris_recipe), STEPS)
vlseg.pretrained("pacl-shapes").segment(scenes.images, list(CLASS_NAMES), background=0.5)
print(time.perf_counter() - start)
""".replace("SCENES", str(SEGMENT_SCENES)).replace("STEPS", str(TRAIN_STEPS))


def timed(threads: int, busy: bool) -> float:
    """Seconds of the workload with ``threads`` torch threads, alone or beside a second job."""
    env = {key: value for key, value in os.environ.items() if key not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    neighbour = None
    if busy:  # the second job: the same workload, on torch's default threads, started first and kept running
        loop = f"import subprocess, sys\nwhile True: subprocess.run([sys.executable, '-c', {WORKLOAD!r}, '0'])"
        neighbour = subprocess.Popen([sys.executable, "-c", loop], env=env, stdout=subprocess.DEVNULL)
        time.sleep(8)  # let it reach its training loop
    try:
        result = subprocess.run([sys.executable, "-c", WORKLOAD, str(threads)], env=env, capture_output=True,
                                text=True, check=True)
    finally:
        if neighbour is not None:
            neighbour.kill()
            neighbour.wait()
            subprocess.run(["pkill", "-f", "import sys, time, torch"], check=False)
    return float(result.stdout.strip().splitlines()[-1])


def main() -> None:
    rows = {}
    for busy in (False, True):
        for threads in (1, 2):
            times = [timed(threads, busy) for _ in range(REPEATS)]
            rows[f"{threads} thread{'s' if threads > 1 else ''}, {'beside a second job' if busy else 'alone'}"] = {
                "threads": threads, "busy": busy, "seconds": times, "median": statistics.median(times)}
            print(list(rows)[-1], [round(t, 1) for t in times], flush=True)
    lines = ["| torch threads, machine | seconds (median of 3) | runs |", "|---|---|---|"]
    for label, row in rows.items():
        lines.append(f"| {label} | {row['median']:.1f} | {', '.join(f'{t:.1f}' for t in row['seconds'])} |")
    payload = {"machine": machine(), "workload": {"train_steps": TRAIN_STEPS, "segment_scenes": SEGMENT_SCENES},
               "rows": rows}
    write("threads", payload, "\n".join(lines))
    print(json.dumps({k: round(v["median"], 1) for k, v in rows.items()}))


if __name__ == "__main__":
    main()
