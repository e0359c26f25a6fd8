"""Helpers shared by the benchmarks: where results go, and how to describe the machine."""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path
from typing import Callable, Iterable

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__} ({torch.get_num_threads()} threads)"


def write(name: str, payload: dict, table: str) -> None:
    """Write results/<name>.json (numbers) and results/<name>.md (the table shown in the book)."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=1) + "\n")
    (RESULTS / f"{name}.md").write_text(table + f"\n\n*Measured on {payload['machine']}.*\n")
    print(table)


def variant_command(description: str, variants: Iterable[str], parts: Path, measure: Callable[..., dict],
                    gather: Callable[[dict[str, dict]], None], score_from: bool = False) -> None:
    """The command line of a benchmark measured one variant per process (each about an hour of CPU).

    ``--variant NAME`` runs ``measure(NAME)`` (with ``score_from``: ``measure(NAME, folder)``, the folder given by
    ``--from``, or None) and saves its part as ``parts/NAME.json``; ``--table`` calls ``gather`` with the saved parts,
    in the order of ``variants``.
    """
    variants = list(variants)
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--variant", choices=sorted(variants))
    if score_from:
        parser.add_argument("--from", dest="folder", type=Path, default=None,
                            help="score the weights `python -m vlseg.train NAME --out FOLDER` wrote instead of training")
    parser.add_argument("--table", action="store_true", help="gather the measured variants into one table")
    args = parser.parse_args()
    if args.variant is None and not args.table:
        parser.error("give --variant NAME (to measure one) or --table (to gather them)")
    if args.variant is not None:
        part = measure(args.variant, args.folder) if score_from else measure(args.variant)
        parts.mkdir(parents=True, exist_ok=True)
        (parts / f"{args.variant}.json").write_text(json.dumps(part, indent=1) + "\n")
    if args.table:
        gather({name: json.loads((parts / f"{name}.json").read_text()) for name in variants
                if (parts / f"{name}.json").is_file()})
