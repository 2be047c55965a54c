"""The dashboards as code, read without Superset: format, uuids, no secrets, templating."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from api.cli.main import app

ASSETS = Path(__file__).resolve().parents[2] / "dashboards" / "assets"
KINDS = ("databases", "datasets", "charts", "dashboards")


def test_the_assets_are_a_superset_export_with_stable_unique_uuids(assets) -> None:
    metadata = yaml.safe_load((ASSETS / "metadata.yaml").read_text())
    assert metadata["version"] == "1.0.0" and metadata["type"] == "assets"
    uuids = [doc["uuid"] for kind in KINDS for _, doc in assets(kind)]
    assert len(uuids) == len(set(uuids))
    assert {kind: len(assets(kind)) for kind in KINDS} == {
        "databases": 1,
        "datasets": 11,
        "charts": len(list((ASSETS / "charts").glob("*.yaml"))),
        "dashboards": 4,
    }
    charts = {doc["uuid"] for _, doc in assets("charts")}
    datasets = {doc["uuid"] for _, doc in assets("datasets")}
    placed = set()
    for _, dashboard in assets("dashboards"):
        for item in dashboard["position"].values():
            if isinstance(item, dict) and item.get("type") == "CHART":
                placed.add(item["meta"]["uuid"])
    assert placed == charts, "every chart is on a dashboard and every dashboard chart exists"
    assert all(doc["dataset_uuid"] in datasets for _, doc in assets("charts"))
    # The chart-data API serves a chart from its saved query, so each carries one.
    assert all(doc["query_context"] for _, doc in assets("charts"))


def test_no_file_holds_a_connection_string_a_password_or_a_path(assets) -> None:
    ((_, database),) = assets("databases")
    assert database["sqlalchemy_uri"] == "${CEMS_SUPERSET_WAREHOUSE_URI}"
    assert database["extra"]["engine_params"]["connect_args"] == {"read_only": True}
    assert database["allow_dml"] is False
    for path in ASSETS.rglob("*.yaml"):
        text = path.read_text()
        assert not re.search(r"duckdb:///|hive://|postgresql|/tmp/|/work/|/home/", text), path
        assert "password" not in text.lower(), path


def test_every_dashboard_filters_by_date_region_customer_type_and_plan(assets) -> None:
    dashboards = {doc["slug"]: doc for _, doc in assets("dashboards")}
    assert set(dashboards) == {
        "churn-retention",
        "usage-patterns",
        "support-sla",
        "network-experience",
    }
    for slug, dashboard in dashboards.items():
        filters = dashboard["metadata"]["native_filter_configuration"]
        assert [f["name"] for f in filters] == ["Date range", "Region", "Customer type", "Plan"]
        assert filters[0]["filterType"] == "filter_time"
        chart_ids = [
            item["meta"]["chartId"]
            for item in dashboard["position"].values()
            if isinstance(item, dict) and item.get("type") == "CHART"
        ]
        for native in filters[1:]:
            in_scope = set(chart_ids) - set(native["scope"]["excluded"])
            assert in_scope, f"{slug}: the {native['name']} filter applies to no chart"


def test_import_fills_every_placeholder_and_refuses_unknown_ones(script) -> None:
    manage = script("manage")
    values = {
        "CEMS_SUPERSET_WAREHOUSE_URI": "duckdb:////srv/cems/warehouse/cems.duckdb",
        "CEMS_LAKEHOUSE_ROOT": "/srv/cems/lakehouse",
    }
    contents = manage.read_assets(ASSETS, values)
    assert not any("${" in text for text in contents.values())
    database = yaml.safe_load(contents["databases/CEMS_warehouse.yaml"])
    assert database["sqlalchemy_uri"] == values["CEMS_SUPERSET_WAREHOUSE_URI"]
    drift = yaml.safe_load(contents["datasets/CEMS_warehouse/churn_drift.yaml"])
    assert "delta_scan('/srv/cems/lakehouse/gold/ml/churn_drift')" in drift["sql"]
    # export puts the placeholders back, so a round trip leaves the files as they were
    for name, text in contents.items():
        assert manage.untemplate(text, values) == (ASSETS / name).read_text(), name
    with pytest.raises(manage.AssetError, match="CEMS_SECRET"):
        manage.render("uri: ${CEMS_SECRET}", values, "x.yaml")
    with pytest.raises(manage.AssetError, match="CEMS_LAKEHOUSE_ROOT"):
        manage.template_values({"CEMS_SUPERSET_WAREHOUSE_URI": "duckdb:///w"})


def test_charts_name_only_columns_and_metrics_their_datasets_have(script) -> None:
    datasets = script("dbt_datasets")
    assert datasets.broken_references(ASSETS) == []


def test_a_chart_naming_a_missing_column_is_caught(script, tmp_path: Path) -> None:
    datasets = script("dbt_datasets")
    copy = tmp_path / "assets"
    for kind in ("datasets", "charts"):
        for path in (ASSETS / kind).rglob("*.yaml"):
            target = copy / path.relative_to(ASSETS)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(path.read_text())
    chart = copy / "charts" / "At-risk_customers_by_region.yaml"
    chart.write_text(chart.read_text().replace("x_axis: region", "x_axis: region_name"))
    assert datasets.broken_references(copy) == [
        "At-risk_customers_by_region.yaml: column 'region_name' is not in dim_customers"
    ]


def test_up_without_a_warehouse_says_what_to_do(cems_home: Path) -> None:
    result = CliRunner().invoke(app, ["dashboards", "up", "--no-serve"])
    assert result.exit_code == 2
    assert "no warehouse at" in result.output and "make demo" in result.output
    assert "Traceback" not in result.output


def test_screenshots_that_stop_before_rendering_say_why_and_leave_no_scratch(
    cems_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The Superset environment's python, replaced by one that stops as the rendering script
    # does without a browser: one line on stderr, exit 1, no report written.
    python = tmp_path / "bin" / "python"
    python.parent.mkdir()
    python.write_text(
        "#!/bin/sh\necho 'starting' >&2\necho 'no chromium on this machine' >&2\nexit 1\n"
    )
    python.chmod(0o755)
    monkeypatch.setattr("api.cli.dashboards._program", lambda name: python)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(scratch))
    result = CliRunner().invoke(
        app, ["dashboards", "screenshots", "--port", "9", "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 2
    assert "rendering failed: no chromium on this machine" in result.output
    assert list(scratch.iterdir()) == []
