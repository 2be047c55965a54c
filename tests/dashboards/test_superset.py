"""Superset on generated data (acceptance of issue 8): the datasets match this checkout's dbt
manifest, every chart returns rows from the chart-data API, and every dashboard renders in
headless Chromium without an error.

One test, because it shares one served Superset: under ``pytest -n 2`` separate tests could
land on both workers and build the operator and Superset twice.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ASSETS = REPO_ROOT / "dashboards" / "assets"

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("superset")]


def check_datasets_match_the_manifest(superset: Any, script: Any, tmp_path: Path) -> None:
    datasets = script("dbt_datasets")
    path = superset.settings.home / "dbt" / "target" / "duckdb" / "manifest.json"
    manifest = datasets.load_manifest(path)
    assert datasets.drift(ASSETS, manifest) == []
    # and a renamed mart column is caught, by the function and by the command
    columns = manifest["nodes"]["model.cems.dim_customers"]["columns"]
    columns["region_name"] = {**columns.pop("region"), "name": "region_name"}
    assert datasets.drift(ASSETS, manifest) == [
        "dim_customers: columns differ from dbt (missing ['region_name'], not in dbt ['region'])"
    ]
    renamed = tmp_path / "manifest.json"
    renamed.write_text(json.dumps(manifest))
    script_path = REPO_ROOT / "dashboards" / "dbt_datasets.py"
    check = subprocess.run(
        [sys.executable, str(script_path), "--manifest", str(renamed), "--check"],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 1 and "dim_customers" in check.stdout


def check_every_chart_returns_rows(superset: Any, assets: Any) -> None:
    client = superset.client()
    try:
        charts = client.get("/api/v1/chart/", params={"q": "(page_size:200)"}).json()["result"]
        assert {c["slice_name"] for c in charts} == {d["slice_name"] for _, d in assets("charts")}
        failures = {}
        for chart in charts:
            response = client.get(f"/api/v1/chart/{chart['id']}/data/")
            body = response.json()
            results = body.get("result") or []
            rows = sum(int(r.get("rowcount") or 0) for r in results)
            errors = [r["error"] for r in results if r.get("error")]
            if response.status_code != 200 or errors or rows == 0:
                failures[chart["slice_name"]] = (response.status_code, errors or body, rows)
        assert failures == {}
        # the connection is the warehouse dbt built, from the environment, read-only
        (database,) = client.get("/api/v1/database/").json()["result"]
        detail = client.get(f"/api/v1/database/{database['id']}/connection").json()["result"]
    finally:
        client.close()
    warehouse = superset.settings.home / "warehouse" / "cems.duckdb"
    assert detail["sqlalchemy_uri"] == f"duckdb:///{warehouse}"
    assert json.loads(detail["extra"])["engine_params"]["connect_args"] == {"read_only": True}


def check_every_dashboard_renders(superset: Any, assets: Any, out: Path) -> None:
    if shutil.which("chromium") is None:
        pytest.fail("Debian's chromium is missing: .ci/run installs it (apt-get install chromium)")
    report = out / "report.json"
    args = ["--out", str(out), "--port", str(superset.port), "--report", str(report)]
    result = subprocess.run(
        superset.cli("screenshots", *args),
        env=superset.env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(report.read_text())
    dashboards = document["dashboards"]
    # The browser talks to Superset only: its telemetry pixel (compiled into the front end)
    # is refused and listed, so an unreachable host can neither stall the sign-in nor learn
    # that dashboards were opened.
    refused = {urlsplit(url).netloc for url in document["refused_outside_requests"]}
    assert "apachesuperset.gateway.scarf.sh" in refused
    assert f"127.0.0.1:{superset.port}" not in refused
    expected = {
        d["dashboard_title"]: sum(
            1
            for item in d["position"].values()
            if isinstance(item, dict) and item.get("type") == "CHART"
        )
        for _, d in assets("dashboards")
    }
    assert {d["title"]: len(d["charts"]) for d in dashboards} == expected
    for dashboard in dashboards:
        assert [c for c in dashboard["charts"] if c["error"]] == []
        assert dashboard["errors_on_page"] == [] and dashboard["filter_errors"] == []
        assert all(c["status"] == 200 for c in dashboard["charts"])
        # every chart drew on the page before the screenshot was taken
        assert dashboard["painted_charts"] == len(dashboard["charts"]), dashboard["title"]
        # drawn dashboards are 200-340 KB; one whose grid is still blank is under 60 KB
        png = Path(dashboard["screenshot"])
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 150_000


def test_superset_serves_the_marts_every_chart_has_rows_and_every_dashboard_renders(
    superset: Any, script: Any, assets: Any, tmp_path: Path
) -> None:
    check_datasets_match_the_manifest(superset, script, tmp_path)
    check_every_chart_returns_rows(superset, assets)
    check_every_dashboard_renders(superset, assets, tmp_path / "screenshots")
