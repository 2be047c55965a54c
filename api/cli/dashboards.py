"""`cems dashboards ...`: Superset over the gold marts, with the dashboards kept as code.

Superset lives in its own environment (``dashboards/.venv``, built by ``make
dashboards-setup``): it pins SQLAlchemy 1.4, which this environment cannot import. These
commands derive Superset's whole configuration from the CEMS settings
(:func:`superset_env`) and run that environment's programs with it:
``dashboards/manage.py`` (metadata DB, admin, import and export of ``dashboards/assets``),
gunicorn (the web server) and ``dashboards/screenshots.py`` (headless Chromium).

Settings (``data_contracts/settings.py``, from the environment; defaults in brackets):

* ``CEMS_SUPERSET_HOME`` [<CEMS_HOME>/superset]: metadata DB, caches, generated secrets.
* ``CEMS_SUPERSET_METADATA_URL`` [SQLite under the Superset home]: Superset's own database.
* ``CEMS_SUPERSET_SECRET_KEY`` [random, kept 0600 in the Superset home]: signs sessions and
  encrypts stored connection passwords.
* ``CEMS_SUPERSET_ADMIN_USERNAME`` [admin], ``CEMS_SUPERSET_ADMIN_PASSWORD`` [random, kept
  0600 in the Superset home], ``CEMS_SUPERSET_ADMIN_EMAIL``.
* ``CEMS_SUPERSET_WAREHOUSE_URI`` [``duckdb:///<warehouse_path>``]: the connection the
  dashboards query; e.g. a Spark Thrift server's ``hive://...`` at scale.
* ``CEMS_SUPERSET_PORT`` [8088], ``CEMS_SUPERSET_WORKERS`` [2].

In production the secret key and the admin password must be set; nothing is generated.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer
from rich.console import Console

from api.cli.errors import UserError, friendly
from data_contracts.settings import Settings, get_settings

app = typer.Typer(
    help="Superset dashboards over the gold marts: set up, import, serve, export.",
    no_args_is_help=True,
)
console = Console()

REPO_ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS_DIR = REPO_ROOT / "dashboards"
SUPERSET_VENV = DASHBOARDS_DIR / ".venv"
DEFAULT_HOST = "127.0.0.1"


def superset_home(settings: Settings) -> Path:
    """Where Superset keeps its state for this CEMS home."""
    configured = settings.superset_home
    return Path(configured).expanduser().resolve() if configured else settings.home / "superset"


def _kept_secret(path: Path, length: int) -> str:
    """A random secret generated once and kept owner-only in ``path``."""
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(length)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    return value


def _secret(settings: Settings, variable: str, file_name: str, length: int) -> str:
    value: str = getattr(settings, variable.removeprefix("CEMS_").lower())
    if value:
        return value
    if settings.environment == "production":
        raise UserError(f"set {variable}: production never uses a generated {file_name}.")
    return _kept_secret(superset_home(settings) / file_name, length)


def admin_credentials(settings: Settings) -> tuple[str, str]:
    """(username, password) of the Superset admin these commands create."""
    username = settings.superset_admin_username
    return username, _secret(settings, "CEMS_SUPERSET_ADMIN_PASSWORD", "admin_password", 12)


def superset_env(settings: Settings) -> dict[str, str]:
    """Every environment variable Superset and dashboards/manage.py read, from the settings."""
    home = superset_home(settings)
    username, password = admin_credentials(settings)
    metadata_url = settings.superset_metadata_url or (
        f"sqlite:///{home / 'superset.db'}?check_same_thread=false"
    )
    warehouse = Path(settings.warehouse_path).expanduser().resolve()
    return {
        "CEMS_HOME": str(settings.home),
        "CEMS_SUPERSET_HOME": str(home),
        "SUPERSET_CONFIG_PATH": str(DASHBOARDS_DIR / "superset_config.py"),
        "CEMS_SUPERSET_METADATA_URL": metadata_url,
        "SUPERSET_SECRET_KEY": _secret(settings, "CEMS_SUPERSET_SECRET_KEY", "secret_key", 42),
        "CEMS_SUPERSET_ADMIN_USERNAME": username,
        "CEMS_SUPERSET_ADMIN_PASSWORD": password,
        "CEMS_SUPERSET_ADMIN_EMAIL": settings.superset_admin_email,
        "CEMS_SUPERSET_WAREHOUSE_URI": settings.superset_warehouse_uri or f"duckdb:///{warehouse}",
        "CEMS_LAKEHOUSE_ROOT": settings.lakehouse_root.rstrip("/"),
        "SUPERSET_LOAD_EXAMPLES": "no",
    }


def _program(name: str) -> Path:
    path = SUPERSET_VENV / "bin" / name
    if not path.is_file():
        raise UserError(
            f"the Superset environment is missing ({path}); run `make dashboards-setup` first."
        )
    return path


def _run(args: list[str | Path], env: dict[str, str], what: str) -> None:
    """Run a Superset-env program; its chatter goes to a log, shown only when it fails."""
    home = Path(env["CEMS_SUPERSET_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    log = home / "manage.log"
    command = [str(arg) for arg in args]
    with log.open("w", encoding="utf-8") as output:
        result = subprocess.run(
            command,
            env={**os.environ, **env},
            cwd=REPO_ROOT,
            check=False,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    if result.returncode != 0:
        for line in lines[-25:]:
            console.print(line, markup=False, highlight=False)
        last = next((line for line in reversed(lines) if line.startswith("Error: ")), "")
        raise UserError(
            f"{what} failed ({last.removeprefix('Error: ') or f'exit {result.returncode}'}); "
            f"the whole log is {log}."
        )
    for line in lines:
        if line.startswith(("imported ", "exported ")):
            console.print(line)


def _checked_settings(need_warehouse: bool = True) -> Settings:
    settings = get_settings()
    if need_warehouse and not settings.superset_warehouse_uri:
        warehouse = Path(settings.warehouse_path)
        if not warehouse.is_file():
            raise UserError(
                f"no warehouse at {warehouse}; build it first with `make demo` or "
                "`cems pipeline run`."
            )
    return settings


def _port(value: int | None) -> int:
    return value or get_settings().superset_port


def setup_and_import(settings: Settings) -> dict[str, str]:
    """Migrate the metadata DB, create the admin and import the assets; return the env."""
    env = superset_env(settings)
    _run(
        [_program("python"), DASHBOARDS_DIR / "manage.py", "up"],
        env,
        "Setting up Superset and importing the dashboards",
    )
    return env


def serve_command(host: str, port: int, workers: int) -> list[str]:
    """The gunicorn command that serves Superset (what `superset run` does, for real)."""
    return [
        str(_program("gunicorn")),
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "gthread",
        "--threads",
        "4",
        "--timeout",
        "120",
        "--limit-request-line",
        "0",
        "--limit-request-field_size",
        "0",
        "superset.app:create_app()",
    ]


def _serve(settings: Settings, env: dict[str, str], host: str, port: int) -> None:
    with socket.socket() as probe:
        if probe.connect_ex((host, port)) == 0:
            raise UserError(f"port {port} is in use; pass --port or stop what listens there.")
    workers = settings.superset_workers
    username = env["CEMS_SUPERSET_ADMIN_USERNAME"]
    if settings.superset_admin_password:
        password = "the password in CEMS_SUPERSET_ADMIN_PASSWORD"
    else:  # generated for this home (never in production): show it to the person running it
        password = f"password {env['CEMS_SUPERSET_ADMIN_PASSWORD']}"
    console.print(
        f"Superset: http://{host}:{port}/dashboard/list/  (sign in as [bold]{username}[/], "
        f"{password})"
    )
    process = subprocess.Popen(
        serve_command(host, port, workers), env={**os.environ, **env}, cwd=REPO_ROOT
    )

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # A SIGTERM (a supervisor, a test tearing down) stops gunicorn too, not just this process.
    signal.signal(signal.SIGTERM, stop)
    try:
        code = process.wait()
    except KeyboardInterrupt:
        process.terminate()  # gunicorn stops its workers gracefully on SIGTERM
        process.wait(timeout=60)
        code = 0
    raise typer.Exit(code)


@app.command("up")
@friendly
def up(
    port: Annotated[int | None, typer.Option(help="Port to serve on [8088].")] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = DEFAULT_HOST,
    serve: Annotated[
        bool, typer.Option(help="Serve Superset after the import (--no-serve: set up only).")
    ] = True,
) -> None:
    """Set up Superset's metadata DB, create the admin, import the dashboards, then serve.

    Idempotent: re-running migrates nothing new and re-imports the assets over the old ones.
    """
    settings = _checked_settings()
    started = time.perf_counter()
    env = setup_and_import(settings)
    console.print(
        f"Superset is set up and the dashboards imported ({time.perf_counter() - started:.0f} s)."
    )
    if serve:
        _serve(settings, env, host, _port(port))


@app.command("serve")
@friendly
def serve(
    port: Annotated[int | None, typer.Option(help="Port to serve on [8088].")] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = DEFAULT_HOST,
) -> None:
    """Serve Superset (after `cems dashboards up --no-serve`)."""
    settings = _checked_settings()
    _serve(settings, superset_env(settings), host, _port(port))


@app.command("import")
@friendly
def import_assets() -> None:
    """Import dashboards/assets into Superset again, overwriting the imported assets."""
    settings = _checked_settings()
    _run(
        [_program("python"), DASHBOARDS_DIR / "manage.py", "import"],
        superset_env(settings),
        "Importing the dashboards",
    )


@app.command("export")
@friendly
def export_assets() -> None:
    """Write the databases, datasets, charts and dashboards Superset holds to dashboards/assets.

    Connection strings and paths go back to their ${CEMS_...} placeholders; review the diff
    with git, then run `cems dashboards datasets --check`.
    """
    settings = _checked_settings(need_warehouse=False)
    _run(
        [_program("python"), DASHBOARDS_DIR / "manage.py", "export"],
        superset_env(settings),
        "Exporting the dashboards",
    )


def manifest_path(settings: Settings) -> Path:
    """dbt's manifest of the last duckdb build (spark_jobs.marts keeps target/ under home)."""
    return settings.home / "dbt" / "target" / "duckdb" / "manifest.json"


@app.command("datasets")
@friendly
def datasets(
    check: Annotated[
        bool, typer.Option("--check", help="Only report drift from dbt; exit 1 if any.")
    ] = False,
    manifest: Annotated[
        Path | None, typer.Option(help="dbt manifest.json [the last build's].")
    ] = None,
) -> None:
    """Regenerate the Superset datasets' columns from dbt's manifest (or check them)."""
    settings = get_settings()
    path = manifest or manifest_path(settings)
    if not path.is_file():
        raise UserError(f"no dbt manifest at {path}; build the marts first (`make demo`).")
    args = [sys.executable, str(DASHBOARDS_DIR / "dbt_datasets.py"), "--manifest", str(path)]
    warehouse = Path(settings.warehouse_path)
    if check:
        args.append("--check")
    elif warehouse.is_file():
        args += ["--warehouse", str(warehouse)]
    result = subprocess.run(args, check=False)
    if result.returncode:
        raise typer.Exit(1)


@app.command("screenshots")
@friendly
def screenshots(
    out: Annotated[Path, typer.Option(help="Folder for one PNG per dashboard.")] = Path("docs/img"),
    port: Annotated[int | None, typer.Option(help="Port Superset serves on [8088].")] = None,
    host: Annotated[str, typer.Option(help="Address Superset serves on.")] = DEFAULT_HOST,
    report: Annotated[
        Path | None, typer.Option(help="Also keep the JSON report (charts, rows, errors) here.")
    ] = None,
    save_query_contexts: Annotated[
        bool,
        typer.Option(
            help="Store the query each chart runs as its saved query context where it has none "
            "(what saving in Explore does), before `cems dashboards export`."
        ),
    ] = False,
) -> None:
    """Render every dashboard of a running Superset in headless Chromium and save a PNG.

    Exits 1 when any chart shows an error, listing them.
    """
    settings = _checked_settings(need_warehouse=False)
    env = superset_env(settings)
    with tempfile.TemporaryDirectory(prefix="cems-screenshots-") as scratch:
        report_path = Path(scratch) / "report.json"
        args = [
            str(_program("python")),
            str(DASHBOARDS_DIR / "screenshots.py"),
            "--url",
            f"http://{host}:{_port(port)}",
            "--out",
            str(out.resolve()),
            "--report",
            str(report_path),
        ]
        if save_query_contexts:
            args.append("--save-query-contexts")
        result = subprocess.run(
            args,
            env={**os.environ, **env},
            cwd=REPO_ROOT,
            check=False,
            capture_output=True,
            text=True,
        )
        document = None
        if report_path.is_file():
            document = json.loads(report_path.read_text(encoding="utf-8"))
            if report:
                shutil.copyfile(report_path, report)
    if document is not None:
        for dashboard in document["dashboards"]:
            errors = [c for c in dashboard["charts"] if c["error"]]
            console.print(
                f"{dashboard['title']}: {len(dashboard['charts'])} charts, "
                f"{len(errors)} errors -> {dashboard['screenshot']}"
            )
            for chart in errors:
                console.print(f"  [red]{chart['name']}[/]: {chart['error']}")
            for text in dashboard["errors_on_page"] + dashboard["filter_errors"]:
                console.print(f"  [red]on the page[/]: {text[:300]}")
        hosts = sorted({urlsplit(url).netloc for url in document["refused_outside_requests"]})
        if hosts:
            console.print(f"Refused requests outside Superset, to: {', '.join(hosts)}")
    elif result.returncode:
        # No report: it stopped before rendering (no chromium, no server, wrong password).
        lines = (result.stderr or result.stdout).strip().splitlines()
        raise UserError(f"rendering failed: {lines[-1] if lines else 'no output'}")
    if result.returncode:
        raise typer.Exit(1)
