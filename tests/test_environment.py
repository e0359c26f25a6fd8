"""pyproject.toml and environment.yml pin the same versions."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pins(lines):
    pins = {}
    for line in lines:
        match = re.match(r"^\s*([A-Za-z0-9_.\-]+)==([^\s;]+)\s*$", line)
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + [d for extra in project["optional-dependencies"].values() for d in extra]
    from_pyproject = _pins(declared)
    yml_lines = [line.strip().lstrip("-").strip() for line in (ROOT / "environment.yml").read_text().splitlines()]
    from_yml = _pins(yml_lines)
    assert from_pyproject == from_yml
    assert from_pyproject["torch"] == "2.13.0"
    assert "torchvision" not in from_pyproject
