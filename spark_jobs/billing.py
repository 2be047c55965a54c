"""Batch landing of billing's daily files (CSV and the legacy fixed-width payments) and the
network inventory snapshot: extract -> transform -> load, with pure transforms."""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from data_contracts.loader import Contract, get_contract
from data_contracts.source_writers import FixedWidthLayout
from spark_jobs.batches import Reconciliation, ingest_columns, land, plan_batch, reference_keys
from spark_jobs.lake import Lake
from spark_jobs.validate import MALFORMED

BILLING = ("billing.invoices", "billing.payments", "billing.usage_daily")


def landing_files(landing: Path, contract: Contract) -> list[str]:
    """Every file the source has dropped for this contract so far."""
    folder = landing / contract.source / contract.entity
    pattern = "*.DAT" if contract.delivery == "fixed_width_daily" else "*.csv"
    return [str(p) for p in sorted(folder.glob(pattern))]


# ------------------------------------------------------------------ extract


def extract_csv(spark: SparkSession, files: list[str], contract: Contract) -> DataFrame:
    """Rows exactly as delivered: every column as text, unsplittable lines kept whole."""
    schema = T.StructType(
        [T.StructField(n, T.StringType()) for n in contract.column_names]
        + [T.StructField(MALFORMED, T.StringType())]
    )
    df = (
        spark.read.option("header", True)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", MALFORMED)
        .option("enforceSchema", False)
        .schema(schema)
        .csv(files)
    )
    return df.withColumn("_source_file", F.col("_metadata.file_path"))


def extract_fixed_width(spark: SparkSession, files: list[str]) -> DataFrame:
    """Detail records of the legacy payments files, one line each, with their file."""
    lines = spark.read.text(files).withColumn("_source_file", F.col("_metadata.file_path"))
    return lines


# ------------------------------------------------------------------ transform


def parse_fixed_width(lines: DataFrame, layout: FixedWidthLayout) -> DataFrame:
    """Detail records cut into contract columns, codes decoded; unreadable fields stay as text
    so the contract check names them."""
    detail = layout.records["detail"]["record_type"]
    records = lines.filter(F.substring("value", 1, 1) == detail)
    columns: list[Column] = []
    for field in layout.fields("detail"):
        name = field["name"]
        if name in ("record_type", "filler"):
            continue
        text = F.trim(F.substring("value", int(field["start"]), int(field["length"])))
        text = F.when(text == "", F.lit(None)).otherwise(text)
        value = text
        if "codes" in field:
            mapping = F.create_map(
                *[F.lit(x) for kv in field["codes"].items() for x in (kv[0], str(kv[1]).lower())]
            )
            value = F.coalesce(mapping[text], text)
        elif field.get("numeric") and field.get("implied_decimals"):
            scale = int(field["implied_decimals"])
            value = F.when(
                text.rlike("^[0-9]+$"),
                F.format_number(text.cast("decimal(20,0)") / 10**scale, scale),
            ).otherwise(text)
            value = F.regexp_replace(value, ",", "")
        elif field.get("format") == "%Y%m%d%H%M%S":
            parsed = F.try_to_timestamp(text, F.lit("yyyyMMddHHmmss"))
            value = F.coalesce(F.date_format(parsed, "yyyy-MM-dd'T'HH:mm:ss'Z'"), text)
        columns.append(value.alias(name))
    return records.select(*columns, "_source_file")


# ------------------------------------------------------------------ load


def land_contract(
    spark: SparkSession, lake: Lake, landing: Path, name: str
) -> Reconciliation | None:
    """Land every new daily file of one billing (or inventory) contract as one batch."""
    contract = get_contract(name)
    batch = plan_batch(spark, lake, contract, landing_files(landing, contract))
    if batch is None:
        return None
    if contract.delivery == "fixed_width_daily":
        layout = FixedWidthLayout(str(contract.custom["layout"]))
        received = parse_fixed_width(extract_fixed_width(spark, batch.inputs), layout)
    else:
        received = extract_csv(spark, batch.inputs, contract)
    received = ingest_columns(received, contract.source, batch.batch_id)
    return land(spark, lake, contract, batch, received, reference_keys(spark, lake, contract))


def land_billing(spark: SparkSession, lake: Lake, landing: Path) -> list[Reconciliation]:
    """Invoices before payments, so payments can be checked against landed invoices."""
    reports = [land_contract(spark, lake, landing, name) for name in BILLING]
    return [r for r in reports if r is not None]


def land_network_inventory(spark: SparkSession, lake: Lake, landing: Path) -> list[Reconciliation]:
    report = land_contract(spark, lake, landing, "network.cells")
    return [report] if report else []
