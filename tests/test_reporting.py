"""Results files: what a chapter saves is what the results page reads back; broken files and bad calls are named."""

import json
import stat
from pathlib import Path

import pandas as pd
import pytest

from vlseg.reporting import load_tables, save_table

ROOT = Path(__file__).resolve().parents[1]


def test_round_trip_keeps_table_title_chapter_and_note(tmp_path):
    table = pd.DataFrame({"mIoU": [21.8, 10.7], "scenes": [500, 200]}, index=["validation", "shifted"])
    path = save_table(table, tmp_path / "04_pacl_x.json", title="PACL", chapter="04_pacl", note="seed 7")
    (saved,) = load_tables(tmp_path)
    assert (saved.name, saved.title, saved.chapter, saved.note) == ("04_pacl_x", "PACL", "04_pacl", "seed 7")
    pd.testing.assert_frame_equal(saved.table, table)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644 and not list(tmp_path.glob("*.tmp"))


def test_tables_come_back_in_chapter_order(tmp_path):
    for chapter in ("05_cris", "01_clip", "03_coherence"):
        save_table(pd.DataFrame({"a": [1]}), tmp_path / f"z_{chapter}.json", title=chapter, chapter=chapter)
    assert [saved.chapter for saved in load_tables(tmp_path)] == ["01_clip", "03_coherence", "05_cris"]


def test_bad_calls_and_broken_files_are_named(tmp_path):
    with pytest.raises(TypeError, match="table must be a pandas DataFrame"):
        save_table({"a": 1}, tmp_path / "x.json", title="t", chapter="c")
    with pytest.raises(ValueError, match="path must name a .json file"):
        save_table(pd.DataFrame({"a": [1]}), tmp_path / "x.csv", title="t", chapter="c")
    with pytest.raises(ValueError, match="title must be a non-empty string"):
        save_table(pd.DataFrame({"a": [1]}), tmp_path / "x.json", title=" ", chapter="c")
    (tmp_path / "broken.json").write_text(json.dumps({"title": "t"}))
    with pytest.raises(ValueError, match="broken.json.*re-run its chapter"):
        load_tables(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_tables(tmp_path / "missing")


def test_every_chapter_writes_results_and_the_committed_files_read_back():
    tables = load_tables(ROOT / "results")
    written = {saved.chapter for saved in tables}
    for notebook in sorted((ROOT / "notebooks").glob("0[1-5]_*.ipynb")):  # 00 and 06 have no model to score
        assert notebook.stem in written, f"{notebook.name} saves no results table"
        assert "save_table(" in notebook.read_text()
