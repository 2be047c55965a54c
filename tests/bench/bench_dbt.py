"""Gold marts: `dbt build` on the duckdb and spark targets over the same silver, side by side.

Either point BENCH_DBT_HOME at a CEMS_HOME whose silver is already landed (for example one
kept from bench_landing), or let the benchmark generate and land an operator of
BENCH_CUSTOMERS customers (default 1,000,000) x BENCH_DAYS days (default 30) with
BENCH_KPI_DAYS days of per-minute KPIs (default 7). BENCH_DBT_TARGETS=duckdb (or spark)
measures one target alone. Each target runs in its own process
(`spark_jobs.marts.build`: every model, data test and unit test, then gold Delta), so one
target's JVM or DuckDB caches do not help the other. Spark runs on local[2].

    .venv/bin/python tests/bench/bench_dbt.py
    BENCH_CUSTOMERS=2000 BENCH_DAYS=14 BENCH_KPI_DAYS=2 .venv/bin/python tests/bench/bench_dbt.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TARGETS = ("duckdb", "spark")
_BUILD = """
import json, sys
from spark_jobs.marts import build
result = build(sys.argv[1])
print("BENCH_RESULT " + json.dumps({
    "models": result.models, "tests_passed": result.tests_passed,
    "tests_failed": result.tests_failed, "elapsed_seconds": result.elapsed_seconds,
}))
"""
_LAND = """
from spark_jobs.pipeline import land
reports = land(["crm", "billing", "telemetry", "interactions"])
print(sum(r.received for r in reports))
"""


def _run(code: str, env: dict[str, str], *args: str) -> str:
    run = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, cwd=REPO
    )
    if run.returncode != 0:
        sys.exit(f"failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    return run.stdout


def _prepare(env: dict[str, str]) -> tuple[Path, bool]:
    given = os.environ.get("BENCH_DBT_HOME")
    if given:
        return Path(given), False
    customers = int(os.environ.get("BENCH_CUSTOMERS", "1000000"))
    days = int(os.environ.get("BENCH_DAYS", "30"))
    kpi_days = int(os.environ.get("BENCH_KPI_DAYS", "7"))
    home = REPO / ".cems" / "bench-dbt"
    shutil.rmtree(home, ignore_errors=True)
    env["CEMS_HOME"] = str(home)
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
    print("Landing every source into silver (Spark local[2]) ...", flush=True)
    started = time.perf_counter()
    rows = int(_run(_LAND, env).strip().splitlines()[-1])
    print(f"  {rows:,} rows landed in {time.perf_counter() - started:.0f} s", flush=True)
    return home, True


def main() -> None:
    env = {
        **os.environ,
        "CEMS_SPARK_MASTER": "local[2]",
        "CEMS_DBT_THREADS": os.environ.get("CEMS_DBT_THREADS", "4"),
    }
    home, generated = _prepare(env)
    env["CEMS_HOME"] = str(home)
    results: dict[str, tuple[float, dict[str, object]]] = {}
    chosen = [t for t in os.environ.get("BENCH_DBT_TARGETS", ",".join(TARGETS)).split(",") if t]
    for target in chosen:
        print(f"dbt build --target {target} ...", flush=True)
        started = time.perf_counter()
        out = _run(_BUILD, {**env, "CEMS_DBT_TARGET": target}, target)
        wall = time.perf_counter() - started
        line = next(x for x in out.splitlines() if x.startswith("BENCH_RESULT "))
        results[target] = (wall, json.loads(line.removeprefix("BENCH_RESULT ")))
    if len(results) < len(TARGETS):  # one target only (BENCH_DBT_TARGETS): its figures
        for target, (wall, result) in results.items():
            print(
                f"\n{target}: wall time {wall:.1f} s, dbt build + gold publish "
                f"{result['elapsed_seconds']:.1f} s, tests {result['tests_passed']} passed / "
                f"{result['tests_failed']} failed"
            )
            for name, rows in sorted(result["models"].items()):  # type: ignore[attr-defined]
                print(f"  rows {name:36}{rows:>14,}")
        return
    duck_wall, duck = results["duckdb"]
    spark_wall, spark = results["spark"]
    print()
    print(f"{'':40}{'duckdb':>14}{'spark':>14}")
    print(f"{'wall time, process (s)':40}{duck_wall:>14.1f}{spark_wall:>14.1f}")
    print(
        f"{'dbt build + gold publish (s)':40}{duck['elapsed_seconds']:>14.1f}{spark['elapsed_seconds']:>14.1f}"
    )
    print(
        f"{'tests passed / failed':40}{str(duck['tests_passed']) + ' / ' + str(duck['tests_failed']):>14}{str(spark['tests_passed']) + ' / ' + str(spark['tests_failed']):>14}"
    )
    duck_models: dict[str, int] = duck["models"]  # type: ignore[assignment]
    spark_models: dict[str, int] = spark["models"]  # type: ignore[assignment]
    for name in sorted(duck_models):
        print(f"{'  rows ' + name:40}{duck_models[name]:>14,}{spark_models.get(name, 0):>14,}")
    same = duck_models == spark_models
    print(
        f"\nspark/duckdb wall time: {spark_wall / duck_wall:.1f}x; row counts {'identical' if same else 'DIFFER'}"
    )
    if generated and not os.environ.get("BENCH_KEEP"):
        shutil.rmtree(home, ignore_errors=True)
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
