"""The registry is the one list of shipped models; the command line and tasks.py report clearly."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from vlseg.checkpoint import WEIGHTS_DIR
from vlseg.registry import REGISTRY, entry, names
from vlseg.shipped import model_card

ROOT = Path(__file__).resolve().parent.parent


def test_every_registered_model_ships_weights_and_a_card_made_by_its_command():
    for name, spec in REGISTRY.items():
        assert (WEIGHTS_DIR / f"{name}.safetensors").is_file(), name
        card = model_card(name)
        assert card["command"] == spec.command == f"python -m vlseg.train {name}"
        assert spec.base is None or spec.base in REGISTRY
    assert set(names("clip")) | set(names("pacl")) | set(names("cris")) == set(REGISTRY)
    assert {p.stem for p in WEIGHTS_DIR.glob("*.safetensors")} == set(REGISTRY)  # nothing shipped unregistered


def test_command_line_lists_the_registry_and_refuses_unknown_names():
    listing = subprocess.run([sys.executable, "-m", "vlseg.train", "--list"], capture_output=True, text=True, check=True)
    assert [line.split()[0] for line in listing.stdout.splitlines()] == list(REGISTRY)
    unknown = subprocess.run([sys.executable, "-m", "vlseg.train", "big-clip"], capture_output=True, text=True)
    assert unknown.returncode == 2 and "invalid choice: 'big-clip'" in unknown.stderr
    steps = subprocess.run([sys.executable, "-m", "vlseg.train", "pacl-shapes", "--steps", "0"], capture_output=True,
                           text=True)
    assert steps.returncode == 2 and "--steps must be a positive integer" in steps.stderr
    with pytest.raises(ValueError, match="unknown pretrained model 'big-clip'"):
        entry("big-clip")


def test_tasks_names_the_failed_notebook_cell_and_report(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("tasks", ROOT / "tasks.py")
    tasks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tasks)
    report = tmp_path / "notebooks" / "05_cris.err.log"
    report.parent.mkdir(parents=True)
    report.write_text(  # the format nbclient's CellExecutionError writes into jupyter-book's reports
        "Traceback (most recent call last):\n  File \"x.py\", line 1\n"
        "nbclient.exceptions.CellExecutionError: An error occurred while executing the following cell:\n"
        "------------------\nlive_model, live = train_cris(bundle, live_recipe)\nprint(live)\n------------------\n\n\n"
        "---------------------------------------------------------------------------\n"
        "ZeroDivisionError                         Traceback (most recent call last)\n"
        "Cell In[21], line 1\n----> 1 live_model, live = train_cris(bundle, live_recipe)\n\n"
        "ZeroDivisionError: division by zero\n")
    monkeypatch.setattr(tasks, "REPORTS", tmp_path)
    (found,) = tasks.failed_notebooks()
    assert "notebook: notebooks/05_cris.ipynb" in found
    assert "cell:     live_model, live = train_cris(bundle, live_recipe) | print(live)" in found
    assert "error:    ZeroDivisionError: division by zero" in found and str(report) in found
    with pytest.raises(tasks.TaskFailed, match="false failed .exit status 1."):
        tasks.run("false", what="false")


def test_book_notebooks_execute_in_parallel_into_jupyter_books_cache(tmp_path, monkeypatch):
    """tasks.py book's first step: the uncached notebooks run (several at once) and land in the cache the build
    reads; a failing one is named with its cell and error, the others are still cached; cached ones do not rerun."""
    import nbformat
    from jupyter_cache import get_cache

    spec = importlib.util.spec_from_file_location("tasks", ROOT / "tasks.py")
    tasks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tasks)
    monkeypatch.setitem(sys.modules, "tasks", tasks)  # the worker processes find its functions by name
    (tmp_path / "_config.yml").write_text("execute:\n  timeout: 60\n")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: notebooks/good\n"
                                       "  - file: notebooks/bad\n")
    (tmp_path / "intro.md").write_text("# intro\n")
    (tmp_path / "notebooks").mkdir()

    def write(name: str, source: str) -> None:
        notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(notebook, tmp_path / "notebooks" / f"{name}.ipynb")

    write("good", "import os\nprint(os.environ['OMP_NUM_THREADS'], 6 * 7)")
    write("bad", "ratio = 1 / 0")
    notebooks = tmp_path / "notebooks"
    assert tasks.book_notebooks(tmp_path) == [notebooks / "good.ipynb", notebooks / "bad.ipynb"]
    with pytest.raises(tasks.TaskFailed) as failure:
        tasks.execute_notebooks(tmp_path, workers=2)
    message = str(failure.value)
    assert "1 notebook(s) failed" in message and "notebook: notebooks/bad.ipynb" in message
    assert "cell:     ratio = 1 / 0" in message and "error:    ZeroDivisionError: division by zero" in message
    assert (tmp_path / "_build" / "execution-reports" / "bad.log").read_text().count("ZeroDivisionError") >= 1
    cache = get_cache(str(tmp_path / "_build" / ".jupyter_cache"))
    _, good = cache.merge_match_into_notebook(nbformat.read(tmp_path / "notebooks" / "good.ipynb", as_version=4))
    assert good.cells[0].outputs[0]["text"] == "1 42\n"  # two workers on any machine: cores // 2 threads, at least 1
    write("bad", "ratio = 1 / 2")
    assert tasks.execute_notebooks(tmp_path, workers=2) == [tmp_path / "notebooks" / "bad.ipynb"]
    assert tasks.execute_notebooks(tmp_path) == []

    ghost = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")])
    ghost.metadata["kernelspec"] = {"name": "no-such-kernel", "display_name": "none", "language": "python"}
    nbformat.write(ghost, tmp_path / "notebooks" / "ghost.ipynb")
    path, executed, error, _ = tasks._execute_notebook(tmp_path / "notebooks" / "ghost.ipynb", 1, 60)
    assert executed is None and error.startswith("the kernel failed twice, outside any cell")
    assert "no-such-kernel" in error
