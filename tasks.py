#!/usr/bin/env python3
"""The course's two commands, needing nothing but Python 3.10+ on a fresh machine.

    python3 tasks.py book    # set up .venv, fetch MathJax/require.js/widget JS, execute the notebooks, build _build/html
    python3 tasks.py test    # set up .venv, run pytest on the library and nbval on the notebooks

The environment is created in ``.venv`` (reused when it is up to date). torch is installed first and
pinned (``torch==2.13.0``), so that pip takes the CPU wheel instead of a newer release with CUDA.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PY = VENV / "bin" / "python"
VENDOR = ROOT / "book" / "_extra" / "vendor"
NPM_PACKAGES = ["mathjax@3.2.2", "requirejs@2.3.8", "@jupyter-widgets/html-manager@1.0.15"]


SITE = ROOT / "_build" / "html" / "index.html"
REPORTS = ROOT / "_build" / "html" / "reports"


class TaskFailed(Exception):
    """A step failed; the message says which and where to look (no Python traceback is shown)."""


def run(*cmd: str | Path, what: str = "", **kwargs) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    result = subprocess.run([str(c) for c in cmd], cwd=kwargs.pop("cwd", ROOT), **kwargs)
    if result.returncode != 0:
        raise TaskFailed(f"{what or Path(str(cmd[0])).name} failed (exit status {result.returncode}); see the output above")


def failed_notebooks() -> list[str]:
    """One paragraph per execution report jupyter-book wrote: the notebook, the failing cell, the error, the report."""
    found = []
    for report in sorted(REPORTS.rglob("*.log")) if REPORTS.exists() else []:
        text = report.read_text(errors="replace")
        cell = re.search(r"-{10,}\n(.*?)\n-{10,}", text, re.S)
        source = cell.group(1).strip().splitlines() if cell else []
        errors = [line for line in text.splitlines() if re.match(r"^\w*(Error|Exception|Interrupt)\b", line.strip())]
        notebook = report.relative_to(REPORTS).with_suffix("").with_suffix(".ipynb")
        found.append(f"  notebook: {notebook}\n"
                     f"  cell:     {' | '.join(source[:3]) or '(see the report)'}{' …' if len(source) > 3 else ''}\n"
                     f"  error:    {errors[-1].strip() if errors else '(see the report)'}\n"
                     f"  report:   {report}")
    return found


def ensure_venv() -> None:
    """Create .venv and install the pinned stack, unless pyproject.toml is unchanged since the last install."""
    stamp = VENV / ".installed"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest and PY.exists():
        return
    if not PY.exists():
        run(sys.executable, "-m", "venv", VENV)
    run(PY, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    run(PY, "-m", "pip", "install", "--quiet", "torch==2.13.0")
    run(PY, "-m", "pip", "install", "--quiet", "-e", ".[book,test]")
    stamp.write_text(digest)


def vendor_js() -> None:
    """Put MathJax, require.js and the widget manager next to the book's pages, so it works offline."""
    wanted = [VENDOR / "mathjax" / "tex-chtml.js", VENDOR / "require.min.js", VENDOR / "html-manager" / "embed-amd.js"]
    if all(p.exists() for p in wanted):
        return
    npm = shutil.which("npm")
    if npm is None:
        print("npm not found: the book will load MathJax and the widget scripts from their CDNs", flush=True)
        return
    staging = ROOT / "_build" / "npm"
    staging.mkdir(parents=True, exist_ok=True)
    run(npm, "install", "--silent", "--no-audit", "--no-fund", "--prefix", staging, *NPM_PACKAGES, what="npm install")
    modules = staging / "node_modules"
    if (VENDOR).exists():
        shutil.rmtree(VENDOR)
    (VENDOR / "html-manager").mkdir(parents=True)
    shutil.copytree(modules / "mathjax" / "es5", VENDOR / "mathjax")
    shutil.copy(modules / "requirejs" / "require.js", VENDOR / "require.min.js")
    for path in (modules / "@jupyter-widgets" / "html-manager" / "dist").iterdir():
        if path.is_file() and path.suffix != ".map":
            shutil.copy(path, VENDOR / "html-manager" / path.name)


def book() -> None:
    ensure_venv()
    vendor_js()
    env = dict(os.environ, PATH=f"{VENV / 'bin'}{os.pathsep}{os.environ['PATH']}")
    if REPORTS.exists():
        shutil.rmtree(REPORTS)  # reports of an earlier build would be mistaken for this one's
    try:
        run(VENV / "bin" / "jupyter-book", "build", ".", "--all", "-W", "--keep-going", what="the book build", env=env)
    except TaskFailed as failure:
        broken = failed_notebooks()
        if broken:
            raise TaskFailed(f"{len(broken)} notebook(s) failed to execute:\n" + "\n\n".join(broken)) from failure
        raise
    finally:
        state = "built" if SITE.exists() else "not built (no index.html)"
        print(f"site: {SITE} ({state})", flush=True)


def test() -> None:
    ensure_venv()
    env = dict(os.environ, PATH=f"{VENV / 'bin'}{os.pathsep}{os.environ['PATH']}")
    run(PY, "-m", "pytest", "-q", "tests", what="pytest on tests/", env=env)
    run(PY, "-m", "pytest", "-q", "--nbval-lax", "--nbval-sanitize-with", "notebooks/nbval_sanitize.cfg",
        "-p", "no:cacheprovider", "notebooks", what="nbval on notebooks/ (the failing cell is printed above)", env=env)


if __name__ == "__main__":
    commands = {"book": book, "test": test}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        sys.exit(f"usage: python3 {Path(__file__).name} {{{'|'.join(commands)}}}")
    try:
        commands[sys.argv[1]]()
    except TaskFailed as failure:
        sys.exit(f"\ntasks.py {sys.argv[1]}: {failure}")
