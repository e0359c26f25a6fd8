"""Issue 11's four routes to patch tokens that know their object, measured side by side at one training length.

Run: python benchmarks/pacl_routes.py   →   benchmarks/results/pacl_routes.{json,md}
     (or one route per process: ``--route b``, then ``--table`` gathers them; two processes use both cores)

All on the wider world v2, from the shipped v2 CLIP (``tiny-clip-shapes-v2``), each PACL embedder trained for
``PACL_STEPS`` steps (unless its row says otherwise) with the shipped recipe otherwise (the shipped embedders:
3,000), so the rows compare routes at equal cost, not the shipped models:

* **(a)** the paper's protocol: frozen CLIP, per-patch embedder e_v;
* **(b)** a dense-aware term in CLIP's own pre-training: the v2 CLIP continued for ``CLIP_STEPS`` steps with
  PACL's loss over its projected patch tokens beside the CLS loss (``ClipRecipe(dense_weight=1)``), then (a) on it.
  Its control, **(b0)**, is the same continuation without the term, so that (b) − (b0) is the term's effect and
  not that of more pre-training;
* **(c)** PACL with a trainable copy of the CLIP's last vision block(s) (``PaclRecipe(tuned_blocks=k)``);
* **(d)** the 3×3 spatial-context embedder (``PaclRecipe(context_kernel=3, lr=3e-3)``, as shipped);
* **(c2+d)**, the two that worked combined: the tuned tail under the context embedder, and **(c3+d)** with one more
  tuned block;
* longer runs of the strongest rows: **(c2)** at the shipped length (3,000 steps), to set beside the shipped
  embedders' cards, and **(c2+d)** at 2,000 steps.

Each row reports coherence (ROC-AUC of the cosine for "same class?" over object-patch pairs; "shape": pairs of one
colour) on the features the embedder produces, patch accuracy and mIoU (seen / held-out classes) on 500 v2
validation scenes, mIoU on 500 shifted scenes, and φ̂'s image-level accuracy beside the CLIP's φ.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine, write  # noqa: E402

import vlseg  # noqa: E402
from vlseg.clip import ClipBundle  # noqa: E402
from vlseg.clip_training import ClipRecipe, evaluate_zero_shot, train_clip  # noqa: E402
from vlseg.coherence import coherence_auc, same_colour  # noqa: E402
from vlseg.data import CLASS_NAMES, HELDOUT_CLASS_INDICES, SEEN_CLASS_INDICES, evaluation_scenes  # noqa: E402
from vlseg.data.vocabulary import BACKGROUND, IGNORE_INDEX  # noqa: E402
from vlseg.pacl import PaclRecipe, evaluate_pacl_segmentation, pacl_image_accuracy, train_pacl  # noqa: E402
from vlseg.patches import patch_labels  # noqa: E402
from vlseg.segmentation import class_targets, evaluate_segmentation  # noqa: E402

PACL_STEPS = 1000
CLIP_STEPS = 1000
CLIP_CONTINUATION = dict(world="v2", steps=CLIP_STEPS, lr=5e-4, warmup_steps=50, single_object_fraction=0.0)
EVAL_SCENES, EVAL_SEED, COHERENCE_SEED = 500, 7, 0
PARTS = RESULTS / "pacl_routes"

ROUTES: dict[str, dict] = {
    "a": {"label": "(a) paper protocol: frozen CLIP, per-patch e_v", "pacl": {}},
    "b": {"label": "(b) dense term in CLIP pre-training, then (a)", "pacl": {}, "clip": {"dense_weight": 1.0}},
    "b0": {"label": "(b0) control: the same CLIP continuation without the term, then (a)", "pacl": {},
           "clip": {"dense_weight": 0.0}},
    "c1": {"label": "(c1) last vision block fine-tuned (0.1× lr), per-patch e_v", "pacl": {"tuned_blocks": 1}},
    "c2": {"label": "(c2) last 2 vision blocks fine-tuned (1× lr), per-patch e_v",
           "pacl": {"tuned_blocks": 2, "tail_lr_scale": 1.0}},
    "d": {"label": "(d) 3×3 spatial-context e_v, frozen CLIP", "pacl": {"context_kernel": 3, "lr": 3e-3}},
    "cd": {"label": "(c2+d) last 2 vision blocks fine-tuned (at 1e-3, as in c2), 3×3 context e_v",
           "pacl": {"context_kernel": 3, "lr": 3e-3, "tuned_blocks": 2, "tail_lr_scale": 1 / 3}},
    "cd-long": {"label": "(c2+d, 2,000 steps) the same, twice as long",
                "pacl": {"context_kernel": 3, "lr": 3e-3, "tuned_blocks": 2, "tail_lr_scale": 1 / 3, "steps": 2000}},
    "c3d": {"label": "(c3+d) last 3 vision blocks fine-tuned (at 1e-3), 3×3 context e_v",
            "pacl": {"context_kernel": 3, "lr": 3e-3, "tuned_blocks": 3, "tail_lr_scale": 1 / 3}},
    "c2-long": {"label": "(c2, 3,000 steps) last 2 vision blocks fine-tuned (1× lr), per-patch e_v",
                "pacl": {"tuned_blocks": 2, "tail_lr_scale": 1.0, "steps": 3000}},
}


def continued_clip(base: ClipBundle, dense_weight: float) -> tuple[ClipBundle, dict]:
    recipe = ClipRecipe(**CLIP_CONTINUATION, dense_weight=dense_weight)
    bundle, result = train_clip(recipe, initial=base)
    bundle.model.eval()
    return bundle, {"clip_recipe": asdict(recipe), "clip_seconds": round(result.seconds, 1)}


@torch.no_grad()
def scores(model, bundle: ClipBundle) -> dict[str, float]:
    """Coherence, segmentation on v2 and shifted, image-level accuracy of φ̂ and of the CLIP's φ."""
    val = evaluation_scenes("v2", EVAL_SCENES, seed=EVAL_SEED)
    labels = patch_labels(torch.as_tensor(val.semantic), bundle.patch_size).flatten()
    labels = torch.where(labels == BACKGROUND, IGNORE_INDEX, labels)
    features = model.patch_embeds(bundle.pixel_values(val.images)).flatten(0, 1)  # (N·T, D)
    row = {"coherence_objects": coherence_auc(features, labels, seed=COHERENCE_SEED),
           "coherence_shape": coherence_auc(features, labels, seed=COHERENCE_SEED, pair_filter=same_colour)}
    _, own = evaluate_pacl_segmentation(model, n_scenes=EVAL_SCENES, seed=EVAL_SEED, world="v2")
    shifted, _ = evaluate_pacl_segmentation(model, n_scenes=EVAL_SCENES, seed=EVAL_SEED, world="shifted")
    row |= {"patch_accuracy": own.patch_accuracy, "miou_seen": own.group_miou(list(SEEN_CLASS_INDICES)),
            "miou_heldout": own.group_miou(list(HELDOUT_CLASS_INDICES)), "miou_shifted": shifted["miou"]}
    image = pacl_image_accuracy(model, world="v2")
    clip_image = evaluate_zero_shot(bundle, world="v2")
    row |= {"phi_hat_seen": image["top1_seen"], "phi_hat_heldout": image["top1_heldout"],
            "clip_phi_seen": clip_image["top1_seen"], "clip_phi_heldout": clip_image["top1_heldout"]}
    return {k: round(float(v), 4) for k, v in row.items()}


def run_route(key: str) -> dict:
    route = ROUTES[key]
    torch.manual_seed(0)
    bundle = vlseg.pretrained("tiny-clip-shapes-v2")
    extra: dict = {}
    if "clip" in route:
        bundle, extra = continued_clip(bundle, **route["clip"])
        val = evaluation_scenes("v2", EVAL_SCENES, seed=EVAL_SEED)
        with torch.no_grad():  # the continued CLIP's own projected patches, training-free (chapter 02's raw patches)
            raw = evaluate_segmentation(bundle, val.images, class_targets(val.semantic), CLASS_NAMES, method="clip")
        extra |= {"raw_patches_miou": round(raw.miou, 4)}
    recipe = PaclRecipe(**({"world": "v2", "steps": PACL_STEPS} | route["pacl"]))
    model, result = train_pacl(bundle, recipe, eval_every=250,
                               eval_fn=lambda m: evaluate_pacl_segmentation(m, n_scenes=200, world="v2")[0])
    model.eval()
    record = {"route": key, "label": route["label"], "recipe": asdict(recipe), "seconds": round(result.seconds, 1),
              "eval_curve": result.evals, "threads": torch.get_num_threads()} | extra | scores(model, bundle)
    PARTS.mkdir(parents=True, exist_ok=True)
    (PARTS / f"{key}.json").write_text(json.dumps(record, indent=1) + "\n")
    print({k: v for k, v in record.items() if k not in ("eval_curve", "recipe", "clip_recipe")}, flush=True)
    return record


def table() -> None:
    rows = [json.loads((PARTS / f"{key}.json").read_text()) | {"label": ROUTES[key]["label"]}  # labels from here
            for key in ROUTES if (PARTS / f"{key}.json").exists()]
    text = ("| route | steps | coherence: objects | coherence: shape | patch accuracy | mIoU seen | mIoU held-out | "
            "mIoU shifted | φ̂ / φ seen | φ̂ / φ held-out |\n|---|---|---|---|---|---|---|---|---|---|\n")
    text += "\n".join(
        f"| {r['label']} | {r['recipe']['steps']:,} | {r['coherence_objects']:.3f} | {r['coherence_shape']:.3f} | {100 * r['patch_accuracy']:.1f} | "
        f"{100 * r['miou_seen']:.1f} | {100 * r['miou_heldout']:.1f} | {100 * r['miou_shifted']:.1f} | "
        f"{100 * r['phi_hat_seen']:.1f} / {100 * r['clip_phi_seen']:.1f} | "
        f"{100 * r['phi_hat_heldout']:.1f} / {100 * r['clip_phi_heldout']:.1f} |" for r in rows)
    text += (f"\n\nEvery PACL embedder trained on v2 for the steps given ({PACL_STEPS:,} unless said; the shipped ones: "
             f"{PaclRecipe().steps:,}); "
             f"(b) and (b0) first continue the v2 CLIP for {CLIP_STEPS} steps. {EVAL_SCENES} v2 validation scenes "
             f"(seed {EVAL_SEED}) and {EVAL_SCENES} shifted scenes; all 49 class names, background ignored.")
    write("pacl_routes", {"machine": machine(), "pacl_steps": PACL_STEPS, "clip_steps": CLIP_STEPS, "rows": rows}, text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--route", choices=sorted(ROUTES), action="append",
                        help="run only these routes (default: all), each saved under results/pacl_routes/")
    parser.add_argument("--table", action="store_true", help="only gather the saved routes into the table")
    args = parser.parse_args()
    if not args.table:
        for key in args.route or list(ROUTES):
            run_route(key)
    if args.table or not args.route:
        table()


if __name__ == "__main__":
    main()
