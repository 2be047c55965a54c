"""`make bench`: landing throughput on Spark local[2], side by side with DuckDB on the same files.

Generates 1,000,000 customers with 30 days of billing and usage and 7 days of per-minute KPIs
for 2,000 cells, then lands each source with `cems pipeline land` (validation, quarantine,
dedupe, MERGE into Delta) and, as the baseline in the same run, has DuckDB read the same
input files, deduplicate them and write Parquet. Target (issue 3): 150,000 rows/s overall.
All four sources land in one Spark session, one after the other, as the nightly run does (one
JVM start and one JIT warm-up, not four); the session's start is timed and counted too.
Override with BENCH_CUSTOMERS / BENCH_DAYS / BENCH_KPI_DAYS for a quick look; BENCH_KEEP_HOME=1
keeps the landed home (.cems/bench-landing) for bench_dbt.py (BENCH_DBT_HOME).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[2]
TARGET_ROWS_PER_SECOND = 150_000
SOURCES = ("crm", "billing", "telemetry", "interactions")


def _duckdb_baseline(landing: Path, out: Path) -> dict[str, float]:
    """Read, deduplicate and write each source's files with DuckDB; seconds per source."""
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET threads = 2")
    jobs = {
        "crm": [
            f"read_csv('{landing}/crm/export/{t}.csv', all_varchar=true)"
            for t in ("customers", "accounts", "subscriptions", "plans")
        ],
        "billing": [
            f"read_csv('{landing}/billing/usage_daily/*.csv', all_varchar=true)",
            f"read_csv('{landing}/billing/invoices/*.csv', all_varchar=true)",
            f"read_csv('{landing}/billing/payments/*.DAT', columns={{'line': 'VARCHAR'}}, header=false, delim='\\x01')",
            f"read_csv('{landing}/network/cells/*.csv', all_varchar=true)",
        ],
        "telemetry": [
            f"read_parquet('{landing}/network/cell_kpis/*/*.parquet')",
            f"read_json('{landing}/network/alarms/*/*.jsonl', format='newline_delimited')",
        ],
        "interactions": [
            f"read_json('{landing}/interactions/{t}/*/*.jsonl', format='newline_delimited', columns={{{cols}}})"
            for t, cols in (
                (
                    "events",
                    "'event_id':'VARCHAR','customer_id':'VARCHAR','subscription_id':'VARCHAR','channel':'VARCHAR','event_type':'VARCHAR','occurred_at':'VARCHAR','duration_seconds':'VARCHAR'",
                ),
                (
                    "tickets",
                    "'ticket_id':'VARCHAR','updated_at':'VARCHAR','ticket_status':'VARCHAR','customer_id':'VARCHAR'",
                ),
                (
                    "ticket_status_changes",
                    "'ticket_id':'VARCHAR','changed_at':'VARCHAR','to_status':'VARCHAR'",
                ),
            )
        ],
    }
    seconds: dict[str, float] = {}
    for source, readers in jobs.items():
        started = time.perf_counter()
        for i, reader in enumerate(readers):
            con.execute(
                f"COPY (SELECT DISTINCT * FROM {reader}) TO '{out}/{source}_{i}.parquet' (FORMAT parquet)"
            )
        seconds[source] = time.perf_counter() - started
    return seconds


def main() -> None:
    customers = int(os.environ.get("BENCH_CUSTOMERS", "1000000"))
    days = int(os.environ.get("BENCH_DAYS", "30"))
    kpi_days = int(os.environ.get("BENCH_KPI_DAYS", "7"))
    home = REPO / ".cems" / "bench-landing"
    shutil.rmtree(home, ignore_errors=True)
    env = {**os.environ, "CEMS_HOME": str(home), "CEMS_SPARK_MASTER": "local[2]"}
    cems = str(Path(sys.executable).with_name("cems"))
    print(
        f"Generating {customers:,} customers x {days} days ({kpi_days} days of KPIs) ...",
        flush=True,
    )
    subprocess.run(
        [
            cems,
            "generate",
            "--customers",
            str(customers),
            "--days",
            str(days),
            "--kpi-days",
            str(kpi_days),
            "--json",
        ],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    print("DuckDB baseline: read, deduplicate, write Parquet ...", flush=True)
    baseline = _duckdb_baseline(home / "landing", home / "duckdb-baseline")
    print(f"Spark local[2]: {', '.join(SOURCES)} in one session ...", flush=True)
    started = time.perf_counter()
    run = subprocess.run(
        [sys.executable, __file__, "--land-in-one-session"],
        env=env,
        capture_output=True,
        text=True,
    )
    if run.returncode != 0:
        sys.exit(f"landing failed:\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}")
    wall = time.perf_counter() - started  # the whole process: Python, the JVM, every source
    landed = json.loads(run.stdout.strip().splitlines()[-1])
    results: dict[str, tuple[float, int]] = {}
    for source in SOURCES:
        reports = landed["sources"][source]["reconciliation"]
        unbalanced = [r["contract"] for r in reports if not r["balanced"]]
        if unbalanced:
            sys.exit(f"reconciliation does not balance for {unbalanced}")
        results[source] = (
            landed["sources"][source]["seconds"],
            sum(r["received"] for r in reports),
        )
    print("Great Expectations gate over every silver table ...", flush=True)
    started = time.perf_counter()
    gate = subprocess.run(
        [cems, "pipeline", "quality", "--json"], env=env, capture_output=True, text=True
    )
    quality_seconds = time.perf_counter() - started
    if gate.returncode != 0:
        sys.exit(f"quality gate failed:\n{gate.stdout[-2000:]}\n{gate.stderr[-3000:]}")
    print()
    print(
        f"{'source':14}{'rows':>14}{'Spark s':>10}{'Spark rows/s':>15}{'DuckDB s':>11}{'DuckDB rows/s':>15}{'Spark/DuckDB':>14}"
    )
    start_up = wall - sum(seconds for seconds, _ in results.values())
    total_rows, total_spark, total_duck = 0.0, start_up, 0.0
    print(f"{'start-up':14}{'':>14}{start_up:>10.1f}   (Python, the JVM and Spark's session)")
    for source in SOURCES:
        seconds, rows = results[source]
        duck = baseline[source]
        total_rows += rows
        total_spark += seconds
        total_duck += duck
        print(
            f"{source:14}{rows:>14,}{seconds:>10.1f}{rows / seconds:>15,.0f}{duck:>11.1f}{rows / duck:>15,.0f}{seconds / duck:>13.1f}x"
        )
    overall = total_rows / total_spark
    print(
        f"{'all':14}{int(total_rows):>14,}{total_spark:>10.1f}{overall:>15,.0f}{total_duck:>11.1f}{total_rows / total_duck:>15,.0f}{total_spark / total_duck:>13.1f}x"
    )
    with_gate = total_rows / (total_spark + quality_seconds)
    print(
        f"{'+ GE gate':14}{'':>14}{quality_seconds:>10.1f}   (landing + quality gate: {with_gate:,.0f} rows/s)"
    )
    verdict = "PASS" if overall >= TARGET_ROWS_PER_SECOND else "FAIL"
    print(
        f"\n{verdict}: target {TARGET_ROWS_PER_SECOND:,} rows/s overall on local[2] including "
        f"validation and MERGE (measured {overall:,.0f}; {total_spark / 60:.1f} min for "
        f"{int(total_rows):,} rows)"
    )
    if not os.environ.get("BENCH_KEEP_HOME"):  # bench_dbt.py can reuse it via BENCH_DBT_HOME
        shutil.rmtree(home, ignore_errors=True)
    if verdict == "FAIL":
        sys.exit(1)


def land_in_one_session() -> None:
    """Land every source in one Spark session (settings from the environment); print JSON."""
    from data_contracts.settings import get_settings
    from spark_jobs.lake import Lake
    from spark_jobs.pipeline import ORDER, land_source
    from spark_jobs.session import get_spark

    settings = get_settings()
    spark = get_spark("cems-bench-land", settings)
    lake = Lake.from_settings(settings)
    sources: dict[str, object] = {}
    for source in ORDER:  # parents first, as the pipeline lands them
        started = time.perf_counter()
        reports = land_source(source, spark, lake, settings)
        sources[source] = {
            "seconds": time.perf_counter() - started,
            "reconciliation": [r.to_dict() for r in reports],
        }
    spark.stop()
    print(json.dumps({"sources": sources}))


if __name__ == "__main__":
    if sys.argv[1:] == ["--land-in-one-session"]:
        land_in_one_session()
    else:
        main()
