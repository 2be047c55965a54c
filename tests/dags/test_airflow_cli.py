"""`cems airflow`: Airflow configured from CEMS settings, nothing set up by hand."""

from __future__ import annotations

import shlex
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli.airflow import DAGS_FOLDER, airflow_env
from api.cli.main import app
from data_contracts.settings import Settings

runner = CliRunner()
WIDE = {"COLUMNS": "200"}


def test_airflow_env_defaults_live_under_cems_home(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", airflow_home="", airflow_database_url="")
    env = airflow_env(settings)
    home = tmp_path / "home"
    assert env["AIRFLOW_HOME"] == str(home / "airflow")
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{home}/airflow/airflow.db"
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(DAGS_FOLDER)
    assert (DAGS_FOLDER / "cems_nightly.py").exists()
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["CEMS_HOME"] == str(home)


def test_airflow_env_follows_settings(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path,
        airflow_home=str(tmp_path / "elsewhere"),
        airflow_database_url="postgresql+psycopg://airflow:secret@db/airflow",
    )
    env = airflow_env(settings, port=8793)
    assert env["AIRFLOW_HOME"] == str(tmp_path / "elsewhere")
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg://")
    assert env["AIRFLOW__API__PORT"] == "8793"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://localhost:8793/execution/"


def test_env_prints_shell_exports(cems_home: Path) -> None:
    result = runner.invoke(app, ["airflow", "env"], env=WIDE)
    assert result.exit_code == 0, result.output
    exported = dict(
        shlex.split(line.removeprefix("export "))[0].split("=", 1)
        for line in result.output.splitlines()
    )
    assert exported["AIRFLOW_HOME"] == str(cems_home / "airflow")
    assert exported["AIRFLOW__CORE__DAGS_FOLDER"] == str(DAGS_FOLDER)
    assert exported["CEMS_HOME"] == str(cems_home)


def test_every_airflow_command_has_help() -> None:
    for command in ([], ["env"], ["migrate"], ["standalone"]):
        result = runner.invoke(app, ["airflow", *command, "--help"], env=WIDE)
        assert result.exit_code == 0, command
        assert "Usage:" in result.output


def test_standalone_refuses_a_busy_port(cems_home: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = runner.invoke(app, ["airflow", "standalone", "--port", str(port)], env=WIDE)
    assert result.exit_code == 2
    assert f"port {port} is already in use" in result.output


@pytest.mark.slow
def test_migrate_created_the_metadata_database(airflow_db: Path) -> None:
    """The session fixture runs `cems airflow migrate`; the tables are there."""
    import sqlite3

    with sqlite3.connect(airflow_db) as db:
        tables = {row[0] for row in db.execute("select name from sqlite_master")}
    assert {"dag", "dag_run", "task_instance", "deadline", "asset_event"} <= tables
