"""Data quality of silver: each contract's generated Great Expectations suite, run on Spark.

The suite comes from :func:`data_contracts.schemas.expectation_suite` (never retyped) and
runs through GE's Spark datasource on the contract columns of the silver table (current
rows only for SCD2 tables). Every expectation result is appended to the Delta table at
:attr:`Lake.quality_results`, once per ``(contract, run_id)``, and GE renders the run into
a local data docs site under ``<CEMS_HOME>/quality/data_docs/``.

GE is configured in code (an ephemeral context whose validation results are kept as JSON
under ``<CEMS_HOME>/quality/validations/`` so the docs index keeps its history): nothing is
written to the repository and nothing is sent over the network.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from data_contracts.loader import Contract, all_contracts
from data_contracts.schemas import expectation_suite
from data_contracts.settings import Settings
from spark_jobs.lake import Lake, append_once, as_of_now, table_exists

if TYPE_CHECKING:
    from great_expectations import ExpectationSuite
    from great_expectations.core import ExpectationValidationResult
    from great_expectations.data_context.data_context.ephemeral_data_context import (
        EphemeralDataContext,
    )

RESULTS_SCHEMA = T.StructType(
    [
        T.StructField("contract", T.StringType(), False),
        T.StructField("run_id", T.StringType(), False),
        T.StructField("batch_id", T.LongType(), True),
        T.StructField("silver_version", T.LongType(), False),
        T.StructField("expectation_type", T.StringType(), False),
        T.StructField("column", T.StringType(), True),
        T.StructField("contract_rule", T.StringType(), True),
        T.StructField("success", T.BooleanType(), False),
        T.StructField("observed_value", T.StringType(), True),
        T.StructField("validated_at", T.TimestampType(), False),
    ]
)
# SCD2 silver tables keep history; the contract describes the current rows.
CURRENT_FLAG = "is_current"
DOCS_SITE = "cems_quality"
# Enough offending values to recognise a problem without copying the table into the docs.
RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 10}
# Result keys that carry row values rather than counts.
_VALUE_KEYS = (
    "partial_unexpected_list",
    "partial_unexpected_counts",
    "partial_unexpected_index_list",
    "unexpected_list",
    "unexpected_index_list",
    "unexpected_rows",
)
_COUNT_KEYS = (
    "element_count",
    "unexpected_count",
    "unexpected_percent",
    "missing_count",
    "missing_percent",
)


class QualityError(RuntimeError):
    """Silver cannot be validated (no table yet, or a suite GE does not accept)."""


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation of a run and what GE saw."""

    expectation_type: str
    column: str | None
    contract_rule: str | None
    success: bool
    observed_value: Any
    exception: str | None = None


@dataclass(frozen=True)
class QualityResult:
    """One contract's silver checked against its suite."""

    contract: str
    run_id: str
    batch_id: int | None
    silver_version: int
    rows: int
    success: bool
    evaluated: int
    successful: int
    unsuccessful: int
    outcomes: tuple[ExpectationOutcome, ...]
    validated_at: datetime
    data_docs: Path

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]

    @property
    def statistics(self) -> dict[str, int]:
        return {
            "evaluated_expectations": self.evaluated,
            "successful_expectations": self.successful,
            "unsuccessful_expectations": self.unsuccessful,
        }


def quality_home(settings: Settings) -> Path:
    """Where GE keeps validation results and the data docs site."""
    return settings.home / "quality"


def data_docs_index(settings: Settings) -> Path:
    return quality_home(settings) / "data_docs" / "index.html"


# ------------------------------------------------------------------ suite


def build_suite(contract: Contract) -> ExpectationSuite:
    """The contract's generated suite as GE objects (every expectation or an error)."""
    import great_expectations as gx
    from great_expectations.exceptions.exceptions import GreatExpectationsError
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    spec = expectation_suite(contract)
    expectations = []
    # Built one by one because ExpectationSuite(expectations=[dict, ...]) only logs and drops
    # an expectation GE does not accept; a contract rule must never vanish silently.
    for entry in spec["expectations"]:
        try:
            configuration = ExpectationConfiguration(
                type=entry["type"], kwargs=entry["kwargs"], meta=entry.get("meta")
            )
            expectations.append(configuration.to_domain_obj())
        except (GreatExpectationsError, ValueError, TypeError) as exc:
            raise QualityError(
                f"{contract.name}: Great Expectations rejects the generated "
                f"{entry['type']} ({entry['kwargs']}): {exc}; fix the generator in "
                "data_contracts/schemas.py."
            ) from exc
    return gx.ExpectationSuite(name=spec["name"], expectations=expectations, meta=spec["meta"])


def _context(settings: Settings) -> EphemeralDataContext:
    """A GE context configured here: results and docs under CEMS_HOME, no analytics."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    home = quality_home(settings)
    defaults = InMemoryStoreBackendDefaults()
    stores = dict(defaults.stores)
    stores[defaults.validation_results_store_name] = {
        "class_name": "ValidationResultsStore",
        "store_backend": {
            "class_name": "TupleFilesystemStoreBackend",
            "base_directory": str(home / "validations"),
        },
    }
    docs_site = {
        "class_name": "SiteBuilder",
        "show_how_to_buttons": False,
        "store_backend": {
            "class_name": "TupleFilesystemStoreBackend",
            "base_directory": str(home / "data_docs"),
        },
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    }
    config = DataContextConfig(
        store_backend_defaults=defaults,
        stores=stores,
        data_docs_sites={DOCS_SITE: docs_site},
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(project_config=config, mode="ephemeral")


# ------------------------------------------------------------------ results


def without_personal_values(
    contract: Contract, columns: Iterable[str], result: dict[str, Any]
) -> dict[str, Any]:
    """``result`` without row values when any of ``columns`` holds personal data.

    Counts stay; the offending values themselves belong in quarantine, not in docs or tables.
    """
    personal = any(
        contract.column(c).pii_class != "none" for c in columns if c in contract.column_names
    )
    if not personal:
        return result
    return {k: ([] if k in _VALUE_KEYS else v) for k, v in result.items()}


def observed_value(result: dict[str, Any]) -> Any:
    """What an expectation saw: GE's ``observed_value``, else its counts and sample values."""
    if "observed_value" in result:
        return result["observed_value"]
    return {k: result[k] for k in (*_COUNT_KEYS, "partial_unexpected_list") if k in result}


def _columns(kwargs: dict[str, Any]) -> list[str]:
    if kwargs.get("column"):
        return [str(kwargs["column"])]
    return [str(c) for c in kwargs.get("column_list") or []]


def _exception_message(info: dict[str, Any] | None) -> str | None:
    """Why an expectation could not be evaluated (e.g. its column is missing), if it raised."""
    if not info:
        return None
    if "raised_exception" in info:
        if not info["raised_exception"]:
            return None
        messages = {str(info.get("exception_message") or "expectation raised an exception")}
    else:
        # GE's other form: {metric id: ExceptionInfo} for metrics it could not compute.
        messages = {str(getattr(e, "exception_message", e)) for e in info.values()}
    # First lines only: Spark appends query plans that say nothing to a reader.
    return "; ".join(sorted(m.strip().splitlines()[0][:300] for m in messages if m.strip())) or None


def _outcome(contract: Contract, result: ExpectationValidationResult) -> ExpectationOutcome:
    config = result.expectation_config
    kwargs = dict(config.kwargs) if config is not None else {}
    columns = _columns(kwargs)
    details = without_personal_values(contract, columns, dict(result.result or {}))
    result.result = details  # the stored GE result (and so the docs) carry no personal values
    return ExpectationOutcome(
        expectation_type=config.type if config is not None else "unknown",
        column=",".join(columns) or None,
        contract_rule=(config.meta or {}).get("contract_rule") if config is not None else None,
        success=bool(result.success),
        observed_value=observed_value(details),
        exception=_exception_message(result.exception_info),
    )


def result_rows(spark: SparkSession, result: QualityResult) -> DataFrame:
    """One row per expectation, in the shape of :data:`RESULTS_SCHEMA`."""
    at = result.validated_at.astimezone(UTC).replace(tzinfo=None)
    rows = [
        (
            result.contract,
            result.run_id,
            result.batch_id,
            result.silver_version,
            o.expectation_type,
            o.column,
            o.contract_rule,
            o.success,
            json.dumps(
                {"exception": o.exception} if o.exception else o.observed_value,
                default=str,
                sort_keys=True,
            ),
            at,
        )
        for o in result.outcomes
    ]
    return spark.createDataFrame(rows, RESULTS_SCHEMA)


# ------------------------------------------------------------------ validate


def _silver(spark: SparkSession, lake: Lake, contract: Contract) -> tuple[DataFrame, int]:
    """Silver at its latest version (current rows only for SCD2), and that version."""
    path = lake.silver(contract)
    if not table_exists(spark, path):
        raise QualityError(
            f"{contract.name} has no silver table at {path}; land the source before validating it."
        )
    # Pinned, so a write landing mid-validation cannot change what is being checked.
    df, version = as_of_now(spark, path)
    if CURRENT_FLAG in df.columns:
        df = df.filter(F.col(CURRENT_FLAG))
    return df, version


def validate_silver(
    spark: SparkSession,
    lake: Lake,
    contract: Contract,
    settings: Settings,
    run_id: str | None = None,
) -> QualityResult:
    """Run the contract's suite on its silver table, record the results, build the docs.

    ``run_id`` defaults to ``silver-v<Delta version>``: a retry over the same silver state
    is the same run, so its result rows are written once.
    """
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    silver, version = _silver(spark, lake, contract)
    run_id = run_id or f"silver-v{version}"
    recorded = _recorded(spark, lake, contract, run_id)
    if recorded:
        # This silver state was validated already (a retry, or a run that landed nothing
        # new for it): the stored outcome is the answer, and nothing is written twice.
        return _from_recorded(recorded, silver.count(), settings)
    silver = silver.cache()  # GE runs dozens of small jobs over it
    # Lineage and SCD2 columns stay out, so the schema expectation sees the contract's own.
    present = [c for c in contract.column_names if c in silver.columns]
    checked = silver.select(*[F.col(f"`{c}`") for c in present])
    try:
        lineage = [F.max("_batch_id").alias("batch_id")] if "_batch_id" in silver.columns else []
        summary = silver.agg(F.count(F.lit(1)).alias("rows"), *lineage).first()
        rows = int(summary["rows"]) if summary else 0
        batch_id = summary["batch_id"] if summary and lineage else None

        context = _context(settings)
        suite = context.suites.add(build_suite(contract))
        asset = context.data_sources.add_spark(name="silver").add_dataframe_asset(
            name=contract.name
        )
        batch = asset.add_batch_definition_whole_dataframe(name="current").get_batch(
            batch_parameters={"dataframe": checked}
        )
        validated_at = datetime.now(UTC)
        report = batch.validate(suite, result_format=RESULT_FORMAT)
    finally:
        silver.unpersist()

    outcomes = tuple(_outcome(contract, r) for r in report.results)
    earlier = [
        key
        for key in context.validation_results_store.list_keys()
        if isinstance(key, ValidationResultIdentifier)
        and key.expectation_suite_identifier.name == suite.name
        and key.run_id.run_name == run_id
    ]
    # A re-run of the same run replaces its docs page instead of adding a second one.
    ge_run = earlier[0].run_id if earlier else RunIdentifier(run_id, validated_at)
    report.meta["run_id"] = ge_run
    report.meta["validation_time"] = validated_at.isoformat()
    key = ValidationResultIdentifier(
        expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite.name),
        run_id=ge_run,
        batch_identifier=batch.id,
    )
    context.validation_results_store.set(key, report)
    context.build_data_docs(site_names=[DOCS_SITE], resource_identifiers=[key])

    statistics = report.statistics
    result = QualityResult(
        contract=contract.name,
        run_id=run_id,
        batch_id=int(batch_id) if batch_id is not None else None,
        silver_version=version,
        rows=rows,
        success=bool(report.success),
        evaluated=int(statistics["evaluated_expectations"]),
        successful=int(statistics["successful_expectations"]),
        unsuccessful=int(statistics["unsuccessful_expectations"]),
        outcomes=outcomes,
        validated_at=validated_at,
        data_docs=data_docs_index(settings),
    )
    append_once(
        result_rows(spark, result).coalesce(1),
        lake.quality_results,
        f"quality/{contract.name}/{run_id}",
        0,
    )
    return result


def _recorded(spark: SparkSession, lake: Lake, contract: Contract, run_id: str) -> list[Any]:
    """The stored result rows of one contract's run, if that run happened."""
    if not table_exists(spark, lake.quality_results):
        return []
    results = spark.read.format("delta").load(lake.quality_results)
    return results.filter(
        (F.col("contract") == contract.name) & (F.col("run_id") == run_id)
    ).collect()


def _from_recorded(rows: list[Any], silver_rows: int, settings: Settings) -> QualityResult:
    outcomes = tuple(
        ExpectationOutcome(
            expectation_type=r["expectation_type"],
            column=r["column"],
            contract_rule=r["contract_rule"],
            success=bool(r["success"]),
            observed_value=r["observed_value"],
        )
        for r in rows
    )
    successful = sum(o.success for o in outcomes)
    first = rows[0]
    validated_at = max(r["validated_at"] for r in rows)
    return QualityResult(
        contract=first["contract"],
        run_id=first["run_id"],
        batch_id=first["batch_id"],
        silver_version=int(first["silver_version"]),
        rows=silver_rows,
        success=successful == len(outcomes),
        evaluated=len(outcomes),
        successful=successful,
        unsuccessful=len(outcomes) - successful,
        outcomes=outcomes,
        validated_at=validated_at if validated_at.tzinfo else validated_at.replace(tzinfo=UTC),
        data_docs=data_docs_index(settings),
    )


def validate_all(
    spark: SparkSession,
    lake: Lake,
    settings: Settings,
    contracts: Iterable[Contract] | None = None,
    run_id: str | None = None,
) -> list[QualityResult]:
    """Validate every contract (or those given) whose silver table exists."""
    chosen = list(all_contracts().values()) if contracts is None else list(contracts)
    return [
        validate_silver(spark, lake, contract, settings, run_id)
        for contract in chosen
        if table_exists(spark, lake.silver(contract))
    ]
