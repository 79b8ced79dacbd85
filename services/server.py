"""Running the entry service with ``bentoml serve`` for a data home: the command and environment
(``BENTOML_HOME`` is the home's model store, ``SHOPML_HOME`` the home), and a context manager that
starts it on a free loopback port, waits until it is ready and stops it (tests, bench, demo).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from shopml.settings import HOME_ENV_VAR, PACKAGE_DIR, Settings

ENTRY_SERVICE = "services.service:Shop"
BENTOML_CLI = Path(sys.executable).parent / "bentoml"
READY_TIMEOUT_S = 180.0
STARTUP_FAILED = "Application startup failed"       # bentoml's log line when a service cannot start


class ServerError(RuntimeError):
    """The server exited or did not become ready; the message carries its log and /health."""


def serve_command(port: int, host: str = "127.0.0.1", service: str = ENTRY_SERVICE) -> list[str]:
    return [str(BENTOML_CLI), "serve", service, "--host", host, "--port", str(port)]


def serve_environment(settings: Settings) -> dict[str, str]:
    return {**os.environ, HOME_ENV_VAR: str(settings.home), "BENTOML_HOME": str(settings.model_store),
            "HF_HUB_OFFLINE": "1", "BENTOML_DO_NOT_TRACK": "True"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_up(url: str, probe: str, process: subprocess.Popen, log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None or STARTUP_FAILED in log_path.read_text():
            process.terminate()
            raise ServerError(f"the server failed to start:\n{log_path.read_text()[-4000:]}")
        try:
            if httpx.get(f"{url}/{probe}", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    try:
        health = httpx.get(f"{url}/health/", timeout=5).text
    except httpx.TransportError:
        health = "(no answer)"
    raise ServerError(f"the server was not ready after {timeout:.0f} s; /health: {health}\n"
                      f"{log_path.read_text()[-4000:]}")


@contextmanager
def running_server(settings: Settings, service: str = ENTRY_SERVICE, port: int | None = None,
                   timeout: float = READY_TIMEOUT_S, require_ready: bool = True) -> Iterator[str]:
    """Serve ``service`` for this home on loopback; yields its base URL once ready (or, with
    ``require_ready=False``, once it answers at all: to see why it is not ready)."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.NamedTemporaryFile("w+", prefix="shopml-serve-", suffix=".log", delete=False) as log:
        process = subprocess.Popen(serve_command(port, service=service), cwd=PACKAGE_DIR.parent,
                                   env=serve_environment(settings), stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_until_up(url, "readyz" if require_ready else "livez", process, Path(log.name), timeout)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        Path(log.name).unlink(missing_ok=True)
