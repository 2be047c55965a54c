"""``cems contracts``: list, lint and export, as a person at the keyboard sees them."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from api.cli.main import app
from data_contracts.loader import CONTRACTS_DIR, SOURCES, all_contracts
from data_contracts.settings import get_settings

runner = CliRunner()
WIDE = {"COLUMNS": "200"}  # so rich does not fold the table in the assertions below


@pytest.fixture
def contracts_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "home"
    monkeypatch.setenv("CEMS_HOME", str(home))
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


def test_every_command_has_help(contracts_home: Path) -> None:
    result = runner.invoke(app, ["contracts", "--help"])
    assert result.exit_code == 0
    for command in ("list", "export", "lint"):
        assert command in result.output
        sub = runner.invoke(app, ["contracts", command, "--help"])
        assert sub.exit_code == 0, sub.output
        assert "Usage" in sub.output
    assert "great-expectations" in runner.invoke(app, ["contracts", "export", "--help"]).output


def test_list_shows_every_contract(contracts_home: Path) -> None:
    result = runner.invoke(app, ["contracts", "list"], env=WIDE)
    assert result.exit_code == 0, result.output
    for name in all_contracts():
        assert name in result.output
    assert "billing-data-owner" in result.output
    assert "fixed_width_daily" in result.output
    assert f"14 contracts across {len(SOURCES)} sources" in result.output


def test_lint_passes_on_the_shipped_contracts(contracts_home: Path) -> None:
    result = runner.invoke(app, ["contracts", "lint"])
    assert result.exit_code == 0, result.output
    assert "Linted 14 contracts" in result.output
    assert "no problems" in result.output


def test_lint_reports_a_broken_contract(tmp_path: Path, contracts_home: Path) -> None:
    contracts = tmp_path / "contracts"
    for source in SOURCES:
        shutil.copytree(CONTRACTS_DIR / source, contracts / source)
    shutil.copytree(CONTRACTS_DIR / "layouts", contracts / "layouts")
    path = contracts / "crm" / "accounts.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    properties = raw["schema"][0]["properties"]
    del properties[2]["classification"]  # account_status
    properties[1]["relationships"][0]["to"] = "people.person_id"  # customer_id
    raw["kind"] = "Contract"  # not an ODCS kind
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")

    result = runner.invoke(app, ["contracts", "lint", "--dir", str(contracts)], env=WIDE)

    assert result.exit_code == 1, result.output
    assert "crm/accounts.yaml" in result.output
    assert "account_status has no classification" in result.output
    assert "no contract describes entity 'people'" in result.output
    assert "ODCS schema" in result.output
    assert "3 problems in 1 file" in result.output
    assert "Traceback" not in result.output


def test_lint_of_an_empty_folder_is_a_usage_error(tmp_path: Path, contracts_home: Path) -> None:
    result = runner.invoke(app, ["contracts", "lint", "--dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "no contracts found" in result.output


def test_export_writes_under_cems_home_by_default(contracts_home: Path) -> None:
    result = runner.invoke(app, ["contracts", "export"], env=WIDE)
    assert result.exit_code == 0, result.output
    out = contracts_home / "generated" / "contracts"
    files = sorted(p for p in out.rglob("*") if p.is_file())
    assert len(files) == 14 * 4 + 1
    assert f"Wrote {len(files)} files for 14 contracts" in result.output
    suite = json.loads((out / "great_expectations" / "billing__usage_daily.json").read_text())
    assert suite["name"] == "billing.usage_daily"
    assert (out / "dbt" / "_sources.yml").read_text().startswith("# Generated from data_contracts")


def test_export_one_format_to_a_chosen_folder(tmp_path: Path, contracts_home: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["contracts", "export", "--format", "spark", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["spark"]
    assert len(list((out / "spark").glob("*.json"))) == 14
    assert not (contracts_home / "generated").exists()


def test_unknown_format_exits_2_without_a_traceback(tmp_path: Path, contracts_home: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["contracts", "export", "--format", "xml", "--out", str(out)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "xml" in result.output
    assert "great-expectations" in result.output  # says what would have worked
    assert not out.exists()


def test_unwritable_out_folder_is_one_sentence(tmp_path: Path, contracts_home: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    result = runner.invoke(app, ["contracts", "export", "--out", str(blocker / "sub")])
    assert result.exit_code == 2
    assert "cannot write to" in result.output
    assert "--out" in result.output
    assert "Traceback" not in result.output
