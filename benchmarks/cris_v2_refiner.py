"""CRIS v2 with and without the pixel refiner, expression by expression.

Run: python benchmarks/cris_v2_refiner.py --variant refiner --from src/vlseg/weights   (scores the shipped weights)
     python benchmarks/cris_v2_refiner.py --variant refiner      (trains it instead: about an hour of CPU)
     python benchmarks/cris_v2_refiner.py --table   →   benchmarks/results/cris_v2_refiner.{json,md}

**refiner** is the recipe ``cris-shapes-v2`` ships with: the recipe shipped before it (the ``full-resolution`` part of
``cris_loss_resolution.py``: invented words and the loss at the image's resolution) with a
:class:`~vlseg.cris.refiner.PixelRefiner` of 16 channels after the projector (not in CRIS), and nothing else changed:
the same seed, so the same batches and the same initial weights for every layer the two share. Both are scored on the
same expressions (:data:`cris_v2_pseudo_words.SETS`), with the gap refiner − full-resolution in IoU points per
expression and its 95 % paired-bootstrap interval, prec@0.9 on every set, and v2's held-out phrasings by group.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, write  # noqa: E402
from cris_loss_resolution import PARTS as BASELINE_PARTS, RECIPE as BASELINE_RECIPE, VARIANT as BASELINE  # noqa: E402
from cris_loss_resolution import almost_exact  # noqa: E402
from cris_v2_pseudo_words import NAME, gaps, measure_recipe, phrasing_breakdown  # noqa: E402

from vlseg.registry import recipe_with  # noqa: E402

VARIANT = "refiner"
RECIPE = recipe_with(NAME)
assert RECIPE == replace(BASELINE_RECIPE, model=replace(BASELINE_RECIPE.model, refiner_channels=16)), \
    "the two parts must differ in the refiner alone"
LABEL = "cris-shapes-v2 as shipped: a pixel refiner of 16 channels after the projector (not in CRIS)"
PARTS = RESULTS / "cris_v2_refiner"


def table(parts: dict[str, dict]) -> str:
    part, precise = parts[VARIANT], {name: almost_exact(p) for name, p in parts.items()}
    lines = [f"**{VARIANT}** ({part['label']}; {part['steps']:,} steps, {part['train_seconds'] / 60:.0f} min), against "
             f"the recipe shipped before ({BASELINE}: the same without the refiner) on the same expressions:", "",
             f"| set | expressions | mIoU {BASELINE} | mIoU {VARIANT} | gap | 95 % interval | prec@0.9 {BASELINE} | "
             f"prec@0.9 {VARIANT} |", "|---|---|---|---|---|---|---|---|"]
    for name, row in gaps(parts, baseline=BASELINE)[VARIANT].items():
        lines.append(f"| {name} | {row['expressions']} | {row[f'mIoU {BASELINE}']:.1f} | "
                     f"{row[f'mIoU {VARIANT}']:.1f} | {row['gap']:+.2f} | {row['95% low']:+.2f} … {row['95% high']:+.2f} | "
                     f"{precise[BASELINE][name]:.1f} | {precise[VARIANT][name]:.1f} |")
    breakdown = phrasing_breakdown(parts)
    lines += ["", "v2's held-out phrasings, mIoU by group and by template:", "",
              f"| expressions | n | {BASELINE} | {VARIANT} |", "|---|---|---|---|"]
    for label, row in breakdown[VARIANT].items():
        lines.append(f"| {label} | {row['n']:.0f} | {breakdown[BASELINE][label]['mIoU']:.1f} | {row['mIoU']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=[VARIANT])
    parser.add_argument("--from", dest="folder", type=Path, default=None,
                        help="score the weights `python -m vlseg.train cris-shapes-v2 --out FOLDER` wrote")
    parser.add_argument("--table", action="store_true", help="gather the measured parts into one table")
    args = parser.parse_args()
    if not (args.variant or args.table):
        parser.error("give --variant refiner or --table")
    if args.variant:
        PARTS.mkdir(parents=True, exist_ok=True)
        part = measure_recipe(VARIANT, LABEL, RECIPE, args.folder)
        (PARTS / f"{VARIANT}.json").write_text(json.dumps(part, indent=1) + "\n")
    if args.table:
        parts = {BASELINE: json.loads((BASELINE_PARTS / f"{BASELINE}.json").read_text()),
                 VARIANT: json.loads((PARTS / f"{VARIANT}.json").read_text())}
        write("cris_v2_refiner", {"shipped": NAME, "baseline": BASELINE, "gaps": gaps(parts, baseline=BASELINE),
                                  "variants": {name: {k: v for k, v in part.items() if k != "sets"}
                                               for name, part in parts.items()},
                                  "held-out phrasings": phrasing_breakdown(parts),
                                  "prec@0.9": {name: almost_exact(part) for name, part in parts.items()},
                                  "machine": parts[VARIANT]["machine"]}, table(parts))


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
