"""Checked notebook outputs must not depend on the machine: the live-training cells of chapters 04 and 05 are run
here, exactly as the notebook has them, once with THREADS = 1 (the notebooks' setting) and once with 2 (a reader who
raises it), and the outputs nbval checks must be identical (their exact last digits differ with the thread count; what is checked are bounds that hold anyway)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

RUNNER = r'''
import contextlib, io, json, sys
import torch
torch.set_num_threads(int(sys.argv[2]))
cells = [''.join(c["source"]) for c in json.load(open(sys.argv[1]))["cells"] if c["cell_type"] == "code"]
live = next(i for i, cell in enumerate(cells) if "live_model, live = train_" in cell)
checked = next(i for i in range(live + 1, len(cells)) if "NBVAL_CHECK_OUTPUT" in cells[i])
namespace = {}
with contextlib.redirect_stdout(io.StringIO()):
    exec(cells[0], namespace)  # the Colab cell (does nothing here)
    exec(cells[1], namespace)  # the parameters
    namespace["THREADS"] = int(sys.argv[2])  # as a reader who raises THREADS would
    for cell in [cells[2], *cells[live:checked]]:  # imports, the live run and its printout
        exec(cell, namespace)
output = io.StringIO()
with contextlib.redirect_stdout(output):
    exec(cells[checked], namespace)
print("CHECKED<<" + output.getvalue() + ">>CHECKED")
'''


def checked_output(notebook: str, threads: int) -> str:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), MPLBACKEND="Agg",
               TQDM_DISABLE="1")
    result = subprocess.run([sys.executable, "-c", RUNNER, str(NOTEBOOKS / notebook), str(threads)], cwd=NOTEBOOKS,
                            env=env, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.split("CHECKED<<")[1].split(">>CHECKED")[0]


@pytest.mark.parametrize("notebook", ["04_pacl.ipynb", "05_cris.ipynb"])
def test_live_run_checks_agree_with_one_and_two_threads(notebook):
    one, two = checked_output(notebook, 1), checked_output(notebook, 2)
    assert one == two
    assert "False" not in one, one  # the bounds hold, not merely agree
    cells = [c for c in json.loads((NOTEBOOKS / notebook).read_text())["cells"] if c["cell_type"] == "code"]
    live = next(i for i, c in enumerate(cells) if "live_model, live = train_" in "".join(c["source"]))
    checked = next(c for c in cells[live + 1:] if "NBVAL_CHECK_OUTPUT" in "".join(c["source"]))
    committed = "".join("".join(o["text"]) for o in checked["outputs"] if o.get("output_type") == "stream")
    assert one == committed  # and they are what the executed notebook shows
