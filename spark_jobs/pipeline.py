"""Entry points the CLI, the DAGs and the tests share: land one source or all of them."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyspark.sql import SparkSession

from data_contracts.loader import get_contract
from data_contracts.settings import Settings, get_settings
from spark_jobs.batches import Reconciliation
from spark_jobs.lake import Lake
from spark_jobs.quality import QualityError, QualityResult, validate_all
from spark_jobs.session import get_spark

if TYPE_CHECKING:
    from spark_jobs.marts import BuildResult

SOURCES = ("crm", "billing", "telemetry", "interactions")
# Parents land before children so foreign keys can be checked against what has landed.
ORDER = ("crm", "billing", "telemetry", "interactions")
# After CRM: chains that may run side by side (telemetry needs billing's cell inventory).
PARALLEL_CHAINS = (("billing", "telemetry"), ("interactions",))


def land_source(
    source: str, spark: SparkSession, lake: Lake, settings: Settings
) -> list[Reconciliation]:
    """Land everything new from one source system; one reconciliation per contract touched."""
    landing = settings.landing_path
    if source == "crm":
        from spark_jobs.crm import land_crm

        return land_crm(spark, lake, settings)
    if source == "billing":
        from spark_jobs.billing import land_billing, land_network_inventory

        return land_network_inventory(spark, lake, landing) + land_billing(spark, lake, landing)
    if source == "telemetry":
        from spark_jobs.streaming import land_telemetry

        return land_telemetry(spark, lake, landing)
    if source == "interactions":
        from spark_jobs.streaming import land_interactions

        return land_interactions(spark, lake, landing)
    raise ValueError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)} or all")


def land(
    sources: list[str], settings: Settings | None = None, spark: SparkSession | None = None
) -> list[Reconciliation]:
    """Land the given sources and return every reconciliation, in :data:`ORDER`.

    CRM lands first (every other source refers to its customers and subscriptions). Then
    billing (with the cell inventory) followed by telemetry, which refers to cells, runs
    beside interactions: two chains of small Spark jobs in one session, so one chain's
    Delta commits overlap the other's work. A failure in one chain lets the other finish,
    then is raised.
    """
    settings = settings or get_settings()
    spark = spark or get_spark("cems-land", settings)
    lake = Lake.from_settings(settings)
    wanted = [s for s in ORDER if s in sources]
    unknown = sorted(set(sources) - set(ORDER))
    if unknown:
        raise ValueError(f"unknown source {unknown[0]!r}; choose one of {', '.join(SOURCES)}")
    reports: dict[str, list[Reconciliation]] = {}
    if "crm" in wanted:
        reports["crm"] = land_source("crm", spark, lake, settings)
    chains = [[s for s in chain if s in wanted] for chain in PARALLEL_CHAINS]
    chains = [chain for chain in chains if chain]

    def run_chain(chain: list[str]) -> None:
        for source in chain:
            reports[source] = land_source(source, spark, lake, settings)

    with ThreadPoolExecutor(max_workers=max(len(chains), 1)) as pool:
        futures = [pool.submit(run_chain, chain) for chain in chains]
    for future in futures:
        future.result()  # every chain has finished; re-raise the first failure
    return [r for source in wanted for r in reports.get(source, [])]


class QualityGateError(QualityError):
    """Silver failed its Great Expectations suite: downstream steps must not run on it."""

    def __init__(self, results: list[QualityResult]) -> None:
        self.results = results
        failed = [r for r in results if not r.success]
        detail = "; ".join(
            f"{r.contract}: "
            + ", ".join(f"{o.expectation_type}({o.column or ''})" for o in r.failed)
            for r in failed
        )
        super().__init__(
            f"{len(failed)} of {len(results)} silver tables failed their quality suite "
            f"({detail}); see the data docs at {failed[0].data_docs if failed else '-'}."
        )


def quality_gate(
    contracts: list[str] | None = None,
    settings: Settings | None = None,
    spark: SparkSession | None = None,
) -> list[QualityResult]:
    """Validate silver (the contracts given, or every landed one) and fail if any suite fails.

    Results are stored either way (Delta table and data docs); a retry over unchanged silver
    is the same run and writes nothing twice.
    """
    settings = settings or get_settings()
    spark = spark or get_spark("cems-quality", settings)
    chosen = None if contracts is None else [get_contract(name) for name in contracts]
    results = validate_all(spark, Lake.from_settings(settings), settings, chosen)
    if any(not r.success for r in results):
        raise QualityGateError(results)
    return results


def landed_contracts(reports: list[Reconciliation]) -> list[str]:
    """Contracts whose silver a landing run may have changed (the ones worth validating)."""
    return sorted({r.contract for r in reports if not r.skipped and r.received > 0})


# ------------------------------------------------------------------ the nightly run

GENERATION_MARKER = "_state/generation.json"
SCORED_TAG = "uses_churn_scores"  # dbt models rebuilt after the nightly scoring


class StaleLakehouseError(RuntimeError):
    """The lakehouse holds data from a different generation and cannot be reset here."""


def generation_id(settings: Settings) -> str | None:
    """Identity of what the landing zone holds now (the generator's manifest, hashed)."""
    manifest = settings.generated_path / "manifest.json"
    if not manifest.exists():
        return None
    return hashlib.sha256(manifest.read_bytes()).hexdigest()


def prepare_for(settings: Settings, generation: str) -> bool:
    """Make the derived state (lakehouse, warehouse, quality docs) belong to ``generation``.

    A new synthetic operator reuses file names (one per day), so landing it on top of an
    older one would find "nothing new". Derived state of another generation is removed;
    the same generation is kept, so a re-run lands nothing twice. Returns True on reset.
    """
    root = settings.lakehouse_root
    if "://" in root and not root.startswith("file:"):
        raise StaleLakehouseError(
            f"the lakehouse at {root} is not a local folder; clear it yourself before "
            "landing a different synthetic operator."
        )
    lakehouse = Path(root.removeprefix("file:"))
    marker = lakehouse / GENERATION_MARKER
    if marker.exists() and json.loads(marker.read_text())["generation"] == generation:
        return False
    reset = lakehouse.exists()
    from spark_jobs.quality import quality_home

    for folder in (lakehouse, quality_home(settings), Path(settings.warehouse_path).parent):
        shutil.rmtree(folder, ignore_errors=True)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"generation": generation}))
    return reset


@dataclass
class NightlyRun:
    """What one end-to-end run did: landing, quality, marts, and how long each step took."""

    reports: list[Reconciliation]
    quality: list[QualityResult]
    marts: BuildResult | None
    seconds: dict[str, float] = field(default_factory=dict)
    ml: Any = None  # what the scoring step returned (ml.jobs.NightlyMl from the CLI)
    rescored: BuildResult | None = None  # the marts rebuilt with the new scores


def run_nightly(
    settings: Settings | None = None,
    target: str | None = None,
    spark: SparkSession | None = None,
    on_step: Callable[[str], None] | None = None,
    score: Callable[[Settings], Any] | None = None,
) -> NightlyRun:
    """Land every source, gate on quality, build the gold marts: the nightly DAG in-process.

    Each step is the function the DAG's task calls; ``on_step`` hears each step's name as
    it starts (for progress output). ``score`` (the churn models' nightly step, passed in
    by the caller so this package needs no ML) runs after the marts; then the marts that
    show scores (dbt tag ``uses_churn_scores``) are rebuilt with them.
    """
    from spark_jobs.marts import build

    settings = settings or get_settings()
    spark = spark or get_spark("cems-nightly", settings)
    notify = on_step or (lambda _: None)
    run = NightlyRun([], [], None)

    started = time.perf_counter()
    notify("land")
    run.reports = land(list(SOURCES), settings, spark)
    run.seconds["land"] = time.perf_counter() - started

    started = time.perf_counter()
    notify("quality")
    run.quality = quality_gate(landed_contracts(run.reports) or None, settings, spark)
    run.seconds["quality"] = time.perf_counter() - started

    started = time.perf_counter()
    notify("marts")
    run.marts = build(target or settings.dbt_target, settings)
    run.seconds["marts"] = time.perf_counter() - started
    if score is None:
        return run

    started = time.perf_counter()
    notify("ml")
    run.ml = score(settings)
    run.seconds["ml"] = time.perf_counter() - started

    started = time.perf_counter()
    notify("rescored")
    run.rescored = build(target or settings.dbt_target, settings, select=f"tag:{SCORED_TAG}")
    run.seconds["rescored"] = time.perf_counter() - started
    return run
