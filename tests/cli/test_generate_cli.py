"""`cems generate` and `cems status`; `--help` everywhere; bad input is exit 2, one sentence."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
import sqlalchemy as sa
import typer
from typer.testing import CliRunner

from api.cli.main import app
from data_contracts.settings import get_settings

runner = CliRunner()
WIDE = {"COLUMNS": "200"}


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, click.Group) or hasattr(command, "commands"):
            found += _commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


def test_every_command_has_help() -> None:
    commands = _commands(typer.main.get_command(app))  # type: ignore[arg-type]
    assert (
        ("generate",) in commands and ("import",) in commands and ("contracts", "list") in commands
    )
    for path in commands:
        result = runner.invoke(app, [*path, "--help"], env=WIDE)
        assert result.exit_code == 0, path
        assert "Usage:" in result.output


def test_generate_json_summary_and_status(cems_home: Path) -> None:
    result = runner.invoke(
        app, ["generate", "--customers", "150", "--days", "3", "--json"], env=WIDE
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["customers"] == 150
    assert summary["row_counts"]["crm.customers"] == 150
    assert summary["row_counts"]["billing.usage_daily"] > 0
    assert Path(summary["landing_path"]) == cems_home / "landing"
    assert (cems_home / "sources" / "crm.db").exists()

    shown = runner.invoke(app, ["status"], env=WIDE)
    assert shown.exit_code == 0
    assert "150 customers x 3 days" in shown.output
    as_json = json.loads(runner.invoke(app, ["status", "--json"], env=WIDE).output)
    assert as_json["manifest"]["parameters"]["customers"] == 150


def test_generate_prints_a_readable_summary(cems_home: Path) -> None:
    result = runner.invoke(
        app, ["generate", "--customers", "120", "--days", "2", "--seed", "3"], env=WIDE
    )
    assert result.exit_code == 0, result.output
    for expected in (
        "Generated sources",
        "billing.usage_daily",
        "CRM database",
        "Landing zone",
        "Done",
    ):
        assert expected in result.output


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["generate", "--customers", "-5"], "--customers"),
        (["generate", "--days", "0"], "--days"),
        (["generate", "--start-date", "31/12/2026"], "--start-date"),
        (["generate", "--bad-record-rate", "0.9"], "--bad-record-rate"),
        (["generate", "--colour", "red"], "--colour"),
        (["generate", "--days", "3", "--kpi-days", "5"], "--kpi-days"),
        (["status"], "cems generate"),
    ],
)
def test_bad_input_is_one_sentence_and_exit_2(
    cems_home: Path, args: list[str], fragment: str
) -> None:
    result = runner.invoke(app, args, env=WIDE)
    assert result.exit_code == 2
    assert fragment in result.output
    assert "Traceback" not in result.output
    assert not (cems_home / "landing").exists()


def test_unwritable_home_is_reported_without_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where CEMS_HOME should be")
    monkeypatch.setenv("CEMS_HOME", str(blocker / "home"))
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["generate", "--customers", "50", "--days", "1"], env=WIDE)
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert "CEMS_HOME" in result.output
    assert "Traceback" not in result.output
    assert len([line for line in result.output.splitlines() if line.strip()]) == 1


@pytest.mark.postgres
def test_generate_into_postgresql(
    cems_home: Path, postgres_schema: tuple[str, sa.Engine, str]
) -> None:
    crm_url, admin, schema = postgres_schema
    result = runner.invoke(
        app,
        ["generate", "--customers", "120", "--days", "3", "--crm-url", crm_url, "--json"],
        env=WIDE,
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    with admin.connect() as conn:
        customers = conn.execute(sa.text(f"select count(*) from {schema}.customers")).scalar_one()
        kinds = conn.execute(
            sa.text(
                "select data_type from information_schema.columns where table_schema = :s"
                " and table_name = 'subscriptions' and column_name = 'monthly_price'"
            ),
            {"s": schema},
        ).scalar_one()
    assert customers == summary["row_counts"]["crm.customers"] == 120
    assert kinds == "numeric"
    assert not (cems_home / "sources" / "crm.db").exists()
