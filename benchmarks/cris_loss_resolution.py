"""CRIS's loss on a shrunk mask or on upsampled logits: the ceiling each allows, and what training with each gives.

Run: python benchmarks/cris_loss_resolution.py --ceiling      (seconds: no model involved)
     python benchmarks/cris_loss_resolution.py --variant full-resolution          (trains it: about 45 min of CPU)
     python benchmarks/cris_loss_resolution.py --variant full-resolution --from DIR   (scores DIR/cris-shapes-v2.*,
                                             trained with this benchmark's RECIPE)
     python benchmarks/cris_loss_resolution.py --table   →   benchmarks/results/cris_loss_resolution.{json,md}

CRIS predicts its mask on a grid four times finer than the patches — 32 × 32 for ShapesWorld's 64 px images — and its
official code computes the loss there, on the mask shrunk by nearest interpolation (``vlseg.cris.loss``). At inference
the prediction is upsampled bilinearly to the image. **The ceiling**: if a model reproduced the shrunk mask exactly,
what would it score? Each validation mask is shrunk to 32 × 32 (by nearest, as CRIS does, or by area, the share of
each block inside the object), upsampled back bilinearly and thresholded at CRIS's 0.35. **The variant**: the recipe
``cris-shapes-v2`` shipped with before its pixel refiner, whose ``CrisRecipe(full_resolution_loss=True)`` computes
the same BCE on the logits upsampled to the mask's 64 × 64 (not in CRIS), scored on the same expressions as the same
recipe with CRIS's loss on the shrunk mask — the ``pseudo-words`` part of ``cris_v2_pseudo_words.py``, the model
shipped before (same seed, same training batches) — with the gap full-resolution − CRIS's loss in IoU points per
expression and its 95 % paired-bootstrap interval. The weights it scored were those shipped then (commit 272333b of
the repository); ``cris-shapes-v2`` now ships with a pixel refiner on top (``cris_v2_recipe_sweep.py``).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine, write  # noqa: E402
from cris_v2_pseudo_words import (NAME, PARTS as BASELINE_PARTS, VARIANTS as BASELINE_VARIANTS, gaps,  # noqa: E402
                                  measure_recipe, phrasing_breakdown)

from vlseg.cris import CrisConfig, CrisRecipe  # noqa: E402
from vlseg.cris.evaluation import EVAL_SETS, OTHER_WORLD_SETS, evaluation_batches  # noqa: E402
from vlseg.metrics import mask_ious, precision_at  # noqa: E402

BASELINE = "pseudo-words"  # cris_v2_pseudo_words.py's part: RECIPE with CRIS's loss on the shrunk mask
VARIANT = "full-resolution"
RECIPE = CrisRecipe(world="v2", steps=3000, pseudo_words=0.5, full_resolution_loss=True)  # shipped before the refiner
BASELINE_RECIPE = BASELINE_VARIANTS[BASELINE]["recipe"]
assert RECIPE == replace(BASELINE_RECIPE, full_resolution_loss=True), "the two parts must differ in the loss alone"
LABEL = "cris-shapes-v2 as shipped before its refiner: the loss on logits upsampled to the mask (not in CRIS)"
PARTS = RESULTS / "cris_loss_resolution"
CEILING_SETS: dict[str, dict] = {  # the validation masks of the sets the shipped card reports
    "v2 held-out scenes": EVAL_SETS["held-out scenes"] | {"world": "v2"},
    "v2 held-out phrasings": OTHER_WORLD_SETS["held-out phrasings"],
    "v1": OTHER_WORLD_SETS["v1"],
    "shifted": OTHER_WORLD_SETS["shifted"],
}
COARSE = 32  # the logits' side for 64 px images
THRESHOLD = CrisConfig().threshold


def round_trip(masks: torch.Tensor, mode: str) -> torch.Tensor:
    """(N, H, W) {0, 1} → shrunk to COARSE × COARSE by ``mode``, upsampled back bilinearly, thresholded: (N, H, W)."""
    coarse = F.interpolate(masks[:, None].float(), size=(COARSE, COARSE), mode=mode)  # (N, 1, c, c)
    return F.interpolate(coarse, size=masks.shape[-2:], mode="bilinear", align_corners=False)[:, 0] > THRESHOLD


def ceiling() -> dict:
    rows = {}
    for name, arguments in CEILING_SETS.items():
        masks = torch.cat([torch.as_tensor(batch.masks) for batch in evaluation_batches(**arguments)]).bool()  # (N, H, W)
        rows[name] = {"expressions": len(masks), "mean object area (px)": round(float(masks.sum((1, 2)).float().mean()), 1)}
        for mode in ("nearest", "area"):
            rows[name][f"mIoU, mask shrunk by {mode}"] = round(100 * float(mask_ious(round_trip(masks, mode), masks).mean()), 2)
        print(name, rows[name], flush=True)
    return {"coarse": COARSE, "threshold": THRESHOLD, "rows": rows, "machine": machine()}


def almost_exact(part: dict) -> dict[str, float]:
    """prec@0.9 of a measured part on each of its sets: the percentage of expressions whose IoU is above 0.9."""
    return {name: round(100 * precision_at(torch.tensor(scored["ious"]), 0.9), 2) for name, scored in part["sets"].items()}


def table(ceilings: dict, parts: dict[str, dict]) -> str:
    lines = [f"**The ceiling**: a coarse prediction ({ceilings['coarse']} × {ceilings['coarse']}) equal to the shrunk mask, "
             f"upsampled bilinearly and thresholded at {ceilings['threshold']}; mIoU against the full mask.", "",
             "| validation set | expressions | mean object area (px) | shrunk by nearest (CRIS) | shrunk by area |",
             "|---|---|---|---|---|"]
    lines += [f"| {name} | {row['expressions']} | {row['mean object area (px)']:.0f} | "
              f"{row['mIoU, mask shrunk by nearest']:.1f} | {row['mIoU, mask shrunk by area']:.1f} |"
              for name, row in ceilings["rows"].items()]
    if VARIANT in parts:
        part = parts[VARIANT]
        lines += ["", f"**{VARIANT}** ({part['label']}; {part['steps']:,} steps, {part['train_seconds'] / 60:.0f} min), "
                  f"against the same recipe with CRIS's loss on the shrunk mask ({BASELINE}, shipped before) on the same "
                  f"expressions:", "",
                  f"| set | expressions | mIoU CRIS's loss | mIoU {VARIANT} | gap | 95 % interval |", "|---|---|---|---|---|---|"]
        for name, row in gaps(parts, baseline=BASELINE)[VARIANT].items():
            lines.append(f"| {name} | {row['expressions']} | {row[f'mIoU {BASELINE}']:.1f} | {row[f'mIoU {VARIANT}']:.1f} | "
                         f"{row['gap']:+.2f} | {row['95% low']:+.2f} … {row['95% high']:+.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ceiling", action="store_true", help="measure the ceilings (seconds)")
    parser.add_argument("--variant", choices=[VARIANT])
    parser.add_argument("--from", dest="folder", type=Path, default=None,
                        help="score the weights trained into FOLDER (see the module's docstring) instead of training")
    parser.add_argument("--table", action="store_true", help="gather the measured parts into one table")
    args = parser.parse_args()
    if not (args.ceiling or args.variant or args.table):
        parser.error("give --ceiling, --variant full-resolution or --table")
    PARTS.mkdir(parents=True, exist_ok=True)
    if args.ceiling:
        (PARTS / "ceiling.json").write_text(json.dumps(ceiling(), indent=1) + "\n")
    if args.variant:
        part = measure_recipe(VARIANT, LABEL, RECIPE, args.folder)
        (PARTS / f"{VARIANT}.json").write_text(json.dumps(part, indent=1) + "\n")
    if args.table:
        ceilings = json.loads((PARTS / "ceiling.json").read_text())
        parts = {name: json.loads(path.read_text()) for name, path in
                 ((BASELINE, BASELINE_PARTS / f"{BASELINE}.json"), (VARIANT, PARTS / f"{VARIANT}.json")) if path.is_file()}
        write("cris_loss_resolution", {"ceiling": ceilings, "shipped": NAME, "baseline": BASELINE,
                                       "gaps": gaps(parts, baseline=BASELINE) if VARIANT in parts else {},
                                       "variants": {name: {k: v for k, v in part.items() if k != "sets"}
                                                    for name, part in parts.items()},
                                       "held-out phrasings": phrasing_breakdown(parts),
                                       "prec@0.9": {name: almost_exact(part) for name, part in parts.items()},
                                       "machine": ceilings["machine"]}, table(ceilings, parts))


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
