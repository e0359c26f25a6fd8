"""CRIS on v2 with and without invented words in its training expressions, expression by expression.

Run: python benchmarks/cris_v2_pseudo_words.py --variant paper          (trains it: about an hour of CPU)
     python benchmarks/cris_v2_pseudo_words.py --variant paper --from DIR   (scores DIR/cris-shapes-v2.safetensors,
                                                  as written by `python -m vlseg.train cris-shapes-v2 --out DIR`)
     python benchmarks/cris_v2_pseudo_words.py --table   →   benchmarks/results/cris_v2_pseudo_words.{json,md}

Two recipes, the same in all but one field: **paper**, CRIS's recipe on v2 (``CrisRecipe(world="v2", steps=3000)``,
what ``cris-shapes-v2`` was first shipped with), and **pseudo-words**, the recipe it was shipped with next, which
gives half of the training expressions one invented word (``pseudo_words=0.5``;
:func:`vlseg.cris.data.with_pseudo_words`). Both keep CRIS's loss on the shrunk mask; the shipped recipe adds the loss
at the image's resolution on top of pseudo-words (``cris_loss_resolution.py`` measures that step), then a pixel
refiner (``cris_v2_recipe_sweep.py``). A variant given
``--from`` is checked against its recipe (the card's) before it is scored. Both are scored on :data:`SETS` (v2's
held-out scenes by kind, held-out class names and held-out phrasings, and the shifted world;
``cris_v2_ablations.py`` scores its ablations on the same), with the gap pseudo-words − paper in IoU points per
expression and its 95 % paired-bootstrap interval; and on v2's held-out phrasings by template and by whether the
expression's direction is said only in words never trained on (:data:`vlseg.data.referring.HELDOUT_DIRECTION_WORDS`).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine, variant_command, write  # noqa: E402

import vlseg  # noqa: E402
from vlseg.checkpoint import load_checkpoint, load_state_strictly  # noqa: E402
from vlseg.cris import CRIS, CrisRecipe, train_cris  # noqa: E402
from vlseg.cris.evaluation import (EVAL_SETS, KIND_SCENES, OTHER_WORLD_SETS, expression_ious,  # noqa: E402
                                   miou_by)
from vlseg.data.referring import KINDS, needs_unseen_direction  # noqa: E402
from vlseg.deltas import decode_deltas  # noqa: E402
from vlseg.metrics import paired_bootstrap  # noqa: E402
from vlseg.registry import entry  # noqa: E402

NAME = "cris-shapes-v2"
VARIANTS: dict[str, dict] = {
    "paper": {"label": "CRIS's recipe; cris-shapes-v2 as first shipped", "recipe": CrisRecipe(world="v2", steps=3000)},
    "pseudo-words": {"label": "half the training expressions given one invented word; cris-shapes-v2 as shipped next",
                     "recipe": CrisRecipe(world="v2", steps=3000, pseudo_words=0.5)},  # CRIS's loss and model, as then
}
BASELINE = "paper"
PARTS = RESULTS / "cris_v2_pseudo_words"
SETS: dict[str, dict] = {  # name → expression_ious arguments: v2's sets, by kind, and the two other worlds
    **{kind: {"n_scenes": KIND_SCENES, "heldout_names": False, "kinds": (kind,), "world": "v2"} for kind in KINDS},
    "held-out scenes": EVAL_SETS["held-out scenes"] | {"world": "v2"},
    "held-out class names": EVAL_SETS["held-out class names"] | {"world": "v2"},
    "held-out phrasings": OTHER_WORLD_SETS["held-out phrasings"],
    "shifted": OTHER_WORLD_SETS["shifted"],
}
DIRECTION_GROUPS = {True: "direction said only in unseen words", False: "every direction word seen in training"}


def load_trained(folder: Path, recipe: CrisRecipe) -> CRIS:
    """The CRIS that ``python -m vlseg.train cris-shapes-v2 --out folder`` wrote, refused unless made by ``recipe``."""
    card = json.loads((folder / f"{NAME}.json").read_text())
    if card["recipe"] != json.loads(json.dumps(asdict(recipe))):
        raise SystemExit(f"{folder / NAME}.json was trained with another recipe: {card['recipe']}")
    bundle = vlseg.pretrained(entry(NAME).base, device="cpu")
    path = folder / f"{NAME}.safetensors"
    tensors, _ = load_checkpoint(path)
    model = CRIS(bundle, recipe.model)
    load_state_strictly(model, decode_deltas(tensors, entry(NAME).delta_base(recipe, bundle), ""), path,
                        entry(NAME).command)
    return model.eval()


def measure(variant: str, folder: Path | None) -> dict:
    return measure_recipe(variant, VARIANTS[variant]["label"], VARIANTS[variant]["recipe"], folder)


def measure_recipe(variant: str, label: str, recipe: CrisRecipe, folder: Path | None) -> dict:
    """Train ``recipe`` (or load what ``folder`` holds, refused unless made by it) and score it on :data:`SETS`,
    expression by expression."""
    if folder is not None:
        model, trained = load_trained(folder, recipe), json.loads((folder / f"{NAME}.json").read_text())
        steps, seconds = trained["steps"], trained["train_seconds"]
    else:
        model, result = train_cris(vlseg.pretrained(entry(NAME).base, device="cpu"), recipe)
        model.eval()
        steps, seconds = result.steps, round(result.seconds, 1)
    sets = {}
    for name, arguments in SETS.items():
        ious, batch = expression_ious(model.predict, **arguments)  # (N,)
        sets[name] = {"ious": [round(float(v), 4) for v in ious], "mIoU": round(100 * float(ious.mean()), 2)}
        if name == "held-out phrasings":
            sets[name]["templates"] = batch.templates
            sets[name]["texts"] = batch.texts
        print(variant, name, sets[name]["mIoU"], flush=True)
    return {"variant": variant, "label": label, "recipe": asdict(recipe), "steps": steps,
            "train_seconds": seconds, "sets": sets, "machine": machine()}


def gaps(parts: dict[str, dict], baseline: str = BASELINE) -> dict[str, dict[str, dict[str, float]]]:
    """Per set, every variant's mIoU against the baseline's: the per-expression gap and its paired interval."""
    rows: dict[str, dict[str, dict[str, float]]] = {}
    base = parts[baseline]["sets"]
    for variant, part in parts.items():
        if variant == baseline:
            continue
        rows[variant] = {}
        for name, values in part["sets"].items():
            mean, low, high = paired_bootstrap(torch.tensor(values["ious"]), torch.tensor(base[name]["ious"]))
            rows[variant][name] = {"expressions": len(values["ious"]), f"mIoU {baseline}": base[name]["mIoU"],
                                   f"mIoU {variant}": values["mIoU"], "gap": round(100 * mean, 2),
                                   "95% low": round(100 * low, 2), "95% high": round(100 * high, 2)}
    return rows


def phrasing_breakdown(parts: dict[str, dict]) -> dict[str, dict[str, dict[str, float]]]:
    """mIoU of each variant on v2's held-out phrasings, by template and by :data:`DIRECTION_GROUPS`."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    for variant, part in parts.items():
        held = part["sets"]["held-out phrasings"]
        ious = torch.tensor(held["ious"])
        groups = [DIRECTION_GROUPS[needs_unseen_direction(text)] for text in held["texts"]]
        table[variant] = miou_by(ious, groups) | miou_by(ious, held["templates"])
    return table


def table(parts: dict[str, dict]) -> str:
    lines = [f"`{NAME}`'s recipe with and without invented words, scored on the same expressions; the gap is "
             f"variant − {BASELINE} in IoU points per expression, with its 95 % paired-bootstrap interval.", ""]
    for variant, rows in gaps(parts).items():
        part = parts[variant]
        lines += [f"**{variant}** ({part['label']}; {part['steps']:,} steps, {part['train_seconds'] / 60:.0f} min)", "",
                  f"| set | expressions | mIoU {BASELINE} | mIoU {variant} | gap | 95 % interval |",
                  "|---|---|---|---|---|---|"]
        for name, row in rows.items():
            lines.append(f"| {name} | {row['expressions']} | {row[f'mIoU {BASELINE}']:.1f} | "
                         f"{row[f'mIoU {variant}']:.1f} | {row['gap']:+.2f} | {row['95% low']:+.2f} … "
                         f"{row['95% high']:+.2f} |")
        lines.append("")
    breakdown = phrasing_breakdown(parts)
    variants = list(breakdown)
    lines += ["v2's held-out phrasings, mIoU by group and by template:", "",
              "| expressions | n | " + " | ".join(variants) + " |", "|---|---|" + "---|" * len(variants)]
    for label, row in breakdown[variants[0]].items():
        lines.append(f"| {label} | {row['n']:.0f} | "
                     + " | ".join(f"{breakdown[v][label]['mIoU']:.1f}" for v in variants) + " |")
    return "\n".join(lines).rstrip()


def gather(parts: dict[str, dict]) -> None:
    if BASELINE not in parts or len(parts) < 2:
        raise SystemExit(f"measure {BASELINE!r} and another variant first (found {sorted(parts)} in {PARTS})")
    write("cris_v2_pseudo_words", {"shipped": NAME, "baseline": BASELINE, "gaps": gaps(parts),
                                   "held-out phrasings": phrasing_breakdown(parts),
                                   "variants": {name: {k: v for k, v in part.items() if k != "sets"}
                                                for name, part in parts.items()},
                                   "machine": parts[BASELINE]["machine"]}, table(parts))


def main() -> None:
    variant_command(__doc__.splitlines()[0], VARIANTS, PARTS, measure, gather, score_from=True)


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
