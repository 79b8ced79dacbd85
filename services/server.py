"""Running the entry service with ``bentoml serve`` for a data home: the command and environment
(``BENTOML_HOME`` is the home's model store, ``SHOPML_HOME`` the home), and a context manager that
starts it on a free loopback port, waits until it is ready and stops it (tests, bench, demo).

A simulated shop's world stops at the midnight after its last simulated day, so its services run
on that clock (``SHOPML_SERVING_TIME``, unless set already): on the wall clock its features would
all be past their TTL. Imported data is served on the wall clock, like a live shop.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx

from shopml.settings import HOME_ENV_VAR, PACKAGE_DIR, SERVING_TIME_ENV_VAR, Settings, serving_time
from shopml.warehouse.database import WarehouseMissingError, connect, scalar

ENTRY_SERVICE = "services.service:Shop"
BENTOML_CLI = Path(sys.executable).parent / "bentoml"
READY_TIMEOUT_S = 180.0
STARTUP_FAILED = "Application startup failed"       # bentoml's log line when a service cannot start


class ServerError(RuntimeError):
    """The server exited or did not become ready; the message carries its log and /health."""


def serve_command(port: int, host: str = "127.0.0.1", service: str = ENTRY_SERVICE) -> list[str]:
    return [str(BENTOML_CLI), "serve", service, "--host", host, "--port", str(port)]


def simulated_world_end(settings: Settings) -> datetime | None:
    """The midnight after the last event of the home's simulated shop; None for imported data."""
    try:
        with connect(settings.warehouse_path) as con:
            if scalar(con, "SELECT count(*) FROM warehouse_info WHERE source = 'simulated'") == 0:
                return None
            last = scalar(con, "SELECT max(ts) FROM events")
    except WarehouseMissingError:
        return None
    day = last.astimezone(timezone.utc).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)


def fixed_serving_time(settings: Settings) -> datetime | None:
    """The time a home's services are fixed at: its simulated world's end, unless
    ``SHOPML_SERVING_TIME`` already fixes one (None: that, or the wall clock)."""
    return None if os.environ.get(SERVING_TIME_ENV_VAR) else simulated_world_end(settings)


def home_clock(settings: Settings) -> Callable[[], datetime]:
    """The clock the services of this home run on under ``serve_environment``, for in-process use."""
    fixed = fixed_serving_time(settings)
    return serving_time if fixed is None else lambda: fixed


def serve_environment(settings: Settings) -> dict[str, str]:
    environment = {**os.environ, HOME_ENV_VAR: str(settings.home), "BENTOML_HOME": str(settings.model_store),
                   "HF_HUB_OFFLINE": "1", "BENTOML_DO_NOT_TRACK": "True"}
    fixed = fixed_serving_time(settings)
    if fixed is not None:
        environment[SERVING_TIME_ENV_VAR] = fixed.isoformat()
    return environment


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
                   timeout: float = READY_TIMEOUT_S, require_ready: bool = True,
                   log_path: Path | None = None) -> Iterator[str]:
    """Serve ``service`` for this home on loopback; yields its base URL once ready (or, with
    ``require_ready=False``, once it answers at all: to see why it is not ready). The server's log
    goes to ``log_path`` when given (and stays there), else to a temporary file removed after."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    if log_path is None:
        with tempfile.NamedTemporaryFile(prefix="shopml-serve-", suffix=".log", delete=False) as temporary:
            path, keep = Path(temporary.name), False
    else:
        path, keep = log_path, True
    with path.open("w") as log:
        process = subprocess.Popen(serve_command(port, service=service), cwd=PACKAGE_DIR.parent,
                                   env=serve_environment(settings), stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_until_up(url, "readyz" if require_ready else "livez", process, path, timeout)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if not keep:
            path.unlink(missing_ok=True)
