"""`feast ui` in feature_repo/ shows the registry, as data engineers expect (it needs Feast's
grpcio extra, which pyproject.toml asks for): the UI starts on the tiny shop's home, lists the
project and serves every feature view and feature service through its REST API."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from feature_repo.definitions import names
from services.server import free_port
from shopml.settings import HOME_ENV_VAR

REPO = Path(__file__).resolve().parents[2] / "feature_repo"


def test_feast_ui_serves_the_registry(model_home):
    port = free_port()
    feast = Path(sys.executable).with_name("feast")
    ui = subprocess.Popen([str(feast), "-c", str(REPO), "ui", "--host", "127.0.0.1", "--port", str(port)],
                          env={**os.environ, HOME_ENV_VAR: str(model_home.home)}, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    try:
        url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 90
        while True:
            assert ui.poll() is None, f"feast ui exited: {ui.stdout.read()}"
            try:
                projects = httpx.get(f"{url}/projects-list.json", timeout=2).json()
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "feast ui did not answer within 90 s"
                time.sleep(0.5)
        assert [p["id"] for p in projects["projects"]] == ["shopml"]
        api = f"{url}{projects['projects'][0]['registryPath']}"
        views = httpx.get(f"{api}/feature_views", params={"project": "shopml", "limit": 100}, timeout=30).json()
        services = httpx.get(f"{api}/feature_services", params={"project": "shopml", "limit": 100}, timeout=30).json()
        assert set(names.BATCH_VIEWS) <= {v["spec"]["name"] for v in views["featureViews"]}
        assert {names.CHURN_V1, names.DISPLAY_ORDER_V1} <= {s["spec"]["name"] for s in services["featureServices"]}
    finally:
        ui.terminate()
        ui.wait(timeout=30)
