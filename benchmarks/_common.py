"""Helpers shared by the benchmarks: where results go, and how to describe the machine."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

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
