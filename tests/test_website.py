"""What a reader's browser shows: every page of the book, opened in headless Chromium.

The book is built from the outputs committed in the notebooks, executing nothing (``tasks.site_from_committed_outputs``;
nbval executes the notebooks elsewhere in the suite), served over HTTP and every page of it (the _toc.yml entries and
the root index.html) is opened in Debian's chromium through Playwright. Once MathJax has typeset and the widget manager
has drawn the progress bars, a page fails when it shows

* raw TeX (``$$``, ``\\(``, ``\\[``, ``\\begin{``, or ``$…\\cmd…$``) outside code, i.e. maths MathJax did not
  typeset, or a MathJax error box (an undefined macro, a bad brace: red TeX in the page);
* an execution error in an output: a traceback or error output, "Traceback (most recent call last)", or an
  ``…Error:`` line in a stderr block;
* an image that did not load;
* an empty widget: a widget view (tqdm's progress bars) with nothing drawn, or "Error displaying widget";
* a broken internal link: a same-site href to no file, or to a ``#fragment`` that is no id on the target page;
* a JavaScript error (an uncaught exception), or a file of the site that the page asks for and does not get (404).

A full-page screenshot of every page is saved under ``_build/screenshots/`` (the CI artefact). The checks themselves are
shown to fail on tiny synthetic pages in the same browser (the ``test_check_*`` tests below).

Without chromium the test is skipped (``apt-get install chromium``), or fails when ``CI`` is set (.ci/run installs it).
"""

from __future__ import annotations

import functools
import html.parser
import importlib.util
import os
import re
import shutil
import threading
import time
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "_build" / "screenshots"
NOT_PAGES = {"genindex.html", "search.html", "py-modindex.html"}  # Sphinx's generated index and search pages
NOT_PAGE_DIRS = {"_static", "_sources", "_images", "_downloads", "vendor", "reports", "jupyter_execute",
                 "_panels_static"}
MATHJAX_TIMEOUT_MS = 30_000
WIDGET_TIMEOUT_MS = 15_000


def _load_tasks():
    spec = importlib.util.spec_from_file_location("tasks", ROOT / "tasks.py")
    tasks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tasks)
    return tasks


# ------------------------------------------------------------------------------------------------------------ browser


def chromium_executable() -> str | None:
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium")


@pytest.fixture(scope="module")
def browser():
    executable = chromium_executable()
    if executable is None:
        message = ("Debian's chromium is needed to open the book as a reader does: "
                   "sudo apt-get install -y --no-install-recommends chromium (.ci/run installs it)")
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and chromium is not installed. {message}", pytrace=False)
        pytest.skip(message)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("playwright is not installed (pip install -e '.[test]')", pytrace=False)
        pytest.skip("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        # --no-sandbox: CI and containers run as root, where chromium's sandbox refuses to start.
        # --disable-dev-shm-usage: containers' /dev/shm is small (64 MiB); long pages' screenshots need more.
        chromium = playwright.chromium.launch(executable_path=executable,
                                              args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        try:
            yield chromium
        finally:
            chromium.close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        pass


@contextmanager
def serve(directory: Path):
    """Serve ``directory`` over HTTP on a free port of 127.0.0.1, in a thread; yields the base URL (ending in /)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


# ------------------------------------------------------------------------------------------------------- one page

# What the page shows once MathJax and the widget manager are done: plain data, checked in Python below.
_FACTS_JS = r"""
async () => {
  await new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)));  // lay out what was just drawn
  const snip = (s, n = 160) => (s || '').replace(/\s+/g, ' ').trim().slice(0, n);
  const facts = {url: location.href, title: document.title, rawTex: [], mathErrors: [], errors: [], images: [],
                 widgets: [], links: [], ids: [], stderr: [], mathCount: 0, imageCount: document.images.length};
  // Inline scripts the page runs twice (a second `const x` there is a SyntaxError that loses nothing: benign_js_error)
  const bodies = Array.from(document.querySelectorAll('script:not([src]):not([type])')).map(s => s.textContent.trim());
  facts.duplicateScripts = [...new Set(bodies.filter((b, i) => b && bodies.indexOf(b) !== i))];

  // Raw TeX: text outside code that MathJax left as it was (typeset maths is inside mjx-container, not text).
  const CODE = 'pre, code, kbd, samp, script, style, textarea, template, noscript, mjx-container, .highlight';
  const RAW = [/\$\$/, /\\\(/, /\\\[/, /\\begin\{/, /(^|[^\\$])\$[^$\n]*?(\\[A-Za-z]+|[_^]\{)[^$\n]*?\$/];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.parentElement.closest(CODE)) continue;
    const text = node.textContent;
    const hit = RAW.map(re => text.match(re)).find(m => m);
    if (hit) {
      const at = hit.index;
      facts.rawTex.push({snippet: snip(text.slice(Math.max(0, at - 60), at + 100))});
    }
  }
  // What MathJax typeset as an error: a red error box (a missing brace...), or an undefined macro, which its
  // noundefined extension shows as its own name in red.
  const math = window.MathJax?.startup?.document?.math;
  if (math) {
    for (const item of math) {
      facts.mathCount += 1;
      const found = [];
      item.root?.walkTree?.(node => {
        if (node.isKind('merror')) found.push(node.attributes.get('data-mjx-error') || 'error');
        if (node.isKind('mtext') && node.attributes.get('mathcolor') === 'red') {
          const text = node.childNodes.map(c => (c.getText ? c.getText() : '')).join('');
          if (text.startsWith('\\')) found.push(`undefined control sequence ${text}`);
        }
      });
      found.forEach(error => facts.mathErrors.push({tex: snip(item.math), error: snip(error)}));
    }
  } else document.querySelectorAll('mjx-merror').forEach(err =>
    facts.mathErrors.push({tex: '', error: snip(err.getAttribute('data-mjx-error') || err.textContent)}));

  // Code cells and the outputs under them (a notebook committed without outputs shows code and no result).
  facts.codeCells = document.querySelectorAll('.cell .cell_input').length;
  facts.outputs = Array.from(document.querySelectorAll('.cell .cell_output')).filter(o => o.children.length).length;

  // Execution errors shown in outputs.
  const textOf = el => {  // an output's own text, without the copy button's "Copy to clipboard"
    const pres = Array.from(el.querySelectorAll('pre'));
    return pres.length ? pres.map(p => p.textContent).join('\n') : el.textContent;
  };
  const cellOf = el => {
    const cell = el.closest('.cell');
    const src = cell?.querySelector('.cell_input pre');
    return snip(src ? src.textContent : '', 100);
  };
  document.querySelectorAll('.output.traceback, .output.error, .output_error')
    .forEach(el => facts.errors.push({kind: 'error output', snippet: snip(textOf(el)), cell: cellOf(el)}));
  document.querySelectorAll('.cell_output, .output').forEach(el => {
    if (el.closest('.output.traceback, .output.error') || el.parentElement.closest('.cell_output, .output')) return;
    const t = textOf(el); const at = t.indexOf('Traceback (most recent call last)');
    if (at >= 0) {
      facts.errors.push({kind: 'traceback in an output', snippet: snip(t.slice(at, at + 300)), cell: cellOf(el)});
    }
  });
  document.querySelectorAll('.output.stderr').forEach(el => {
    const line = textOf(el).split('\n').find(l => /^\s*[A-Za-z_.]*(Error|Exception|Interrupt)\b.*:/.test(l));
    if (line) facts.errors.push({kind: 'error in stderr', snippet: snip(line), cell: cellOf(el)});
    else facts.stderr.push({snippet: snip(textOf(el), 120), cell: cellOf(el)});
  });

  // Images: load the lazy ones too, then look for the ones that did not decode.
  const imgs = Array.from(document.images);
  await Promise.all(imgs.map(img => {
    if (img.loading === 'lazy') img.loading = 'eager';
    if (img.complete) return null;
    return new Promise(done => {
      img.addEventListener('load', done); img.addEventListener('error', done); setTimeout(done, 10000);
    });
  }));
  imgs.forEach(img => {
    if (!img.complete || img.naturalWidth === 0)
      facts.images.push({src: snip(img.getAttribute('src'), 120), alt: snip(img.alt, 60)});
  });

  // Widget views: the html-manager draws each one into a div.widget-subarea it inserts just before the script tag.
  const stateTag = document.querySelector('script[type="application/vnd.jupyter.widget-state+json"]');
  let state = {};
  try { state = stateTag ? JSON.parse(stateTag.textContent).state || {} : {}; } catch (e) { state = null; }
  document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').forEach(tag => {
    let id = '?';
    try { id = JSON.parse(tag.textContent).model_id; } catch (e) {}
    const box = tag.previousElementSibling;
    const area = box && box.classList.contains('widget-subarea') ? box : null;
    const rect = area ? area.getBoundingClientRect() : null;
    // Controls drawn past the right edge of the output column: cut off, or over the page's sidebar.
    const outside = area ? Array.from(area.querySelectorAll('*')).filter(e => {
      const q = e.getBoundingClientRect();
      return q.width > 0 && q.height > 0 && q.right > rect.right + 2;
    }) : [];
    const overflow = outside.filter(e => !outside.some(o => o !== e && o.contains(e))).map(e => {
      const q = e.getBoundingClientRect();
      const where = `${Math.round(q.left - rect.left)}-${Math.round(q.right - rect.left)} px`;
      return `${snip(e.innerText, 30) || e.tagName.toLowerCase()} at ${where}`;
    });
    facts.widgets.push({model_id: id, inState: !!(state && id in state), stateTag: !!stateTag,
                        stateParses: state !== null,
                        drawn: !!area, children: area ? area.querySelectorAll('*').length : 0,
                        width: rect ? rect.width : 0, height: rect ? rect.height : 0,
                        text: area ? snip(area.innerText, 120) : '', overflow, cell: cellOf(tag)});
  });

  // Links and ids, checked against the whole site in Python.
  document.querySelectorAll('a[href]').forEach(a =>
    facts.links.push({href: a.getAttribute('href'), abs: a.href, text: snip(a.textContent, 60)}));
  document.querySelectorAll('[id]').forEach(el => facts.ids.push(el.id));
  document.querySelectorAll('a[name]').forEach(el => facts.ids.push(el.getAttribute('name')));
  return facts;
}
"""

# Done when every widget view has something drawn, except those that never will be (no widget manager on the page, or
# a model missing from the widget state): the checks report these as empty.
_WIDGETS_DRAWN_JS = r"""
() => {
  if (!document.querySelector('script[src*="html-manager"], script[src*="embed-amd"], script[src*="jupyter-widgets"]'))
    return true;
  let state = {};
  const stateTag = document.querySelector('script[type="application/vnd.jupyter.widget-state+json"]');
  try { state = JSON.parse(stateTag.textContent).state; } catch (e) { return true; }
  return Array.from(document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]')).every(tag => {
    let id; try { id = JSON.parse(tag.textContent).model_id; } catch (e) { return true; }
    const box = tag.previousElementSibling;
    return !(id in state) || (box && box.classList.contains('widget-subarea') && box.children.length > 0);
  });
}
"""

_MATHJAX_DONE_JS = r"""
async () => {
  if (!window.MathJax) return 'no MathJax on the page';
  if (!MathJax.startup || !MathJax.startup.promise) return 'MathJax configured but never loaded';
  await MathJax.startup.promise;
  return 'typeset';
}
"""


class _Tab:
    """A page being opened: it records JavaScript errors and the site's files it does not get, from the start."""

    def __init__(self, context, url: str):
        self.url, self.start = url, time.perf_counter()
        self.page = page = context.new_page()
        self.origin = origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
        self.js_errors, self.missing, self.outside, self.console, answered = [], [], [], [], set()

        def response(r):
            answered.add(r.url)
            if r.status >= 400 and r.url.startswith(origin):
                self.missing.append(f"{r.status} {r.url}")

        def offline(route):  # the site is meant to work offline: note what it fetches from elsewhere, don't fetch it
            self.outside.append(route.request.url[:200])
            route.abort()

        page.on("pageerror", lambda e: self.js_errors.append(f"{e.name}: {e.message}".splitlines()[0][:300]))
        page.on("console", lambda msg: self.console.append(msg.text[:300]) if msg.type == "error" else None)
        page.on("response", response)
        page.on("requestfailed", lambda r: self.missing.append(f"{r.failure} {r.url}")  # no answer (not a 404's abort)
                if r.url.startswith(origin) and r.url not in answered else None)
        page.route(re.compile(rf"^(?!{re.escape(origin)}/|data:)"), offline)
        page.goto(url, wait_until="commit")  # the rest of the loading goes on while other tabs are inspected

    def inspect(self, screenshot: Path | None = None) -> dict:
        """Wait for the page, MathJax and the widgets; return what it shows (see _FACTS_JS); close the tab."""
        page = self.page
        try:
            page.wait_for_load_state("load")
            # A redirect page (the root index.html is <meta http-equiv="Refresh">): follow it to where the reader lands.
            page.wait_for_function("document.readyState === 'complete' && "
                                   "!document.querySelector('meta[http-equiv=\"Refresh\" i]')", timeout=10_000)
            page.wait_for_load_state("load")
            mathjax = page.evaluate(f"() => Promise.race([({_MATHJAX_DONE_JS})(), "
                                    f"new Promise(r => setTimeout(() => r('MathJax still typesetting after "
                                    f"{MATHJAX_TIMEOUT_MS // 1000} s'), {MATHJAX_TIMEOUT_MS}))])")
            try:
                page.wait_for_function(_WIDGETS_DRAWN_JS, timeout=WIDGET_TIMEOUT_MS)
            except Exception:  # noqa: BLE001 - a timeout: the facts say which widget is empty
                pass
            facts = page.evaluate(_FACTS_JS)
            checked = time.perf_counter()
            if screenshot is not None:
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(screenshot), full_page=True)
        finally:
            page.close()
        facts.update(requested=self.url, mathjax=mathjax, js_errors=self.js_errors, missing=self.missing,
                     outside=self.outside, console=self.console, seconds_check=checked - self.start,
                     seconds_screenshot=time.perf_counter() - checked)
        return facts


def browse_all(context, urls: list[str], screenshots: list[Path | None] | None = None, ahead: int = 0) -> list[dict]:
    """browse() each URL, with up to ``ahead`` more pages loading in other tabs meanwhile.

    Sequential by default: on the 2-core course machine, 2 pages ahead made the 12 pages of the book 15-40 % slower
    (the screenshots of long pages compete with the loading tabs), not faster.
    """
    screenshots = screenshots or [None] * len(urls)
    tabs, facts = [], []
    for i in range(len(urls)):
        while len(tabs) < ahead + 1 and len(facts) + len(tabs) < len(urls):
            tabs.append(_Tab(context, urls[len(facts) + len(tabs)]))
        facts.append(tabs.pop(0).inspect(screenshots[i]))
    return facts


def browse(context, url: str, screenshot: Path | None = None) -> dict:
    """Open ``url`` in a new tab, wait for MathJax and the widgets, return what it shows (see _FACTS_JS)."""
    return _Tab(context, url).inspect(screenshot)


def page_problems(facts: dict) -> list[str]:
    """The reader-visible problems of one page (everything but links, which need the whole site)."""
    problems = []
    for hit in facts["rawTex"][:5]:
        problems.append(f"raw TeX, not typeset ({facts['mathjax']}): \"{hit['snippet']}\"")
    if len(facts["rawTex"]) > 5:
        problems.append(f"raw TeX, not typeset: {len(facts['rawTex']) - 5} more snippets")
    for hit in facts["mathErrors"]:
        problems.append(f"MathJax error \"{hit['error']}\" in \"{hit['tex']}\"")
    if facts["codeCells"] and not facts["outputs"]:
        problems.append(f"{facts['codeCells']} code cells and not one output: the notebook was saved unexecuted, "
                        f"so the site built from committed outputs shows no result")
    for hit in facts["errors"]:
        problems.append(f"{hit['kind']}: {hit['snippet']!r}" + (f" (cell: {hit['cell']!r})" if hit["cell"] else ""))
    for img in facts["images"]:
        problems.append(f"image did not load: src={img['src']!r} alt={img['alt']!r}")
    for w in facts["widgets"]:
        error = re.search(r"Error displaying widget|Could not create a view|Failed to load", w["text"])
        if w["drawn"] and w["children"] and w["width"] > 0 and w["height"] > 0 and not error:
            continue
        if not w["stateTag"]:
            why = "the page has no widget state"
        elif not w["stateParses"]:
            why = "the page's widget state is not valid JSON"
        elif not w["inState"]:
            why = "its model is not in the page's widget state (saved without it)"
        elif error:
            why = f"the widget manager shows {w['text']!r}"
        elif not w["drawn"]:
            why = "the widget manager drew nothing (not loaded?)"
        else:
            why = f"drawn {w['width']:.0f}x{w['height']:.0f} px with {w['children']} elements"
        problems.append(f"empty widget {w['model_id']}: {why}" + (f" (cell: {w['cell']!r})" if w["cell"] else ""))
    for w in facts["widgets"]:
        if w["overflow"]:
            problems.append(f"widget {w['model_id']} is wider than the page's column ({w['width']:.0f} px): "
                            f"{'; '.join(w['overflow'][:6])}" + (f"; {len(w['overflow']) - 6} more"
                                                               if len(w["overflow"]) > 6 else "")
                            + (f" (cell: {w['cell']!r})" if w["cell"] else ""))
    for error in facts["js_errors"]:
        if not benign_js_error(error, facts):
            problems.append(f"JavaScript error: {error}")
    for miss in facts["missing"]:
        if not benign_missing_file(miss):
            problems.append(f"the page asks for a file of the site it does not get: {miss}")
    return problems


def benign_js_error(error: str, facts: dict) -> bool:
    """A redeclaration error thrown by an exact copy of an inline script that already ran: nothing is lost.

    Every page of a jupyter-book 1.0.4 site (Sphinx 7.4, sphinx-thebe 0.3.1) has sphinx-thebe's inline
    ``<script>const THEBE_JS_URL = ...; const thebe_selector = ...</script>`` twice in its <head> (the extension adds
    it on env-before-read-docs, and the page gets it twice); the second copy throws "SyntaxError: Identifier
    'THEBE_JS_URL' has already been declared" and defines nothing, but the first copy has already defined the same
    constants to the same values, so thebe (the live-code button) and the page work as with one copy. Any other error,
    or a redeclaration that is not from an exact duplicate, fails the check.
    """
    match = re.fullmatch(r"SyntaxError: Identifier '([\w$]+)' has already been declared", error)
    return bool(match) and any(re.search(rf"\b(const|let|class)\s+{re.escape(match.group(1))}\b", body)
                               for body in facts.get("duplicateScripts", []))


# The widget manager (@jupyter-widgets/html-manager 1.0.15, embed-amd.js) computes where its FontAwesome 4 files are
# from the require.js ids of its own modules (@jupyter-widgets/html-manager/dist/libembed-amd, @jupyter-widgets/...),
# which require.js resolves relative to the page: it asks for <page folder>/@jupyter-widgets/[html-manager/dist/]
# <hash>.woff2 (then .woff, .ttf), which is no file of the site (they are in vendor/html-manager/). Nothing is lost: the
# widgets draw no text in that font, and the icons of icon widgets (the playground's upload button) are drawn as inline
# SVG by the theme's own FontAwesome 6 (_static/scripts/fontawesome.js replaces each <i class="fa ..."> with an <svg>).
# So these are not failures; every other missing file, including MathJax's fonts, is.
_WIDGET_ICON_FONTS = re.compile(r"^404 \S*/@jupyter-widgets/(html-manager/dist/)?[0-9a-f]{20}\.(woff2?|ttf|eot|svg)$")


def benign_missing_file(miss: str) -> bool:
    return bool(_WIDGET_ICON_FONTS.match(miss))


class _Ids(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name == "id" or (tag == "a" and name == "name"):
                self.ids.add(value)


def link_problems(site: Path, base: str, pages: dict[str, dict]) -> list[tuple[str, str]]:
    """(page, problem) for every same-site href that leads to no file, or to a #fragment that is no id there.

    ``pages`` maps a page's URL to its facts; the ids of pages not browsed are read from their HTML. Links to other
    hosts, mailto: and the like, and to Sphinx's generated genindex/search pages, are not followed.
    """
    netloc = urlsplit(base).netloc
    live_ids = {urlsplit(facts["url"]).path: set(facts["ids"]) for facts in pages.values()}
    static_ids: dict[str, set] = {}
    problems = []
    for facts in pages.values():
        seen = set()
        for link in facts["links"]:
            target = urlsplit(link["abs"])
            if target.scheme not in ("http", "https") or target.netloc != netloc or link["abs"] in seen:
                continue
            seen.add(link["abs"])
            path = unquote(target.path)
            file = site / path.lstrip("/")
            if file.is_dir():
                file = file / "index.html"
                path = path.rstrip("/") + "/index.html"
            if file.name in NOT_PAGES and file.parent == site:
                continue
            if not file.is_file():
                problems.append((facts["url"], f"link to a missing file: href={link['href']!r} ({link['text']!r})"))
                continue
            fragment = unquote(target.fragment)
            if not fragment or file.suffix != ".html":
                continue
            ids = live_ids.get(path)
            if ids is None:
                if path not in static_ids:
                    parser = _Ids()
                    parser.feed(file.read_text(errors="replace"))
                    static_ids[path] = parser.ids
                ids = static_ids[path]
            if fragment not in ids:
                problems.append((facts["url"], f"link to a missing anchor: href={link['href']!r} ({link['text']!r}): "
                                               f"no id={fragment!r} in {path}"))
    return problems


# ---------------------------------------------------------------------------------------------------- the book


def site_pages(site: Path) -> list[str]:
    """The site's pages, relative to its root: every _toc.yml entry's .html and the root index.html."""
    from sphinx_external_toc.parsing import parse_toc_yaml

    toc = parse_toc_yaml(ROOT / "_toc.yml")
    pages = ["index.html"] + [f"{docname}.html" for docname in toc]  # the root, then in order
    # Anything else the build wrote (a page outside the toc would be unreachable from the navigation)
    for file in sorted(site.rglob("*.html")):
        rel = file.relative_to(site)
        if rel.parts[0] in NOT_PAGE_DIRS or (len(rel.parts) == 1 and rel.name in NOT_PAGES):
            continue
        if rel.as_posix() not in pages:
            pages.append(rel.as_posix())
    return pages


@pytest.fixture(scope="module")
def book_site():
    """The book built from the committed outputs (the build time is this fixture's setup time in --durations)."""
    tasks = _load_tasks()
    start = time.perf_counter()
    try:
        site, warnings = tasks.site_from_committed_outputs(strict=False)  # its warnings are reported with the pages'
    except tasks.TaskFailed as failure:
        pytest.fail(str(failure), pytrace=False)
    print(f"\nbook built from committed outputs in {time.perf_counter() - start:.1f} s: {site}")
    return site, warnings


def test_every_page_of_the_book_reads_cleanly_in_a_browser(browser, book_site):  # no build without a browser
    book_site, warnings = book_site
    pages = site_pages(book_site)
    missing_pages = [p for p in pages if not (book_site / p).is_file()]
    if SCREENSHOTS.exists():
        shutil.rmtree(SCREENSHOTS)
    problems: list[tuple[str, str]] = [("the build (-W)", warning) for warning in warnings]
    problems += [(p, "in _toc.yml but not built") for p in missing_pages]
    notes: list[str] = []
    summary: list[str] = []
    facts_by_url: dict[str, dict] = {}
    start = time.perf_counter()
    with serve(book_site) as base:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        try:
            browsed = [rel for rel in pages if rel not in missing_pages]
            shots = [SCREENSHOTS / (rel.removesuffix(".html").replace("/", "__") + ".png") for rel in browsed]
            for rel, facts in zip(browsed, browse_all(context, [base + rel for rel in browsed], shots)):
                facts_by_url[facts["requested"]] = facts
                problems += [(rel, problem) for problem in page_problems(facts)]
                summary.append(f"{rel}: {facts['mathCount']} maths typeset, {facts['imageCount']} images, "
                               f"{len(facts['widgets'])} widgets, {len(facts['links'])} links; "
                               f"{facts['seconds_check']:.1f} s + screenshot {facts['seconds_screenshot']:.1f} s")
                print(summary[-1])
                notes += [f"{rel}: stderr output {e['snippet']!r} (cell: {e['cell']!r})" for e in facts["stderr"]]
                notes += [f"{rel}: harmless, see benign_js_error(): {e}" for e in facts["js_errors"]
                          if benign_js_error(e, facts)]
                notes += [f"{rel}: harmless, see benign_missing_file(): {m}" for m in facts["missing"]
                          if benign_missing_file(m)]
                notes += [f"{rel}: fetches from outside the site (blocked here): {u}" for u in facts["outside"]]
                notes += [f"{rel}: console error: {c}" for c in facts["console"]
                          if not c.startswith("Failed to load resource")]  # those are in facts["missing"]
        finally:
            context.close()
        problems += [(urlsplit(url).path.lstrip("/"), problem)
                     for url, problem in link_problems(book_site, base, facts_by_url)]
    print(f"\nbrowsed {len(facts_by_url)} pages in {time.perf_counter() - start:.1f} s; screenshots in {SCREENSHOTS}")
    for note in notes:
        print("note:", note)
    report = "\n".join(f"  {page}: {problem}" for page, problem in problems)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / "report.txt").write_text(  # next to the screenshots, in the CI artefact
        f"{len(problems)} problem(s)\n{report}\n\n" + "".join(f"{line}\n" for line in summary + notes))
    assert not problems, f"{len(problems)} problem(s) a reader sees on the site built from committed outputs " \
                         f"(screenshots in {SCREENSHOTS}):\n{report}"


# ------------------------------------------------------------------------------- the checks fail when they should

_CLEAN_PAGE = """<!doctype html><html><head><title>clean</title></head><body>
<h1 id="top">A clean page</h1>
<p>Prices like $5 and $6 are not maths; neither is <code>$$x$$</code> in code:</p>
<pre>\\begin{align} a \\end{align}</pre>
<img src="dot.png" alt="a dot">
<div class="cell"><div class="cell_output"><div class="output stream"><pre>240 steps in 271 s</pre></div></div></div>
<div class="output stderr"><pre>100%|##########| 240/240</pre></div>
<div class="widget-subarea"><div style="height:20px;width:200px">100%</div></div>
<script type="application/vnd.jupyter.widget-view+json">{"model_id": "m1", "version_major": 2}</script>
<a href="other.html#here">an anchor</a> <a href="#top">top</a> <a href="https://example.org/x">external</a>
<a href="mailto:a@b.c">mail</a> <a href="genindex.html">index</a> <a href="./">this folder</a>
</body></html>"""

_BROKEN_PAGES = {
    "tex.html": "<p>Inline \\(a+b\\) and $$\\sum_i x_i$$ and $\\alpha$ with no MathJax.</p>",
    "traceback.html": ('<div class="cell"><div class="cell_input"><pre>1/0</pre></div><div class="cell_output">'
                       '<div class="output traceback"><pre>ZeroDivisionError: division by zero</pre></div></div></div>'
                       '<div class="cell_output"><div class="output stream"><pre>Traceback (most recent call last):\n'
                       '  File "x.py"\nKeyError: 3</pre></div></div>'
                       '<div class="output stderr"><pre>RuntimeError: no kernel</pre></div>'),
    "unexecuted.html": ('<div class="cell"><div class="cell_input"><pre>display(table)</pre></div></div>'
                        '<div class="cell"><div class="cell_input"><pre>plot()</pre></div></div>'),
    "image.html": '<img src="nowhere.png" alt="lost"> <img src="data:image/png;base64,AAAA" alt="garbled">',
    "links.html": '<a href="gone.html">gone</a> <a href="other.html#nowhere">bad anchor</a> <a href="#nope">self</a>',
    "widget.html": ('<script type="application/vnd.jupyter.widget-state+json">{"state": {"m1": {}, "m3": {}}}</script>'
                    '<script type="application/vnd.jupyter.widget-view+json">{"model_id": "m1"}</script>'
                    '<div class="widget-subarea"></div>'
                    '<script type="application/vnd.jupyter.widget-view+json">{"model_id": "m1"}</script>'
                    '<div class="widget-subarea"><div>Error displaying widget</div></div>'
                    '<script type="application/vnd.jupyter.widget-view+json">{"model_id": "m3"}</script>'
                    '<script type="application/vnd.jupyter.widget-view+json">{"model_id": "m2"}</script>'
                    '<div style="width: 400px"><div class="widget-subarea"><div style="display: flex">'  # an HBox
                    '<span style="flex: none; width: 300px">colour</span>'
                    '<span style="flex: none; width: 300px">x 0.30</span></div></div>'
                    '<script type="application/vnd.jupyter.widget-view+json">{"model_id": "m3"}</script></div>'),
    "script.html": '<script>undefinedFunction()</script><script src="missing.js"></script>',
    "redeclared.html": ("<script>const A = 1;</script><script>const A = 1;</script>"  # sphinx-thebe's duplicate: benign
                        "<script>const B = 1;</script><script>const B = 2;</script>"),  # a real conflict
}

_DOT_PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c63f8"
                         "cfc0f01f0005000201e2a5d7c40000000049454e44ae426082")


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory, browser):
    """Browse the tiny pages once; each test_check_* looks at one kind of problem."""
    site = tmp_path_factory.mktemp("synthetic-site")
    (site / "dot.png").write_bytes(_DOT_PNG)
    (site / "index.html").write_text(_CLEAN_PAGE)
    (site / "other.html").write_text('<html><body><h2 id="here">here</h2></body></html>')
    for name, body in _BROKEN_PAGES.items():
        (site / name).write_text(f"<!doctype html><html><head><title>{name}</title></head><body>{body}</body></html>")
    with serve(site) as base:
        context = browser.new_context(viewport={"width": 1296, "height": 800})  # 8 px margins: boxes 1280 px wide
        try:
            names = ["index.html", *_BROKEN_PAGES]
            facts = dict(zip(names, browse_all(context, [base + name for name in names])))
        finally:
            context.close()
        links = link_problems(site, base, {f["requested"]: f for f in facts.values()})
    return {name: page_problems(f) for name, f in facts.items()}, links, facts


def test_check_passes_a_clean_page(synthetic):
    problems, links, _ = synthetic
    assert problems["index.html"] == []
    assert [p for url, p in links if url.endswith("/index.html")] == []


def test_check_finds_raw_tex(synthetic):
    problems, _, facts = synthetic
    assert facts["tex.html"]["mathjax"] == "no MathJax on the page"
    text = "\n".join(problems["tex.html"])
    assert len(problems["tex.html"]) == 1 and "raw TeX, not typeset" in text and "\\(a+b\\)" in text


def test_check_finds_mathjax_errors(browser, tmp_path):
    tasks = _load_tasks()
    vendor = tasks.VENDOR / "mathjax"
    if not (vendor / "tex-chtml.js").exists():
        pytest.skip("MathJax is not vendored (python3 tasks.py book fetches it with npm)")
    (tmp_path / "mathjax").symlink_to(vendor)  # http.server follows it
    (tmp_path / "math.html").write_text('<html><head><script defer src="mathjax/tex-chtml.js"></script></head><body>'
                                        '<p>\\(\\undefinedmacro x\\) and \\(a^2\\) and \\(\\frac{1}\\)</p>'
                                        '</body></html>')
    with serve(tmp_path) as base:
        context = browser.new_context()
        try:
            facts = browse(context, base + "math.html")
        finally:
            context.close()
    assert facts["mathjax"] == "typeset" and facts["rawTex"] == []
    assert page_problems(facts) == [
        'MathJax error "undefined control sequence \\undefinedmacro" in "\\undefinedmacro x"',
        'MathJax error "Missing argument for \\frac" in "\\frac{1}"',
    ]


def test_check_finds_execution_errors(synthetic):
    problems, _, _ = synthetic
    text = "\n".join(problems["traceback.html"])
    assert "error output: 'ZeroDivisionError: division by zero' (cell: '1/0')" in text
    assert "traceback in an output: 'Traceback (most recent call last)" in text
    assert "error in stderr: 'RuntimeError: no kernel'" in text


def test_check_finds_notebooks_saved_without_outputs(synthetic):
    problems, _, facts = synthetic
    assert problems["unexecuted.html"] == ["2 code cells and not one output: the notebook was saved unexecuted, so the "
                                           "site built from committed outputs shows no result"]
    assert facts["traceback.html"]["outputs"] == 1 and problems["index.html"] == []


def test_check_finds_images_that_did_not_load(synthetic):
    problems, _, _ = synthetic
    assert problems["image.html"] == [
        "image did not load: src='nowhere.png' alt='lost'",
        "image did not load: src='data:image/png;base64,AAAA' alt='garbled'",
        "the page asks for a file of the site it does not get: 404 " + _url_of(synthetic, "image.html", "nowhere.png"),
    ]


def _url_of(synthetic, page, name):
    return synthetic[2][page]["url"].rsplit("/", 1)[0] + "/" + name


def test_check_finds_broken_links_and_anchors(synthetic):
    _, links, _ = synthetic
    found = sorted(p for url, p in links if url.endswith("/links.html"))
    assert found == [
        "link to a missing anchor: href='#nope' ('self'): no id='nope' in /links.html",
        "link to a missing anchor: href='other.html#nowhere' ('bad anchor'): no id='nowhere' in /other.html",
        "link to a missing file: href='gone.html' ('gone')",
    ]


def test_check_finds_empty_widgets(synthetic):
    problems, _, _ = synthetic
    assert problems["widget.html"] == [
        "empty widget m1: the widget manager drew nothing (not loaded?)",
        "empty widget m1: drawn 1280x0 px with 0 elements",
        "empty widget m3: the widget manager shows 'Error displaying widget'",
        "empty widget m2: its model is not in the page's widget state (saved without it)",
        "widget m3 is wider than the page's column (400 px): x 0.30 at 300-600 px",
    ]


def test_check_finds_javascript_errors(synthetic):
    problems, _, _ = synthetic
    text = "\n".join(problems["script.html"])
    assert "JavaScript error: ReferenceError: undefinedFunction is not defined" in text
    assert "404 " + _url_of(synthetic, "script.html", "missing.js") in text


def test_check_tolerates_only_exact_duplicate_scripts_and_the_widget_icon_fonts(synthetic):
    problems, _, facts = synthetic
    assert facts["redeclared.html"]["js_errors"] == ["SyntaxError: Identifier 'A' has already been declared",
                                                    "SyntaxError: Identifier 'B' has already been declared"]
    assert problems["redeclared.html"] == ["JavaScript error: SyntaxError: Identifier 'B' has already been declared"]
    assert benign_missing_file("404 http://127.0.0.1:1/notebooks/@jupyter-widgets/html-manager/dist/"
                               "1551f4f60c37af51121f.woff2")
    assert not benign_missing_file("404 http://127.0.0.1:1/vendor/mathjax/output/chtml/fonts/woff-v2/MathJax_Zero.woff")
    assert not benign_missing_file("404 http://127.0.0.1:1/notebooks/@jupyter-widgets/html-manager/dist/embed-amd.js")
