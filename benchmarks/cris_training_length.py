"""Is CRIS's mIoU on ShapesWorld limited by the training budget? The shipped recipe, twice as long.

Run: python benchmarks/cris_training_length.py   →   benchmarks/results/cris_training_length.{json,md}

Trains the full model (``cris-shapes``) with the shipped recipe except the number of steps (``STEPS``, twice the
shipped run), evaluates it on the chapter's held-out scenes, and sets it beside the shipped model's card.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write  # noqa: E402

import vlseg  # noqa: E402
from vlseg.cris import EVAL_SETS, evaluate_referring, train_cris  # noqa: E402
from vlseg.registry import recipe_with  # noqa: E402
from vlseg.shipped import model_card  # noqa: E402

STEPS = 3000


def main() -> None:
    bundle = vlseg.pretrained("tiny-clip-shapes")
    shipped = model_card("cris-shapes")
    model, result = train_cris(bundle, recipe_with("cris-shapes", steps=STEPS))
    longer = evaluate_referring(model.predict, **EVAL_SETS["held-out scenes"])
    rows = [
        {"steps": shipped["steps"], "train_seconds": shipped["train_seconds"], "source": "shipped card"}
        | shipped["metrics"]["held-out scenes"],
        {"steps": STEPS, "train_seconds": round(result.seconds, 1), "source": "this run"}
        | {k: round(v, 4) for k, v in longer.items()},
    ]
    print(rows, flush=True)
    write("cris_training_length", {"machine": machine(), "rows": rows}, render(rows))


def render(rows: list[dict]) -> str:
    """The markdown table of the book (also from a saved JSON: ``render(json.load(...)["rows"])``)."""
    table = "| steps | mIoU | oIoU | prec@0.5 | prec@0.9 | training minutes | source |\n|---|---|---|---|---|---|---|\n"
    table += "\n".join(
        f"| {r['steps']} | {100 * r['mIoU']:.1f} | {100 * r['oIoU']:.1f} | {100 * r['prec@0.5']:.1f} | "
        f"{100 * r['prec@0.9']:.1f} | {r['train_seconds'] / 60:.0f} | {r['source']} |" for r in rows
    )
    return table + ("\n\nHeld-out scenes (400 expressions, seed 11); otherwise the shipped recipe. Training minutes are "
                    "wall-clock time of one torch thread while another job shared the machine.")


if __name__ == "__main__":
    main()
