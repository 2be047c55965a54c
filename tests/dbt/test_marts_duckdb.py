"""dbt build on the duckdb target over a landed lakehouse: marts, tests and gold Delta."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
import yaml

from data_contracts.settings import Settings
from spark_jobs import marts
from spark_jobs.marts import MartsBuildError, build, mart_names, mart_tables

from .conftest import GoldSnapshot, read_gold

EXPECTED_MARTS = {
    "dim_customers",
    "fct_usage_daily",
    "agg_usage_patterns",
    "fct_churn_features",
    "fct_tickets_sla",
    "fct_network_kpis_hourly",
    "agg_network_kpis_regional_hourly",
    "agg_retention_segments",
    "dim_billing_accounts",
    "fct_billing_transactions",
}


def test_mart_tables_name_a_gold_delta_path_per_mart(cems_home: Path) -> None:
    settings = Settings()
    tables = mart_tables(settings)
    assert set(tables) == EXPECTED_MARTS
    assert tables["dim_customers"] == f"{settings.lakehouse_root}/gold/dim_customers"


def test_every_mart_column_is_described(duckdb_gold: GoldSnapshot) -> None:
    documented: dict[str, dict[str, str]] = {}
    for path in (marts.DBT_PROJECT_DIR / "models" / "marts").rglob("_*.yml"):
        for model in yaml.safe_load(path.read_text())["models"]:
            assert model.get("description"), f"{model['name']} has no description"
            columns = model["columns"]
            documented[model["name"]] = {c["name"]: c.get("description", "") for c in columns}
    for name, table in duckdb_gold.tables.items():
        assert list(documented[name]) == table.column_names, f"{name}: YAML columns differ"
        assert all(documented[name].values()), f"{name}: a column has no description"


def test_build_publishes_every_mart_with_rows_and_all_tests_pass(
    duckdb_gold: GoldSnapshot, landed_lakehouse: Settings
) -> None:
    result = duckdb_gold.result
    assert result.target == "duckdb"
    assert set(result.models) == EXPECTED_MARTS
    assert all(count > 0 for count in result.models.values()), result.models
    assert result.tests_failed == 0
    assert result.tests_passed > 100
    assert result.unit_tests_passed == 8
    assert result.gold_paths == mart_tables(landed_lakehouse)
    for name, table in duckdb_gold.tables.items():
        assert table.num_rows == result.models[name]
    # dbt-duckdb may still hold the file in this process: same configuration, not read_only.
    with duckdb.connect(landed_lakehouse.warehouse_path) as con:
        (customers,) = con.sql("select count(*) from gold.dim_customers").fetchone() or (0,)
    assert customers == result.models["dim_customers"]


def test_churn_features_are_one_row_per_customer_and_as_of(duckdb_gold: GoldSnapshot) -> None:
    features = duckdb_gold.tables["fct_churn_features"].to_pylist()
    keys = {(row["customer_id"], row["as_of_date"]) for row in features}
    assert len(keys) == len(features)
    assert len({row["as_of_date"] for row in features}) >= 2  # a weekly grid over 10 days
    assert {row["label_window_days"] for row in features} == {30}


def test_retention_segments_only_hold_customers_who_did_not_opt_out(
    duckdb_gold: GoldSnapshot,
) -> None:
    customers = duckdb_gold.tables["dim_customers"].to_pylist()
    consent = {row["customer_id"]: row["has_marketing_consent"] for row in customers}
    do_not_sell = {row["customer_id"]: row["is_do_not_sell"] for row in customers}
    segments = duckdb_gold.tables["agg_retention_segments"].to_pylist()
    assert segments and all(consent[row["customer_id"]] for row in segments)
    assert not any(do_not_sell[row["customer_id"]] for row in segments)
    assert not any(row["is_do_not_sell"] for row in segments)
    # There was someone to exclude for each reason: no consent, and consent but do-not-sell.
    assert any(not given for given in consent.values())
    assert any(consent[c] and opted_out for c, opted_out in do_not_sell.items())


def test_rebuild_overwrites_gold_idempotently(
    duckdb_gold: GoldSnapshot, landed_lakehouse: Settings
) -> None:
    again = build("duckdb", landed_lakehouse, select="fct_tickets_sla")
    assert set(again.models) == {"fct_tickets_sla"}
    reread = read_gold({"fct_tickets_sla": again.gold_paths["fct_tickets_sla"]})
    assert reread["fct_tickets_sla"].num_rows == duckdb_gold.result.models["fct_tickets_sla"]


def test_unit_test_fails_when_a_feature_reads_after_as_of(
    duckdb_gold: GoldSnapshot,
    landed_lakehouse: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Plant a one-day leak in the usage features: the point-in-time unit test must catch it."""
    project = tmp_path / "dbt"
    shutil.copytree(marts.DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    model = project / "models" / "intermediate" / "churn" / "int_usage_windows_aggregated.sql"
    sound = "on usage_days.usage_date <= as_of_dates.as_of_date"
    one_day_later = "{{ dbt.dateadd('day', 1, 'as_of_dates.as_of_date') }}"
    leaky = f"on usage_days.usage_date <= cast({one_day_later} as date)"
    text = model.read_text()
    assert sound in text
    model.write_text(text.replace(sound, leaky))
    monkeypatch.setattr(marts, "DBT_PROJECT_DIR", project)
    isolated = landed_lakehouse.model_copy(
        update={"home": tmp_path / "home", "warehouse_path": str(tmp_path / "leak.duckdb")}
    )
    with pytest.raises(MartsBuildError, match="usage_features_ignore_rows_after_as_of") as error:
        build("duckdb", isolated, select="+int_usage_windows_aggregated")
    assert str(error.value).startswith("dbt build on the duckdb target failed at 1 node(s):")


def test_unknown_target_is_refused(landed_lakehouse: Settings) -> None:
    with pytest.raises(MartsBuildError, match="unknown dbt target 'bigquery'"):
        build("bigquery", landed_lakehouse)


def test_mart_names_match_the_project() -> None:
    assert set(mart_names()) == EXPECTED_MARTS
