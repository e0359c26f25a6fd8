"""Zero-shot accuracy against training time, as measured during the shipped training run.

Run: python benchmarks/accuracy_vs_time.py   →   benchmarks/results/accuracy_vs_time.{json,md,png}

`python -m vlseg.train tiny-clip-shapes` evaluates the model every 250 steps (10 validation scenes per class, all 49
names as candidates) and stores the curve, with the training time spent so far (evaluation excluded), in the
model card. This script draws it and reports the time to reach 50%, 90% and 95%. It also draws the curve of
an earlier full run kept in `results/clip_run_single_then_multi.json` (one-object scenes, then 1–4-object
scenes only), the ablation that motivated the mixed second phase of the shipped recipe.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import json

from _common import RESULTS, write

from vlseg.shipped import model_card


def first_time(curve: list[dict], key: str, level: float) -> float | None:
    return next((row["seconds"] for row in curve if row[key] >= level), None)


def main() -> None:
    card = model_card("tiny-clip-shapes")
    curve = card["eval_curve"]
    minutes = [row["seconds"] / 60 for row in curve]
    fig, ax = plt.subplots(figsize=(6.5, 3.5))
    ax.plot(minutes, [row["top1_seen"] for row in curve], marker="o", ms=3, label="seen classes (42)")
    ax.plot(minutes, [row["top1_heldout"] for row in curve], marker="o", ms=3, label="held-out classes (7)")
    ablation = json.loads((RESULTS / "clip_run_single_then_multi.json").read_text())
    ablation_minutes = [row["seconds"] / 60 for row in ablation["eval_curve"]]
    ax.plot(ablation_minutes, [row["top1_seen"] for row in ablation["eval_curve"]], ls="--", color="C0", alpha=0.5,
            label="seen, earlier run: 1–4 objects only after the switch")
    ax.axhline(0.95, color="k", ls=":", lw=1, label="95% target")
    switch = card["recipe"]["single_object_fraction"] * card["steps"]
    switch_min = next(m for m, row in zip(minutes, curve) if row["step"] >= switch)
    ax.axvline(switch_min, color="gray", ls="--", lw=1)
    ax.text(switch_min, 0.05, " 1–4 objects from here", color="gray", fontsize=8)
    ax.set_xlabel("training time (CPU minutes, evaluation excluded)")
    ax.set_ylabel("zero-shot top-1")
    ax.set_ylim(0, 1)
    ax.legend(loc="lower right", fontsize=7)
    ax.set_title("tiny CLIP on ShapesWorld: accuracy against training time")
    fig.tight_layout()
    RESULTS.mkdir(exist_ok=True)
    fig.savefig(RESULTS / "accuracy_vs_time.png", dpi=130)

    def fmt(seconds):
        return "not reached" if seconds is None else f"{seconds / 60:.1f} min"

    table = "| | seen classes | held-out classes |\n|---|---|---|\n"
    for level in (0.5, 0.9, 0.95):
        table += f"| time to {level:.0%} | {fmt(first_time(curve, 'top1_seen', level))} | {fmt(first_time(curve, 'top1_heldout', level))} |\n"
    final = card["metrics"]
    table += (f"| final (shipped weights, {card['eval']['n_per_class']} scenes/class) | {final['top1_seen']:.1%} | "
              f"{final['top1_heldout']:.1%} |\n")
    table += f"| total training time | {card['train_seconds'] / 60:.1f} min ({card['steps']} steps, {card['steps_per_second']} steps/s) | |\n"
    table += (f"| earlier run (1–4 objects only after the switch), final | {ablation['metrics']['top1_seen']:.1%} | "
              f"{ablation['metrics']['top1_heldout']:.1%} |")
    write("accuracy_vs_time", {"machine": card["machine"], "curve": curve, "metrics": final}, table)


if __name__ == "__main__":
    main()
