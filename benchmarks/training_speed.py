"""Training speed of the tiny CLIP: steps per second for a few widths, on one-object and 1–4-object scenes.

Run: python benchmarks/training_speed.py   →   benchmarks/results/training_speed.{json,md}

Each row times 10 full training steps (data generation, tokenisation, forward, backward, AdamW) after 2
warm-up steps, at batch 128 with 64×64 images in 8×8 patches (64 patch tokens).
"""

from __future__ import annotations

import time

import torch
from _common import machine, write
from transformers import CLIPModel

import vlseg.clip as clip
from vlseg.clip_training import ClipRecipe, clip_step_fn
from vlseg.training import make_optimizer

WIDTHS = (64, 96, 128)
TIMED_STEPS = 10


def steps_per_second(width: int, single_object: bool) -> tuple[float, int]:
    heads = width // 32  # 32-dimensional heads, as in the shipped model
    spec = dict(clip.TINY_CLIP_SPEC, vision_width=width, text_width=width, projection_dim=width,
                vision_heads=heads, text_heads=heads)
    torch.manual_seed(0)
    bundle = clip.build_tiny_clip()
    bundle.model = CLIPModel(clip.tiny_clip_config(spec))
    recipe = ClipRecipe(steps=10_000, single_object_fraction=1.0 if single_object else 0.0)
    step = clip_step_fn(bundle, recipe)
    optimizer = make_optimizer(bundle.model, recipe.train_config())
    bundle.model.train()
    for i in range(TIMED_STEPS + 2):
        if i == 2:
            start = time.perf_counter()
        loss = step(i)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return TIMED_STEPS / (time.perf_counter() - start), sum(p.numel() for p in bundle.model.parameters())


def main() -> None:
    rows = []
    for width in WIDTHS:
        single, params = steps_per_second(width, True)
        multi, _ = steps_per_second(width, False)
        rows.append({"width": width, "parameters": params, "steps_per_s_single": round(single, 2),
                     "steps_per_s_multi": round(multi, 2)})
    shipped = clip.TINY_CLIP_SPEC["vision_width"]
    table = "| width (vision = text = joint) | parameters | steps/s, 1-object scenes | steps/s, 1–4 objects | images/s |\n|---|---|---|---|---|\n"
    table += "\n".join(
        f"| {r['width']}{' (shipped)' if r['width'] == shipped else ''} | {r['parameters']:,} | {r['steps_per_s_single']} | "
        f"{r['steps_per_s_multi']} | {r['steps_per_s_single'] * 128:.0f} |" for r in rows
    )
    write("training_speed", {"machine": machine(), "batch": 128, "timed_steps": TIMED_STEPS, "rows": rows}, table)


if __name__ == "__main__":
    main()
