"""One Superset per test session, over the marts of a small generated operator.

The data is real and small (``build_operator.py``): a generated operator (300 customers,
45 days, one day of per-minute KPIs) landed by the pipeline and built by ``dbt build`` on
DuckDB, with churn scores, next best actions, model evaluations and drift written to the
gold tables ml/ writes (the contracts of data_contracts/gold.py) before the build, so
every chart has rows. Superset is set up by ``cems dashboards up --no-serve`` (while the
data builds) and served by ``cems dashboards serve``, exactly as a person runs them.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import yaml

from data_contracts.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS_DIR = REPO_ROOT / "dashboards"
ASSETS = DASHBOARDS_DIR / "assets"
SUPERSET_PYTHON = DASHBOARDS_DIR / ".venv" / "bin" / "python"


def load_script(name: str) -> ModuleType:
    """A script of dashboards/ (they run in the Superset env; the parts tested need PyYAML)."""
    if str(DASHBOARDS_DIR) not in sys.path:
        sys.path.insert(0, str(DASHBOARDS_DIR))
    spec = importlib.util.spec_from_file_location(name, DASHBOARDS_DIR / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def read_assets(kind: str) -> list[tuple[Path, dict[str, Any]]]:
    return [(p, yaml.safe_load(p.read_text())) for p in sorted((ASSETS / kind).rglob("*.yaml"))]


@pytest.fixture(scope="session")
def script() -> Callable[[str], ModuleType]:
    """Imports a script of dashboards/ by name."""
    return load_script


@pytest.fixture(scope="session")
def assets() -> Callable[[str], list[tuple[Path, dict[str, Any]]]]:
    """The committed assets of one kind (charts, datasets, ...): (path, document) pairs."""
    return read_assets


@dataclass(frozen=True)
class Superset:
    url: str
    port: int
    username: str
    password: str
    env: dict[str, str]  # the environment the `cems dashboards` commands ran with
    settings: Settings

    @staticmethod
    def cli(*args: str) -> list[str]:
        """The command line of `cems dashboards ARGS` in this environment."""
        return _cli(*args)

    def client(self) -> httpx.Client:
        """An API client signed in as the admin (a JWT, as scripts use the API); close it."""
        client = httpx.Client(base_url=self.url, timeout=120)
        response = client.post(
            "/api/v1/security/login",
            json={"username": self.username, "password": self.password, "provider": "db"},
        )
        response.raise_for_status()
        client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        return client


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "api.cli.main", "dashboards", *args]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def superset(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Superset]:
    """A served Superset with the dashboards imported, over freshly built marts."""
    if not SUPERSET_PYTHON.is_file():
        pytest.fail(
            "dashboards/.venv is missing: `make dashboards-setup` builds it (make test does)"
        )
    home = tmp_path_factory.mktemp("dashboards-home")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CEMS_")},
        "CEMS_HOME": str(home),
        "CEMS_SUPERSET_WORKERS": "1",
    }
    warehouse = home / "warehouse" / "cems.duckdb"
    # Superset's setup reads no data: it runs while the marts build.
    setup_env = {**env, "CEMS_SUPERSET_WAREHOUSE_URI": f"duckdb:///{warehouse}"}
    setup = subprocess.Popen(
        _cli("up", "--no-serve"),
        env=setup_env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    # Its own process, as the nightly run is: Spark and dbt-duckdb's connection (which holds
    # the warehouse's write lock) end with it.
    build = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("build_operator.py")), str(home)],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if build.returncode != 0:
        setup.kill()
        setup.wait()
        pytest.fail(f"building the operator failed:\n{build.stdout[-2000:]}{build.stderr[-4000:]}")
    settings = Settings(home=home)
    output, _ = setup.communicate(timeout=900)
    assert setup.returncode == 0, output[-3000:]

    port = _free_port()
    log = (home / "serve.log").open("w")
    server = subprocess.Popen(
        _cli("serve", "--port", str(port)), env=env, cwd=REPO_ROOT, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            assert server.poll() is None, (home / "serve.log").read_text()[-3000:]
            try:
                if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "Superset did not answer /health in 4 minutes"
            time.sleep(2)
        # The CLI generated the admin's password (0600) where a person finds it too.
        password = (home / "superset" / "admin_password").read_text(encoding="utf-8").strip()
        yield Superset(url, port, "admin", password, env, settings)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=90)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
