"""The chapters are JupyterLab walkthroughs: JupyterLab from the course's environment starts, serves a chapter as a
notebook, and starts a kernel that answers. Headless (no browser), on a free local port; the HTTP requests use the
standard library, the kernel is asked for its info over ZeroMQ with jupyter_client (JupyterLab's own dependency)."""

from __future__ import annotations

import json
import os
import platform
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTER = "notebooks/00_shapes_world.ipynb"
START_TIMEOUT_S = 60  # JupyterLab takes a few seconds to start; more on a busy 2-core machine
KERNEL_TIMEOUT_S = 60


@dataclass
class Lab:
    url: str
    token: str
    process: subprocess.Popen
    runtime: Path  # where the server writes its kernels' connection files

    def request(self, method: str, path: str, body: dict | None = None, timeout: float = 10) -> tuple[int, str, bytes]:
        """One HTTP request to the server with the token: (status, content type, body)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method,
                                         headers={"Authorization": f"token {self.token}",
                                                  "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.headers.get("Content-Type", ""), response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("Content-Type", ""), error.read()

    def json(self, method: str, path: str, body: dict | None = None) -> Any:
        status, _, content = self.request(method, path, body)
        assert 200 <= status < 300, f"{method} {path}: HTTP {status}: {content[:500]!r}"
        return json.loads(content) if content else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture()
def lab(tmp_path) -> Iterator[Lab]:
    """``jupyter lab`` on the repository, headless, on a free port with a fresh token; shut down (or killed) after."""
    token, port = secrets.token_hex(16), free_port()
    log = (tmp_path / "jupyterlab.log").open("w+")
    # Jupyter's and IPython's folders in tmp_path: no setting or kernel spec in the user's home changes the test.
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
               JUPYTER_DATA_DIR=str(tmp_path / "data"), JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"),
               IPYTHONDIR=str(tmp_path / "ipython"))
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT}",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--LabApp.news_url=None",
         "--LabApp.extension_manager=readonly",  # no network: no update check, no news, no extension listing
         *(["--allow-root"] if os.geteuid() == 0 else [])],  # CI and the course's machines run as root
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    server = Lab(f"http://127.0.0.1:{port}", token, process, tmp_path / "runtime")
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                log.seek(0)
                pytest.fail(f"jupyter lab exited with status {process.returncode} before answering:\n"
                            f"{log.read()[-3000:]}")
            try:
                if server.request("GET", "/api/status", timeout=2)[0] == 200:
                    break
            except OSError:  # not listening yet
                pass
            if time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"jupyter lab did not answer within {START_TIMEOUT_S} s:\n{log.read()[-3000:]}")
            time.sleep(0.25)
        yield server
    finally:
        try:
            server.request("POST", "/api/shutdown", timeout=5)  # stops its kernels too
            process.wait(timeout=15)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait(timeout=15)
        log.close()


def test_jupyterlab_serves_a_chapter_and_starts_a_kernel(lab):
    status, content_type, page = lab.request("GET", "/lab")
    assert status == 200 and content_type.startswith("text/html") and b"<title>JupyterLab</title>" in page
    config = re.search(rb'<script id="jupyter-config-data" type="application/json">(.*?)</script>', page, re.S)
    assert config, "the page carries no jupyter-config-data: not JupyterLab's application page"
    config = json.loads(config.group(1))
    assert (config["appName"], config["appVersion"]) == ("JupyterLab", version("jupyterlab"))

    model = lab.json("GET", f"/api/contents/{CHAPTER}")
    on_disk = json.loads((ROOT / CHAPTER).read_text())
    assert (model["type"], model["format"], model["path"]) == ("notebook", "json", CHAPTER)
    assert model["content"]["nbformat"] == 4 and len(model["content"]["cells"]) == len(on_disk["cells"])
    assert model["content"]["cells"][0]["source"] == "".join(on_disk["cells"][0]["source"])

    kernel = lab.json("POST", "/api/kernels", {"name": "python3"})
    assert kernel["name"] == "python3"
    assert [k["id"] for k in lab.json("GET", "/api/kernels")] == [kernel["id"]]
    # The REST state stays "starting" until a client talks to the kernel: ask it for its info, as JupyterLab does.
    from jupyter_client import BlockingKernelClient

    client = BlockingKernelClient(connection_file=str(lab.runtime / f"kernel-{kernel['id']}.json"))
    client.load_connection_file()
    client.start_channels()
    try:
        reply = client.kernel_info(reply=True, timeout=KERNEL_TIMEOUT_S)["content"]
    finally:
        client.stop_channels()
    assert reply["status"] == "ok" and reply["language_info"]["name"] == "python"
    assert reply["language_info"]["version"] == platform.python_version()  # the course's Python, not another one
    lab.json("DELETE", f"/api/kernels/{kernel['id']}")
    assert all(k["id"] != kernel["id"] for k in lab.json("GET", "/api/kernels"))
