"""How far do the shipped models carry? Each scored on its own world and on worlds it was not tuned on.

Run: python benchmarks/worlds.py   →   benchmarks/results/worlds.{json,md}
     (after retraining one model: ``--model NAME`` scores it again and keeps the others' saved rows)

Every shipped model (trained on ShapesWorld "v1", or on its wider "v2") is scored, through the same evaluation
code as its model card, on three worlds (:data:`vlseg.data.EVALUATION_WORLDS`):

* "v1": ShapesWorld's first world (the own validation scenes of a model trained on it);
* "v2": ShapesWorld, wider (any-hue backgrounds, colour jitter, any rotation, anti-aliasing, more sizes, blur),
  with its richer grammar; CRIS also on v2's *held-out phrasings* (templates never used for training text);
* "shifted": the independently written test world (:mod:`vlseg.data.shifted_world`): its own renderer and grammar;
  CRIS also on its "plain" wording ("the red circle") against its free ones.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine, write  # noqa: E402

import torch  # noqa: E402

import vlseg  # noqa: E402
from vlseg.clip_training.evaluation import evaluate_zero_shot  # noqa: E402
from vlseg.cris.evaluation import EVAL_SEED, evaluate_referring  # noqa: E402
from vlseg.data import EVALUATION_WORLDS  # noqa: E402
from vlseg.data.records import KINDS  # noqa: E402
from vlseg.pacl.evaluation import EVAL_SCENES, evaluate_pacl_segmentation  # noqa: E402
from vlseg.registry import entry, names  # noqa: E402

REFERRING_SCENES = 400
SAVED = RESULTS / "worlds.json"


def score(name: str) -> list[dict]:
    """One shipped model's rows: each of its measures on each world."""
    family, rows = entry(name).family, []
    model = vlseg.pretrained(name)
    if family == "clip":
        for world in EVALUATION_WORLDS:
            metrics = evaluate_zero_shot(model, world=world)
            rows.append({"model": name, "measure": "zero-shot top-1, seen / held-out classes", "world": world,
                         "value": [metrics["top1_seen"], metrics["top1_heldout"]]})
    elif family == "pacl":
        for world in EVALUATION_WORLDS:
            scores, _ = evaluate_pacl_segmentation(model, world=world)
            rows.append({"model": name, "measure": "mIoU, seen / held-out classes", "world": world,
                         "value": [scores["miou_seen"], scores["miou_heldout"]]})
    else:
        sets = {("v1", "all expressions"): {}, ("v2", "seen phrasings"): {"phrasings": "seen"},
                ("v2", "held-out phrasings"): {"phrasings": "heldout"},
                ("shifted", "all expressions"): {}, ("shifted", "plain: the ⟨colour⟩ ⟨shape⟩"): {"styles": ("plain",)},
                ("shifted", "free wordings"): {"styles": ("free",)}}
        sets |= {("shifted", f"kind: {kind}"): {"kinds": (kind,)} for kind in KINDS}
        for (world, label), arguments in sets.items():
            metrics = evaluate_referring(model.predict, n_scenes=REFERRING_SCENES, seed=EVAL_SEED, heldout_names=False,
                                         world=world, **arguments)
            rows.append({"model": name, "measure": f"mIoU, {label}", "world": world, "value": [metrics["mIoU"]],
                         "n": int(metrics["n"])})
    for row in rows:
        print(row, flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=names(), action="append",
                        help="score only these models again, keeping the other models' saved rows")
    args = parser.parse_args()
    torch.set_num_threads(1)
    saved = json.loads(SAVED.read_text())["rows"] if args.model else []
    rows: list[dict] = []
    for name in names("clip") + names("pacl") + names("cris"):
        if args.model and name not in args.model:
            rows += [row for row in saved if row["model"] == name]
        else:
            rows += score(name)
    write("worlds", {"machine": machine(), "pacl_scenes": EVAL_SCENES, "referring_scenes": REFERRING_SCENES,
                     "rows": rows}, render(rows))


def render(rows: list[dict]) -> str:
    """The book's two tables (also from a saved JSON: ``render(json.load(...)["rows"])``): the CLIP and PACL by
    world, then the CRIS models side by side, one line per evaluation set."""
    def cell(row: dict) -> str:
        return " / ".join(f"{100 * value:.1f}" for value in row["value"])

    lines = ["| model | trained on | measure | " + " | ".join(EVALUATION_WORLDS) + " |",
             "|---|---|---|" + "---|" * len(EVALUATION_WORLDS)]
    by_model: dict[tuple[str, str], dict[str, str]] = {}
    for row in rows:
        if not row["model"].startswith("cris"):
            by_model.setdefault((row["model"], row["measure"]), {})[row["world"]] = cell(row)
    lines += [f"| {model} | {trained_on(model)} | {measure} | "
              + " | ".join(cells.get(world, "—") for world in EVALUATION_WORLDS) + " |"
              for (model, measure), cells in by_model.items()]
    cris_models = list(dict.fromkeys(row["model"] for row in rows if row["model"].startswith("cris")))
    by_set: dict[tuple[str, str, int], dict[str, str]] = {}
    for row in rows:
        if row["model"].startswith("cris"):
            by_set.setdefault((row["world"], row["measure"].removeprefix("mIoU, "), row["n"]), {})[row["model"]] = cell(row)
    lines += ["", "| world | CRIS mIoU on | n | " + " | ".join(f"{m} ({trained_on(m)})" for m in cris_models) + " |",
              "|---|---|---|" + "---|" * len(cris_models)]
    lines += [f"| {world} | {label} | {n} | " + " | ".join(cells[model] for model in cris_models) + " |"
              for (world, label, n), cells in by_set.items()]
    return "\n".join(lines) + ("\n\nTrained on: the world of the model's training scenes and text (CRIS: in brackets). "
                               "Validation scenes of each world (seeds as on the model cards); CRIS: one expression "
                               "per scene, expressions naming held-out classes left out; n: expressions scored.")


def trained_on(name: str) -> str:
    """The ShapesWorld world a shipped model was trained on (its recipe's ``world``)."""
    return entry(name).recipe.world


if __name__ == "__main__":
    main()
