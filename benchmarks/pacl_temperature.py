"""The effect of PACL's patch temperature τ: short training runs of the vision embedder at several τ.

Run: python benchmarks/pacl_temperature.py   →   benchmarks/results/pacl_temperature.{json,md}

Each run trains the embedder on the frozen shipped tiny CLIP with the shipped recipe except τ and the number of
steps (``STEPS``, shorter than the shipped run to keep the sweep affordable), then evaluates zero-shot
segmentation on chapter 02's 500 validation scenes. τ = 1 is the paper's formula read literally (a softmax of
plain cosines).
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write  # noqa: E402

import vlseg  # noqa: E402
from vlseg.pacl import PaclRecipe, evaluate_pacl_segmentation, train_pacl  # noqa: E402

TEMPERATURES = (0.01, 0.05, 0.2, 1.0)
STEPS = 600


def main() -> None:
    bundle = vlseg.pretrained("tiny-clip-shapes")
    rows = []
    for tau in TEMPERATURES:
        recipe = replace(PaclRecipe(), patch_temperature=tau, steps=STEPS)
        model, result = train_pacl(bundle, recipe)
        scores, _ = evaluate_pacl_segmentation(model)
        rows.append({"patch_temperature": tau, "steps": STEPS, "final_loss": result.history[-1]["loss"],
                     "seconds": round(result.seconds, 1)} | {k: round(v, 4) for k, v in scores.items()})
        print(rows[-1], flush=True)
    table = "| τ | patch accuracy | mIoU | mIoU seen | mIoU held-out | final loss |\n|---|---|---|---|---|---|\n"
    table += "\n".join(
        f"| {r['patch_temperature']}{' (literal)' if r['patch_temperature'] == 1.0 else ''} | {r['patch_accuracy']:.1%} | "
        f"{100 * r['miou']:.1f} | {100 * r['miou_seen']:.1f} | {100 * r['miou_heldout']:.1f} | {r['final_loss']:.3f} |"
        for r in rows
    )
    table += f"\n\n{STEPS} training steps per run (the shipped embedder: {PaclRecipe().steps}), otherwise the shipped recipe."
    write("pacl_temperature", {"machine": machine(), "steps": STEPS, "rows": rows}, table)


if __name__ == "__main__":
    main()
