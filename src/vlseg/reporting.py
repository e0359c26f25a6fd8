"""Results files: the tables a chapter measures, written where the book's results page gathers them.

A chapter calls :func:`save_table` on the table it has just computed and shown; the results page
(``book/results.ipynb``) reads every file with :func:`load_tables` and shows them together, beside the benchmarks
and the model cards. Nothing on that page is typed in: a number there is the number the chapter computed when it
last ran.

A file is JSON: ``{"title", "chapter", "note", "table": pandas' "split" form}``, written atomically.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class SavedTable:
    """One results file, read back."""

    name: str  # the file's stem
    title: str
    chapter: str  # the notebook's name, e.g. "04_pacl"
    note: str
    table: pd.DataFrame


def save_table(table: pd.DataFrame, path: str | os.PathLike, *, title: str, chapter: str, note: str = "") -> Path:
    """Write ``table`` (a DataFrame) with its title, chapter and note to ``path`` (a ``.json`` file); returns it."""
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"table must be a pandas DataFrame; got a {type(table).__name__}")
    path = Path(path)
    if path.suffix != ".json":
        raise ValueError(f"path must name a .json file; got {str(path)!r}")
    for name, value in (("title", title), ("chapter", chapter)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{name} must be a non-empty string; got {value!r}")
    payload = {"title": title, "chapter": chapter, "note": note,
               "table": json.loads(table.to_json(orient="split", double_precision=6))}
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False, encoding="utf-8") as handle:
        json.dump(payload, handle, indent=1, ensure_ascii=False)
        handle.write("\n")
    os.chmod(handle.name, 0o644)  # NamedTemporaryFile creates it private; a results file is for everyone to read
    os.replace(handle.name, path)
    return path


def load_tables(directory: str | os.PathLike) -> list[SavedTable]:
    """Every results file in ``directory``, ordered by chapter then name; a clear error names a file that is broken."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"results directory {str(directory)!r} does not exist (run the chapters to write it)")
    tables = []
    for path in sorted(directory.glob("*.json")):
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            split = payload["table"]
            table = pd.DataFrame(split["data"], index=split["index"], columns=split["columns"])
            tables.append(SavedTable(path.stem, payload["title"], payload["chapter"], payload.get("note", ""), table))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise ValueError(f"results file {str(path)!r} is not a table written by save_table ({error}); "
                             "re-run its chapter to rewrite it") from None
    return sorted(tables, key=lambda saved: (saved.chapter, saved.name))
