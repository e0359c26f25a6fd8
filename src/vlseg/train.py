"""The command line that trains a shipped model, derived from :mod:`vlseg.registry`::

    python -m vlseg.train tiny-clip-shapes          # the tiny ShapesWorld CLIP -> src/vlseg/weights/
    python -m vlseg.train tiny-clip-shapes-v2       # that CLIP continued on the wider world v2 (needs the first)
    python -m vlseg.train pacl-shapes               # PACL's vision embedder on the frozen tiny CLIP
    python -m vlseg.train pacl-shapes-context       # the same with a 3×3 spatial-context branch (not in PACL)
    python -m vlseg.train pacl-shapes-v2            # PACL's embedder on the v2 CLIP, trained on v2 (also -context)
    python -m vlseg.train cris-shapes               # CRIS (also cris-shapes-no-decoder, cris-shapes-dot, cris-shapes-v2)
    python -m vlseg.train --list                    # every shipped model, with its expected training time
    torchrun --nproc_per_node=N -m vlseg.train NAME # the same on N processes (GPUs, or CPU processes with gloo)

Each trains with the documented recipe, evaluates the weights as shipped (float16) and writes them with their
model card (:func:`vlseg.shipped.ship`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vlseg.distributed import init_from_environment, shutdown
from vlseg.registry import REGISTRY, recipe_with
from vlseg.shipped import ship


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m vlseg.train", description=__doc__.split("::")[0].strip())
    parser.add_argument("name", nargs="?", choices=list(REGISTRY), help="the shipped model to train")
    parser.add_argument("--list", action="store_true", help="list the shipped models and exit")
    parser.add_argument("--out", type=Path, default=None, help="folder for the weights (default: the package's)")
    parser.add_argument("--steps", type=int, default=None, help="override the recipe's number of steps")
    parser.add_argument("--device", default=None, help="cuda, mps or cpu (default: the best available)")
    args = parser.parse_args(argv)
    if args.list:
        for name, spec in REGISTRY.items():
            print(f"{name:<24} {spec.summary} (about {spec.minutes} CPU minutes)")
        return
    if args.name is None:
        parser.error("name a model to train (or --list)")
    if args.steps is not None and args.steps < 1:
        parser.error(f"--steps must be a positive integer; got {args.steps}")
    init_from_environment(args.device)  # a no-op unless started by torchrun with several processes
    try:
        ship(args.name, recipe_with(args.name, args.steps), out_dir=args.out, device=args.device)
    finally:
        shutdown()


if __name__ == "__main__":
    main()
