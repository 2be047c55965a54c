"""`cems pipeline land | quality | run`: bad input is exit 2 with one sentence, before any
Spark starts; the generation marker keeps a re-run from clearing what it built."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli.main import app
from data_contracts.settings import Settings
from spark_jobs.pipeline import GENERATION_MARKER, StaleLakehouseError, prepare_for

runner = CliRunner()
WIDE = {"COLUMNS": "200"}


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["pipeline", "run", "--days", "3", "--kpi-days", "5"], "--kpi-days (5) cannot exceed"),
        (["pipeline", "quality", "--contract", "crm.nope"], "no contract named 'crm.nope'"),
        (["pipeline", "land", "--source", "fax"], "Invalid value for '--source'"),
        (["pipeline", "run", "--customers", "0"], "Invalid value for '--customers'"),
    ],
)
def test_bad_input_is_one_sentence_and_exit_2(
    cems_home: Path, args: list[str], needle: str
) -> None:
    result = runner.invoke(app, args, env=WIDE)
    assert result.exit_code == 2, result.output
    assert needle in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert not (cems_home / "lakehouse").exists()


def test_a_new_generation_clears_derived_state_and_the_same_one_keeps_it(
    tmp_path: Path,
) -> None:
    settings = Settings(home=tmp_path)
    silver = Path(settings.lakehouse_root) / "silver" / "crm" / "customers"
    warehouse = Path(settings.warehouse_path)

    def build_something() -> None:
        silver.mkdir(parents=True, exist_ok=True)
        (silver / "part-0.parquet").write_text("x")
        warehouse.parent.mkdir(parents=True, exist_ok=True)
        warehouse.write_text("db")

    build_something()
    assert prepare_for(settings, "gen-a") is True  # unmarked state is someone else's
    assert not silver.exists() and not warehouse.exists()
    marker = Path(settings.lakehouse_root) / GENERATION_MARKER
    assert json.loads(marker.read_text()) == {"generation": "gen-a"}

    build_something()
    assert prepare_for(settings, "gen-a") is False
    assert (silver / "part-0.parquet").exists() and warehouse.exists()

    assert prepare_for(settings, "gen-b") is True
    assert not silver.exists() and not warehouse.exists()


def test_a_remote_lakehouse_is_never_cleared(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, lakehouse_root="s3a://operator-lake/cems")
    with pytest.raises(StaleLakehouseError, match="not a local folder"):
        prepare_for(settings, "gen-a")
