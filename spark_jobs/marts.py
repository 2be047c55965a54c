"""Build the gold marts with dbt (``dbt/``) and publish every mart as a Delta table.

``build`` runs ``dbt build`` in-process on one of two targets, chosen by
``CEMS_DBT_TARGET`` (settings) or the caller:

* ``duckdb``: dbt-duckdb builds the warehouse file at ``settings.warehouse_path`` (read by
  dashboards and the API) from silver via DuckDB's delta extension; each mart is then
  written to ``<gold_root>/<mart>`` with delta-rs, overwriting, so a re-run is idempotent.
* ``spark``: dbt-spark (``method: session``) reuses the SparkSession from
  :func:`spark_jobs.session.get_spark` and writes each mart as a Delta table at
  ``<gold_root>/<mart>`` itself (``location_root``).

dbt's ``target/`` and ``logs/`` go under ``CEMS_HOME/dbt``, never into the repository.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from data_contracts.gold import ensure_tables
from data_contracts.schemas import LAKEHOUSE_ROOT_ENV
from data_contracts.settings import Settings, get_settings

DBT_PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt"
TARGETS = ("duckdb", "spark")
GOLD_SCHEMA = "gold"  # the schema profiles.yml builds into, on both targets
DEFAULT_THREADS = 4
_FAILED = {"error", "fail", "runtime error"}
_PASSED = {"pass", "success"}


class MartsBuildError(RuntimeError):
    """dbt could not build the marts, or some models or tests failed."""


@dataclass(frozen=True)
class BuildResult:
    """What one ``build`` did: marts and their row counts, tests, time and gold locations."""

    target: str
    models: dict[str, int]
    tests_passed: int
    tests_failed: int
    elapsed_seconds: float
    gold_paths: dict[str, str]
    unit_tests_passed: int = 0
    nodes: dict[str, str] = field(default_factory=dict)  # every node run -> its status


def mart_names() -> list[str]:
    """The marts the dbt project defines (``models/marts/**.sql``), sorted."""
    return sorted(p.stem for p in (DBT_PROJECT_DIR / "models" / "marts").rglob("*.sql"))


def mart_tables(settings: Settings | None = None) -> dict[str, str]:
    """Each mart's gold Delta table: mart name -> ``<gold_root>/<mart>``."""
    settings = settings or get_settings()
    return {name: f"{settings.gold_root}/{name}" for name in mart_names()}


def dbt_environment(settings: Settings, target: str) -> dict[str, str]:
    """The environment variables ``dbt/profiles.yml`` and the project read."""
    dbt_home = settings.home / "dbt"
    env = {
        LAKEHOUSE_ROOT_ENV: settings.lakehouse_root.rstrip("/"),
        "CEMS_WAREHOUSE_PATH": settings.warehouse_path,
        "CEMS_GOLD_ROOT": settings.gold_root,
        "CEMS_DBT_TARGET": target,
        "CEMS_DBT_THREADS": os.environ.get("CEMS_DBT_THREADS", str(DEFAULT_THREADS)),
        "DBT_TARGET_PATH": str(dbt_home / "target" / target),
        "DBT_LOG_PATH": str(dbt_home / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    extension = _duckdb_delta_extension()
    if extension:
        env["CEMS_DUCKDB_DELTA_EXTENSION"] = extension
    return env


def _duckdb_delta_extension() -> str | None:
    """The delta extension shipped by the duckdb-extension-delta package (offline install)."""
    try:
        import duckdb_extension_delta
    except ImportError:
        return None
    found = sorted(
        Path(duckdb_extension_delta.__file__).parent.glob("extensions/*/delta.duckdb_extension")
    )
    return str(found[-1]) if found else None


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def build(
    target: str | None = None,
    settings: Settings | None = None,
    select: str | None = None,
    full_refresh: bool = False,
) -> BuildResult:
    """Run ``dbt build`` on the target and publish the marts to gold Delta tables.

    Raises :class:`MartsBuildError` naming the failed nodes when any model or test fails.
    """
    settings = settings or get_settings()
    target = target or settings.dbt_target
    if target not in TARGETS:
        raise MartsBuildError(f"unknown dbt target {target!r}; choose one of {', '.join(TARGETS)}")
    env = dbt_environment(settings, target)
    started = time.perf_counter()
    # The marts that show churn scores read the gold tables ml/ writes; before the first
    # scoring run they exist empty, so the customer 360 builds with no scores yet.
    ensure_tables(settings)
    spark: Any = None
    if target == "spark":
        from spark_jobs.session import get_spark

        spark = get_spark("cems-marts", settings)  # dbt-spark's session method reuses it
    else:
        Path(settings.warehouse_path).parent.mkdir(parents=True, exist_ok=True)
    args = [
        "build",
        "--quiet",  # errors only on the console; the full log is under DBT_LOG_PATH
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target",
        target,
    ]
    if select:
        # Only tests whose every parent is selected: a partial build must not test a model
        # it did not build (relationships tests hang off two models).
        args += ["--select", select, "--indirect-selection", "cautious"]
    if full_refresh:
        args.append("--full-refresh")
    with _environment(env):
        nodes, kinds = _run_dbt(args, target, env["DBT_LOG_PATH"])
    built = [
        name
        for name, status in nodes.items()
        if kinds[name] == "model" and name in set(mart_names()) and status in _PASSED
    ]
    gold = {name: path for name, path in mart_tables(settings).items() if name in built}
    if target == "duckdb":
        counts = _publish_duckdb(settings.warehouse_path, gold)
    else:
        counts = {
            name: int(spark.read.format("delta").load(path).count()) for name, path in gold.items()
        }
    tests = [name for name in nodes if kinds[name] in {"test", "unit_test"}]
    return BuildResult(
        target=target,
        models=counts,
        tests_passed=sum(1 for name in tests if nodes[name] in _PASSED),
        tests_failed=sum(1 for name in tests if nodes[name] in _FAILED),
        elapsed_seconds=round(time.perf_counter() - started, 3),
        gold_paths=gold,
        unit_tests_passed=sum(
            1 for name in tests if kinds[name] == "unit_test" and nodes[name] in _PASSED
        ),
        nodes=nodes,
    )


def _run_dbt(args: list[str], target: str, log_path: str) -> tuple[dict[str, str], dict[str, str]]:
    """Invoke dbt; return node name -> status and node name -> resource type."""
    from dbt.cli.main import dbtRunner

    result = dbtRunner().invoke(args)
    if result.exception is not None:
        raise MartsBuildError(
            f"dbt build on the {target} target could not run ({result.exception}); "
            f"see the dbt log in {log_path}."
        ) from result.exception
    nodes: dict[str, str] = {}
    kinds: dict[str, str] = {}
    for run in getattr(result.result, "results", None) or []:
        name = str(run.node.name)
        nodes[name] = str(getattr(run.status, "value", run.status))
        kinds[name] = str(getattr(run.node.resource_type, "value", run.node.resource_type))
    failed = sorted(name for name, status in nodes.items() if status in _FAILED)
    if failed or not result.success:
        listed = ", ".join(failed) or "no node reported"
        raise MartsBuildError(
            f"dbt build on the {target} target failed at {len(failed)} node(s): {listed}; "
            f"see the dbt log in {log_path}."
        )
    return nodes, kinds


def _publish_duckdb(warehouse_path: str, gold: Mapping[str, str]) -> dict[str, int]:
    """Overwrite each mart's gold Delta table with the DuckDB table; return row counts."""
    import duckdb
    from deltalake import write_deltalake

    counts: dict[str, int] = {}
    with duckdb.connect(warehouse_path) as con:
        for name, path in gold.items():
            table = con.sql(f'select * from {GOLD_SCHEMA}."{name}"').to_arrow_table()
            if "://" not in path:
                Path(path).mkdir(parents=True, exist_ok=True)
            write_deltalake(path, table, mode="overwrite", schema_mode="overwrite")
            counts[name] = table.num_rows
    return counts
