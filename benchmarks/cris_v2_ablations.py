"""CRIS's two ablations retrained on the wider world v2, scored expression by expression against CRIS's own recipe.

Run: python benchmarks/cris_v2_pseudo_words.py --variant paper      (first: the model they are compared with)
     python benchmarks/cris_v2_ablations.py --variant no-decoder   (one variant per process; about an hour of CPU)
     python benchmarks/cris_v2_ablations.py --table                →   benchmarks/results/cris_v2_ablations.{json,md}

Each variant is CRIS's recipe on v2 (``CrisRecipe(world="v2", steps=3000)``: the **paper** variant of
``cris_v2_pseudo_words.py``, which is what ``cris-shapes-v2`` was first shipped with; the same seed, the same batches)
with one change, as in the paper's ablations: **no-decoder** drops the vision-language decoder
(``use_decoder=False``); **dot** replaces the 3×3 sentence-made kernel by a 1×1 one, a plain dot product
(``kernel_size=1``). The variants are not shipped (each would add about 3 MB to the course's 20 MB of weights), so
they are scored here, in the process that trained them, on the very expressions the paper-recipe model was scored on
(``cris_v2_pseudo_words.SETS``, whose per-expression IoUs that benchmark stores): v2's held-out scenes by expression
kind (``KIND_SCENES`` each), v2's held-out class names and held-out phrasings, and the shifted world. For each set:
both models' mIoU and the mean per-expression IoU difference (paper − ablation) with its 95 % paired-bootstrap
interval (``vlseg.metrics.paired_bootstrap``).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine, variant_command, write  # noqa: E402

from cris_v2_pseudo_words import PARTS as BASELINE_PARTS  # noqa: E402
from cris_v2_pseudo_words import SETS, VARIANTS as RECIPES  # noqa: E402

import vlseg  # noqa: E402
from vlseg.cris import train_cris  # noqa: E402
from vlseg.cris.evaluation import expression_ious  # noqa: E402
from vlseg.metrics import paired_bootstrap  # noqa: E402

BASELINE = "paper"  # CRIS's recipe on v2 (cris_v2_pseudo_words.VARIANTS)
VARIANTS: dict[str, dict] = {
    "no-decoder": {"label": "without the vision-language decoder", "model": {"use_decoder": False}},
    "dot": {"label": "a 1×1 dot product instead of the 3×3 kernel", "model": {"kernel_size": 1}},
}
PARTS = RESULTS / "cris_v2_ablations"


def measure(variant: str) -> dict:
    spec = VARIANTS[variant]
    baseline_path = BASELINE_PARTS / f"{BASELINE}.json"
    if not baseline_path.is_file():
        raise SystemExit(f"no {baseline_path}: run "
                         f"`python benchmarks/cris_v2_pseudo_words.py --variant {BASELINE}` first")
    baseline = json.loads(baseline_path.read_text())["sets"]
    recipe = RECIPES[BASELINE]["recipe"].with_model(**spec["model"])
    bundle = vlseg.pretrained("tiny-clip-shapes-v2", device="cpu")
    ablation, result = train_cris(bundle, recipe)
    ablation.eval()
    rows = {}
    for name, arguments in SETS.items():
        ious_paper = torch.tensor(baseline[name]["ious"])  # (N,), stored by cris_v2_pseudo_words.py
        ious_ablation = expression_ious(ablation.predict, **arguments)[0]  # (N,)
        mean, low, high = paired_bootstrap(ious_paper, ious_ablation)
        rows[name] = {"expressions": len(ious_paper), "mIoU paper": round(100 * float(ious_paper.mean()), 2),
                      "mIoU ablation": round(100 * float(ious_ablation.mean()), 2),
                      "paper − ablation": round(100 * mean, 2), "95% low": round(100 * low, 2),
                      "95% high": round(100 * high, 2)}
        print(variant, name, rows[name], flush=True)
    return {"variant": variant, "label": spec["label"], "recipe": asdict(recipe), "steps": result.steps,
            "train_seconds": round(result.seconds, 1), "final_loss": result.history[-1]["loss"], "rows": rows,
            "machine": machine()}


def table(parts: list[dict]) -> str:
    lines = ["Each ablation of CRIS's recipe on v2 (what `cris-shapes-v2` was first shipped with) retrained with one "
             "change, scored on the same expressions; the gap is paper − ablation in IoU points per expression, with "
             "its 95 % paired bootstrap interval.", ""]
    for part in parts:
        lines += [f"**{part['variant']}** ({part['label']}; {part['steps']:,} steps, "
                  f"{part['train_seconds'] / 60:.0f} min)", "",
                  "| set | expressions | mIoU paper | mIoU ablation | gap | 95 % interval |",
                  "|---|---|---|---|---|---|"]
        for name, row in part["rows"].items():
            lines.append(f"| {name} | {row['expressions']} | {row['mIoU paper']:.1f} | {row['mIoU ablation']:.1f} | "
                         f"{row['paper − ablation']:+.2f} | {row['95% low']:+.2f} … {row['95% high']:+.2f} |")
        lines.append("")
    return "\n".join(lines).rstrip()


def gather(parts: dict[str, dict]) -> None:
    if not parts:
        raise SystemExit(f"no measured variants in {PARTS}; run --variant NAME first")
    measured = list(parts.values())
    write("cris_v2_ablations", {"baseline": BASELINE, "variants": measured, "machine": measured[0]["machine"]},
          table(measured))


def main() -> None:
    variant_command(__doc__.splitlines()[0], VARIANTS, PARTS, measure, gather)


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
