"""The committed dbt sources are exactly what the contracts generate."""

from __future__ import annotations

from pathlib import Path

import yaml

from data_contracts.schemas import LINEAGE_COLUMNS, SILVER_HISTORY, dbt_source_files
from spark_jobs import crm
from spark_jobs.marts import DBT_PROJECT_DIR

REGENERATE = (
    ".venv/bin/python -c 'from pathlib import Path; from data_contracts.schemas import "
    'write_dbt_sources; write_dbt_sources(Path("dbt"))\''
)


def test_committed_sources_match_the_contracts() -> None:
    expected = dbt_source_files()
    committed = {
        str(path.relative_to(DBT_PROJECT_DIR)): path.read_text(encoding="utf-8")
        for path in DBT_PROJECT_DIR.glob("models/**/_*__sources.yml")
    }
    assert sorted(committed) == sorted(expected), f"sources files differ; run {REGENERATE}"
    for rel, text in expected.items():
        assert committed[rel] == text, f"{rel} is out of date with the contracts; run {REGENERATE}"


def test_sources_know_the_silver_shape_the_landing_writes() -> None:
    assert frozenset(crm.SCD2) == SILVER_HISTORY
    assert tuple(LINEAGE_COLUMNS) == crm.LINEAGE_COLUMNS
    assert tuple(crm.SCD2_COLUMNS) == ("valid_from", "valid_to", "is_current")


def test_each_source_locates_its_delta_table_for_both_targets() -> None:
    for rel, text in dbt_source_files().items():
        (source,) = yaml.safe_load(text)["sources"]
        assert Path(rel).parent.name == source["name"]
        assert "target.type == 'spark'" in source["schema"]
        zone = "gold" if source["name"] == "ml" else "silver"  # ml/ writes gold tables
        for table in source["tables"]:
            where = f"/{zone}/{source['name']}/{table['name']}"
            assert table["config"]["meta"]["external_location"] == (
                f"delta_scan('{{{{ env_var('CEMS_LAKEHOUSE_ROOT') }}}}{where}')"
            )
            assert f"{where}`" in table["identifier"]
