"""Superset datasets from dbt's manifest, so a renamed mart column cannot break a chart silently.

Each file in ``dashboards/assets/datasets/`` is a Superset dataset over a dbt model (a
physical dataset: ``schema`` + ``table_name``) or over a dbt source the churn models write
(a virtual dataset reading the Delta table). Its *physical* columns come from the
manifest: names, descriptions (the dbt docs, shown in Superset's tooltips), and whether a
column is temporal (the house naming rule: ``_date`` and ``_at``). Everything a person adds
in Superset stays: metrics, calculated columns (those with an ``expression``), labels.
Columns dbt marks personal (``meta.pii_class``) are left out: no dashboard needs a name.

    python dashboards/dbt_datasets.py --manifest M [--warehouse W]      # rewrite the files
    python dashboards/dbt_datasets.py --manifest M --check              # exit 1 on drift
    python dashboards/dbt_datasets.py --manifest M --add dim_customers  # start a dataset

``--check`` also finds every column and saved metric the charts name that their dataset
lacks. Runs with PyYAML alone (``duckdb`` only for ``--warehouse`` column types).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ASSETS_DIR = Path(__file__).resolve().parent / "assets"
DATABASE_UUID = "6f1d8e2a-3c4b-4d5e-9f60-7a8b9c0d1e2f"  # databases/CEMS_warehouse.yaml
SCHEMA = "gold"  # the schema dbt builds the marts into (dbt/profiles.yml), on both targets
ML_SOURCE = "ml"  # dbt source of the gold tables ml/ writes (data_contracts/gold.py)
NAMESPACE = uuid.UUID("0b5c1c57-2f0e-4b8e-9d1a-6c3c2f1e9a00")
TEMPORAL_SUFFIXES = ("_date", "_at")


def stable_uuid(kind: str, name: str) -> str:
    """The same uuid for the same asset on every machine (charts and dashboards use it too)."""
    return str(uuid.uuid5(NAMESPACE, f"cems.{kind}.{name}"))


# ------------------------------------------------------------------ the manifest


def load_manifest(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise SystemExit(
            f"no dbt manifest at {path}: build the marts first (cems pipeline run, or "
            "cems pipeline marts), or pass --manifest"
        )
    return dict(json.loads(path.read_text(encoding="utf-8")))


def find_relation(manifest: dict[str, Any], name: str) -> tuple[str, dict[str, Any]]:
    """("model" | "source", node) for a model name or an ml source table name."""
    for node in manifest["nodes"].values():
        if node.get("resource_type") == "model" and node["name"] == name:
            return "model", node
    for node in manifest["sources"].values():
        if node["source_name"] == ML_SOURCE and node["name"] == name:
            return "source", node
    raise KeyError(f"dbt has no model and no {ML_SOURCE} source named {name!r}")


def _is_personal(column: dict[str, Any]) -> bool:
    meta = {**column.get("meta", {}), **column.get("config", {}).get("meta", {})}
    return bool(meta.get("pii_class"))


def manifest_columns(node: dict[str, Any]) -> list[dict[str, Any]]:
    """The documented, non-personal columns of a node, in dbt's order."""
    return [
        {
            "column_name": name,
            "description": (column.get("description") or "").strip() or None,
            "is_dttm": name.endswith(TEMPORAL_SUFFIXES),
            "type": (column.get("data_type") or None) and str(column["data_type"]).upper(),
        }
        for name, column in node["columns"].items()
        if not _is_personal(column)
    ]


def source_sql(node: dict[str, Any], columns: list[str]) -> str:
    """A virtual dataset's SQL: the Delta table ml/ writes, with the documented columns."""
    listed = ",\n    ".join(columns)
    return (
        f"-- dbt source {ML_SOURCE}.{node['name']} (data_contracts/gold.py), read from Delta\n"
        f"select\n    {listed}\n"
        f"from delta_scan('${{CEMS_LAKEHOUSE_ROOT}}/gold/ml/{node['identifier']}')"
    )


def warehouse_types(path: Path | None, table: str) -> dict[str, str]:
    if path is None:
        return {}
    import duckdb

    with duckdb.connect(str(path), read_only=True) as connection:
        rows = connection.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = ? and table_name = ?",
            [SCHEMA, table],
        ).fetchall()
    return {str(name): str(kind) for name, kind in rows}


# ------------------------------------------------------------------ dataset files


def _column_entry(spec: dict[str, Any], old: dict[str, Any] | None, kind: str | None) -> Any:
    entry = dict(old or {})
    entry.update(
        column_name=spec["column_name"],
        description=spec["description"],
        is_dttm=spec["is_dttm"],
        expression=None,
    )
    entry["type"] = spec["type"] or kind or entry.get("type")
    entry.setdefault("verbose_name", None)
    entry.setdefault("is_active", True)
    entry.setdefault("advanced_data_type", None)
    entry.setdefault("groupby", True)
    entry.setdefault("filterable", True)
    entry.setdefault("python_date_format", None)
    entry.setdefault("extra", {})
    return entry


def new_dataset(manifest: dict[str, Any], name: str) -> dict[str, Any]:
    kind, node = find_relation(manifest, name)
    return {
        "table_name": name,
        "main_dttm_col": None,
        "description": (node.get("description") or "").strip() or None,
        "default_endpoint": None,
        "offset": 0,
        "cache_timeout": None,
        "catalog": None,
        "schema": SCHEMA if kind == "model" else None,
        "sql": None,
        "params": None,
        "template_params": None,
        "filter_select_enabled": True,
        "fetch_values_predicate": None,
        "extra": None,
        "normalize_columns": False,
        "always_filter_main_dttm": False,
        "uuid": stable_uuid("dataset", name),
        "metrics": [],
        "columns": [],
        "version": "1.0.0",
        "database_uuid": DATABASE_UUID,
    }


def synced(
    dataset: dict[str, Any], manifest: dict[str, Any], warehouse: Path | None = None
) -> dict[str, Any]:
    """The dataset with its physical columns (and a source's SQL) as the manifest says."""
    kind, node = find_relation(manifest, dataset["table_name"])
    specs = manifest_columns(node)
    types = warehouse_types(warehouse, node["name"]) if kind == "model" else {}
    old = {c["column_name"]: c for c in dataset.get("columns", []) if not c.get("expression")}
    calculated = [c for c in dataset.get("columns", []) if c.get("expression")]
    result = dict(dataset)
    result["description"] = (node.get("description") or "").strip() or None
    result["columns"] = [
        _column_entry(spec, old.get(spec["column_name"]), types.get(spec["column_name"]))
        for spec in specs
    ] + calculated
    if kind == "source":
        result["sql"] = source_sql(node, [spec["column_name"] for spec in specs])
        result["schema"] = None
    return normalized(result)


def normalized(dataset: dict[str, Any]) -> dict[str, Any]:
    """Columns and metrics in name order: Superset exports them in no stable order."""
    result = dict(dataset)
    result["columns"] = sorted(dataset.get("columns") or [], key=lambda c: c["column_name"])
    result["metrics"] = sorted(dataset.get("metrics") or [], key=lambda m: m["metric_name"])
    return result


def dataset_files(root: Path = ASSETS_DIR) -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted((root / "datasets").rglob("*.yaml")):
        yield path, yaml.safe_load(path.read_text(encoding="utf-8"))


def dump(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


def dataset_path(root: Path, name: str) -> Path:
    return root / "datasets" / "CEMS_warehouse" / f"{name}.yaml"


# ------------------------------------------------------------------ checks


def _physical(dataset: dict[str, Any]) -> list[tuple[str, Any, bool]]:
    return sorted(
        (c["column_name"], c.get("description"), bool(c.get("is_dttm")))
        for c in dataset.get("columns", [])
        if not c.get("expression")
    )


def drift(root: Path, manifest: dict[str, Any]) -> list[str]:
    """Differences between the committed datasets and the manifest, one sentence each."""
    problems = []
    for path, dataset in dataset_files(root):
        name = dataset["table_name"]
        try:
            expected = synced(dataset, manifest)
        except KeyError as exc:
            problems.append(f"{path.name}: {exc.args[0]}")
            continue
        have, want = _physical(dataset), _physical(expected)
        if [c[0] for c in have] != [c[0] for c in want]:  # both in name order
            missing = sorted({c[0] for c in want} - {c[0] for c in have})
            extra = sorted({c[0] for c in have} - {c[0] for c in want})
            problems.append(
                f"{name}: columns differ from dbt (missing {missing or 'none'}, "
                f"not in dbt {extra or 'none'})"
            )
        elif have != want:
            changed = [h[0] for h, w in zip(have, want, strict=True) if h != w]
            problems.append(f"{name}: descriptions or temporal flags differ for {changed}")
        if dataset.get("sql") != expected.get("sql"):
            problems.append(f"{name}: its SQL is not the one generated from the dbt source")
    return problems


def _chart_references(params: dict[str, Any]) -> tuple[set[str], set[str]]:
    """(columns, saved metrics) a chart's form data names directly."""
    columns: set[str] = set()
    metrics: set[str] = set()

    def column(value: Any) -> None:
        if isinstance(value, str) and value:
            columns.add(value)
        elif isinstance(value, dict) and value.get("expressionType") != "SQL":
            name = value.get("column_name") or value.get("sqlExpression")
            if isinstance(name, str) and value.get("expressionType") is None:
                columns.add(name)

    def metric(value: Any) -> None:
        if isinstance(value, str) and value:
            metrics.add(value)
        elif isinstance(value, dict) and value.get("expressionType") == "SIMPLE":
            column(value.get("column", {}).get("column_name"))

    for key in ("groupby", "columns", "all_columns", "series_columns"):
        for value in params.get(key) or []:
            column(value)
    for key in ("x_axis", "granularity_sqla", "column", "entity", "series"):
        column(params.get(key))
    for key in ("metrics", "percent_metrics", "timeseries_limit_metric"):
        value = params.get(key)
        for item in value if isinstance(value, list) else [value]:
            metric(item)
    for key in ("metric", "secondary_metric", "size", "x", "y", "sort_by_metric"):
        if isinstance(params.get(key), str | dict):
            metric(params[key])
    for flt in params.get("adhoc_filters") or []:
        if flt.get("expressionType") == "SIMPLE":
            column(flt.get("subject"))
    for order in params.get("order_by_cols") or []:
        with contextlib.suppress(TypeError, ValueError, IndexError):
            column(json.loads(order)[0])
    return columns, metrics


def broken_references(root: Path = ASSETS_DIR) -> list[str]:
    """Columns and saved metrics charts name that their dataset does not have."""
    datasets = {d["uuid"]: d for _, d in dataset_files(root)}
    problems = []
    for path in sorted((root / "charts").glob("*.yaml")):
        chart = yaml.safe_load(path.read_text(encoding="utf-8"))
        dataset = datasets.get(chart["dataset_uuid"])
        if dataset is None:
            problems.append(f"{path.name}: no dataset with uuid {chart['dataset_uuid']}")
            continue
        names = {c["column_name"] for c in dataset["columns"]}
        saved = {m["metric_name"] for m in dataset["metrics"]}
        columns, metrics = _chart_references(chart["params"])
        for name in sorted(columns - names):
            problems.append(f"{path.name}: column {name!r} is not in {dataset['table_name']}")
        for name in sorted(metrics - saved):
            problems.append(f"{path.name}: metric {name!r} is not in {dataset['table_name']}")
    return problems


# ------------------------------------------------------------------ command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--assets", type=Path, default=ASSETS_DIR)
    parser.add_argument("--warehouse", type=Path, help="DuckDB file to take column types from")
    parser.add_argument("--check", action="store_true", help="report drift, change nothing")
    parser.add_argument("--add", action="append", default=[], metavar="NAME")
    args = parser.parse_args(argv)
    manifest = load_manifest(args.manifest)
    if args.check:
        problems = drift(args.assets, manifest) + broken_references(args.assets)
        for problem in problems:
            print(problem)
        if problems:
            print("Regenerate with dashboards/dbt_datasets.py, then fix the charts it names.")
        return 1 if problems else 0
    for name in args.add:
        path = dataset_path(args.assets, name)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(dump(new_dataset(manifest, name)), encoding="utf-8")
    changed = 0
    for path, dataset in dataset_files(args.assets):
        text = dump(synced(dataset, manifest, args.warehouse))
        if text != path.read_text(encoding="utf-8"):
            path.write_text(text, encoding="utf-8")
            changed += 1
            print(f"updated {path.relative_to(args.assets)}")
    print(f"{changed} dataset(s) changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
