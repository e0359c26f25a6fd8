"""Training throughput of each shipped model, a hub-sized CLIP's forward pass, and the book's execution time, per device.

Run: python benchmarks/devices.py [--book] [--device cuda]   →   benchmarks/results/devices.{json,md}

* **Training throughput** (images/s): full training steps of the shipped recipes — ShapesWorld generation,
  tokenisation, forward, backward, AdamW — timed over ``TIMED_STEPS`` steps after ``WARMUP_STEPS``, exactly as
  :func:`vlseg.training.fit` runs them (bf16 autocast on CUDA, full precision elsewhere).
* **ViT-B/16 forward** (images/s): the vision tower of a CLIP with OpenAI's ViT-B/16 configuration (randomly
  initialised: the cost does not depend on the weights) at 224 px — the frozen encoder of chapters 02–04 when the
  parameter cell says ``CLIP = "openai/clip-vit-base-patch16"``.
* **The book** (``--book``): every notebook executed in a fresh kernel, as ``python3 tasks.py book`` does, timed
  one by one (minutes).

Each run measures the device it is on and *adds* its row to ``results/devices.json``; rows of devices measured
earlier are kept, and the device kinds never measured are shown as "not measured". Nothing else may run on the
machine while this runs (two CPU jobs at once slow each other down many times over).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Callable

import torch
from _common import RESULTS, machine, write
from transformers import CLIPConfig, CLIPModel

import vlseg
from vlseg.clip import build_tiny_clip
from vlseg.clip_training import ClipRecipe, clip_step_fn
from vlseg.cris import CRIS, CrisRecipe
from vlseg.cris.training import cris_step_fn
from vlseg.device import autocast_for, pick_device
from vlseg.pacl import PaclModel, PaclRecipe
from vlseg.pacl.training import pacl_step_fn
from vlseg.training import TrainConfig, make_optimizer

WARMUP_STEPS, TIMED_STEPS = 2, 10
NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
DEVICE_KINDS = ("cpu", "cuda", "mps")  # the kinds the code runs on; a row per kind once measured
VIT_B16 = {"image_size": 224, "patch_size": 16, "hidden_size": 768, "num_hidden_layers": 12,
           "num_attention_heads": 12, "intermediate_size": 3072}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def images_per_second(module: torch.nn.Module, step_fn: Callable[[int], dict], batch: int, device: torch.device,
                      lr: float) -> float:
    """Full training steps of ``step_fn`` on ``module`` (as fit runs them), timed after a warm-up."""
    optimizer = make_optimizer(module, TrainConfig(steps=1, lr=lr))
    module.train()
    for step in range(WARMUP_STEPS + TIMED_STEPS):
        if step == WARMUP_STEPS:
            synchronize(device)
            start = time.perf_counter()
        with autocast_for(device):
            loss = step_fn(step)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    synchronize(device)
    return TIMED_STEPS * batch / (time.perf_counter() - start)


def training_throughput(device: torch.device) -> dict[str, float]:
    clip_recipe, pacl_recipe, cris_recipe = ClipRecipe(single_object_fraction=0.0), PaclRecipe(), CrisRecipe()
    torch.manual_seed(0)
    bundle = build_tiny_clip().to(device)
    out = {"tiny-clip-shapes": images_per_second(bundle.model, clip_step_fn(bundle, clip_recipe),
                                                 clip_recipe.batch_size, device, clip_recipe.lr)}
    base = vlseg.pretrained("tiny-clip-shapes", device=str(device))
    pacl = PaclModel(base, pacl_recipe.model).to(device)
    out["pacl-shapes"] = images_per_second(pacl, pacl_step_fn(pacl, pacl_recipe), pacl_recipe.batch_size, device,
                                           pacl_recipe.lr)
    cris = CRIS(base, cris_recipe.model).to(device)
    out["cris-shapes"] = images_per_second(cris, cris_step_fn(cris, cris_recipe), cris_recipe.batch_size, device,
                                           cris_recipe.lr)
    return {name: round(value, 1) for name, value in out.items()}


@torch.no_grad()
def vit_b16_forward(device: torch.device) -> float:
    """Images/s of the ViT-B/16 vision tower at 224 px (batch 8 on a CPU, 128 on an accelerator)."""
    torch.manual_seed(0)
    model = CLIPModel(CLIPConfig(vision_config=VIT_B16, projection_dim=512)).vision_model.to(device).eval()
    batch = 8 if device.type == "cpu" else 128
    pixels = torch.randn(batch, 3, 224, 224, device=device)
    for repeat in range(1 + 3):
        if repeat == 1:
            synchronize(device)
            start = time.perf_counter()
        with autocast_for(device):
            model(pixel_values=pixels)
    synchronize(device)
    return round(3 * batch / (time.perf_counter() - start), 1)


def book_minutes() -> dict[str, float]:
    """Each notebook executed in a fresh kernel (as the book build does), in minutes."""
    import nbformat
    from nbclient import NotebookClient

    minutes = {}
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        NotebookClient(notebook, timeout=1800, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        minutes[path.stem] = round((time.perf_counter() - start) / 60, 2)
        print(f"{path.stem}: {minutes[path.stem]} min", flush=True)
    return minutes | {"total": round(sum(minutes.values()), 2)}


def device_label(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)} (bf16 autocast)"
    if device.type == "cpu":
        return f"cpu: {machine()}"
    return device.type


def table(rows: dict[str, dict]) -> str:
    header = ("| device | tiny CLIP training (images/s) | PACL embedder training (images/s) | CRIS training (images/s) "
              "| ViT-B/16 forward, 224 px (images/s) | whole book (min) |\n|---|---|---|---|---|---|\n")
    lines = []
    for kind in DEVICE_KINDS:
        row = rows.get(kind)
        if row is None:
            lines.append(f"| {kind} | not measured | not measured | not measured | not measured | not measured |")
            continue
        train, book = row["training_images_per_s"], row.get("book_minutes")
        lines.append(f"| {row['label']} | {train['tiny-clip-shapes']:,} | {train['pacl-shapes']:,} | "
                     f"{train['cris-shapes']:,} | {row['vit_b16_images_per_s']:,} | "
                     f"{book['total'] if book else 'not measured'} |")
    return header + "\n".join(lines)


# Workloads of the real path, counted in ViT-B/16 forward passes at 224 px (one per image the encoder sees):
# VOC 2012 val has 1,449 images; RefCOCO val (UNC) 10,834 expressions, and CRIS encodes the image once per expression;
# PACL's reported recipe is ~30 M image–caption pairs for 10 epochs through the frozen encoder (papers/pacl.md).
REAL_WORKLOADS = {"VOC 2012 val, one pass (chapters 02, 04)": 1_449,
                  "RefCOCO val, one pass (chapter 05)": 10_834,
                  "PACL's reported training: 30 M pairs × 10 epochs": 300_000_000}


def duration(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:,.0f} days"


def real_path_table(rows: dict[str, dict]) -> str:
    """Time of each real-path workload at each device's measured ViT-B/16 forward throughput (a lower bound: data
    loading, text encoding and the heads are left out)."""
    header = "| workload | ViT-B/16 forwards | " + " | ".join(DEVICE_KINDS) + " |\n|---|---|" + "---|" * len(DEVICE_KINDS)
    lines = [header]
    for workload, forwards in REAL_WORKLOADS.items():
        cells = [duration(forwards / rows[kind]["vit_b16_images_per_s"]) if kind in rows else "not measured"
                 for kind in DEVICE_KINDS]
        lines.append(f"| {workload} | {forwards:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--book", action="store_true", help="also execute every notebook and time it")
    parser.add_argument("--device", default=None, help="cuda, mps or cpu (default: the best available)")
    args = parser.parse_args()
    device = pick_device(args.device)
    path = RESULTS / "devices.json"
    rows = json.loads(path.read_text())["rows"] if path.exists() else {}
    row = {"label": device_label(device), "training_images_per_s": training_throughput(device),
           "vit_b16_images_per_s": vit_b16_forward(device), "warmup_steps": WARMUP_STEPS, "timed_steps": TIMED_STEPS,
           "date": time.strftime("%Y-%m-%d")}
    if args.book:
        row["book_minutes"] = book_minutes()
    elif device.type in rows and "book_minutes" in rows[device.type]:
        row["book_minutes"] = rows[device.type]["book_minutes"]  # keep an earlier measurement of the book
    rows[device.type] = row
    write("devices", {"machine": machine(), "rows": rows}, table(rows))
    write("devices_real_path", {"machine": machine(), "workloads": REAL_WORKLOADS,
                                "vit_b16_images_per_s": {k: r["vit_b16_images_per_s"] for k, r in rows.items()}},
          real_path_table(rows))


if __name__ == "__main__":
    main()
