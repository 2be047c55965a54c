"""Contract checks as pure DataFrame transforms.

``check_contract`` takes rows as received (text or typed) and returns them typed per the
contract with a ``_violations`` array naming every rule each row breaks. Reasons never
contain the offending value (it may be personal data); the raw payload keeps it, in
quarantine only (:func:`raw_payload`).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from data_contracts.loader import Column as ContractColumn
from data_contracts.loader import Contract
from data_contracts.schemas import spark_type

VIOLATIONS = "_violations"
RAW_PREFIX = "_raw__"  # a received value kept beside its typed column (see raw_payload)
MALFORMED = "_corrupt_record"  # Spark's column for lines it could not split into fields
RAW_MALFORMED = RAW_PREFIX + MALFORMED
HELD = "_held"  # in a references frame: the key exists only in quarantine
HELD_SUFFIX = "held in quarantine"
# Parent keys up to this many are sent to every task (about 70 bytes each in the hash table);
# more, and the reference check falls back to Spark's sort-merge join.
BROADCAST_KEYS = 5_000_000


def _checks(
    column: ContractColumn, raw: Column, typed: Column, text: bool = True
) -> list[tuple[Column, str]]:
    """Each rule of ``column`` as (broken, reason). ``text``: the value arrives as text (a
    typed value, from Parquet or JDBC, cannot be blank, so it is not formatted to test)."""
    name = column.name
    checks: list[tuple[Column, str]] = []
    present = raw.isNotNull() & (F.trim(raw.cast("string")) != "") if text else raw.isNotNull()
    if column.logical_type != "string":
        checks.append((present & typed.isNull(), f"{name} is not a valid {spark_type(column)}"))
    if column.required:
        checks.append((~present, f"{name} is required but missing"))
    if column.allowed_values:
        allowed = list(column.allowed_values)
        checks.append((typed.isNotNull() & ~typed.isin(allowed), f"{name} is not an allowed value"))
    if column.minimum is not None:
        checks.append(
            (typed < F.lit(column.minimum), f"{name} is below its minimum {column.minimum:g}")
        )
    if column.maximum is not None:
        checks.append(
            (typed > F.lit(column.maximum), f"{name} is above its maximum {column.maximum:g}")
        )
    if column.pattern:
        checks.append(
            (typed.isNotNull() & ~typed.rlike(column.pattern), f"{name} does not match its pattern")
        )
    return checks


def typed_column(column: ContractColumn, raw: Column) -> Column:
    if column.logical_type == "string":
        return raw.cast("string")
    if column.logical_type == "boolean":
        text = F.lower(F.trim(raw.cast("string")))
        return F.when(text.isin("true", "t", "1", "y", "yes"), F.lit(True)).when(
            text.isin("false", "f", "0", "n", "no"), F.lit(False)
        )
    return raw.try_cast(spark_type(column))


def check_contract(df: DataFrame, contract: Contract) -> DataFrame:
    """Typed contract columns, ``_violations``, extras, and the values as received.

    The received values stay alongside as ``_raw__<name>`` columns (and the malformed line,
    if any) for :func:`raw_payload`, which serialises them only where it is selected: for
    the rejected rows in the quarantine pass, not for every row. :func:`valid_rows` drops
    them.
    """
    names = contract.column_names
    missing = [n for n in names if n not in df.columns]
    for name in missing:
        df = df.withColumn(name, F.lit(None).cast("string"))
    typed = {c.name: typed_column(c, F.col(f"`{c.name}`")) for c in contract.columns}
    received_types = dict(df.dtypes)
    checks = [
        F.when(condition, F.lit(reason))
        for c in contract.columns
        for condition, reason in _checks(
            c, F.col(f"`{c.name}`"), typed[c.name], text=received_types[c.name] == "string"
        )
    ]
    received = [F.col(f"`{n}`").alias(f"{RAW_PREFIX}{n}") for n in names]
    if MALFORMED in df.columns:
        checks.insert(0, F.when(F.col(MALFORMED).isNotNull(), F.lit("row is malformed")))
        received.append(F.col(MALFORMED).alias(RAW_MALFORMED))
    violations = F.filter(F.array(*checks), lambda x: x.isNotNull()) if checks else F.array()
    skip = (VIOLATIONS, MALFORMED)
    extras = [
        F.col(f"`{c}`")
        for c in df.columns
        if c not in names and c not in skip and not c.startswith(RAW_PREFIX)
    ]
    # Violations are computed on the received values, then the typed values replace them.
    staged = df.withColumn(VIOLATIONS, violations)
    return staged.select(
        *[typed[c.name].alias(c.name) for c in contract.columns], *extras, *received, VIOLATIONS
    )


def raw_payload(checked: DataFrame) -> Column:
    """The row as received, as JSON: the malformed line as ``{"line": ...}``, else every
    contract column as delivered. Select it after filtering (it serialises every row it
    sees)."""
    columns = [c for c in checked.columns if c.startswith(RAW_PREFIX) and c != RAW_MALFORMED]
    as_received = F.to_json(
        F.struct(*[F.col(f"`{c}`").alias(c[len(RAW_PREFIX) :]) for c in columns])
    )
    if RAW_MALFORMED not in checked.columns:
        return as_received
    line = F.col(f"`{RAW_MALFORMED}`")
    return F.when(line.isNotNull(), F.to_json(F.struct(line.alias("line")))).otherwise(as_received)


def check_references(
    df: DataFrame, contract: Contract, references: dict[str, DataFrame]
) -> DataFrame:
    """Flag foreign keys that point at nothing in the referenced silver table.

    ``references`` maps ``"<entity>.<column>"`` to a DataFrame of the known keys; a
    reference with no DataFrame is not checked (its table has not landed yet). A frame may
    carry a boolean ``_held`` column: true for keys whose parent row is itself in
    quarantine. Such children are held back with their own reason (see :func:`held_reason`)
    instead of being called orphans: the source is consistent, our copy of the parent is not.
    """
    for column in contract.columns:
        if not column.references or column.references not in references:
            continue
        entity, key = column.references.split(".")
        flag, held = f"_found_{column.name}", f"_held_{column.name}"
        given = references[column.references]
        keys = (
            given.select(
                F.col(f"`{key}`").alias(f"_ref_{column.name}"),
                (F.col(HELD) if HELD in given.columns else F.lit(False)).alias(held),
            )
            .groupBy(f"_ref_{column.name}")
            .agg(F.min(held).alias(held))  # a key in silver is never "held"
            .withColumn(flag, F.lit(True))
        )
        if keys.count() <= BROADCAST_KEYS:
            # Every checked row meets its key in memory; a sort-merge join would shuffle
            # every row, received values and all (a million customers: 45M usage rows).
            keys = F.broadcast(keys)
        df = df.join(keys, df[f"`{column.name}`"] == keys[f"_ref_{column.name}"], "left")
        present = F.col(f"`{column.name}`").isNotNull()
        unknown = F.lit(f"{column.name} refers to an unknown {entity}")
        reason = F.when(present & F.col(flag).isNull(), unknown).when(
            present & F.col(held), F.lit(held_reason(column.name, entity))
        )
        df = df.withColumn(
            VIOLATIONS,
            F.when(reason.isNotNull(), F.array_union(F.col(VIOLATIONS), F.array(reason))).otherwise(
                F.col(VIOLATIONS)
            ),
        ).drop(flag, held, f"_ref_{column.name}")
    return df


def held_reason(column: str, entity: str) -> str:
    return f"{column} refers to {entity} {HELD_SUFFIX}"


def own_violation(reasons: Column) -> Column:
    """True when a row breaks a rule itself (not only by pointing at a quarantined parent)."""
    return F.exists(reasons, lambda r: ~r.endswith(HELD_SUFFIX))


def valid_rows(df: DataFrame) -> DataFrame:
    received = [c for c in df.columns if c.startswith(RAW_PREFIX)]
    return df.filter(F.size(VIOLATIONS) == 0).drop(VIOLATIONS, *received)


def invalid_rows(df: DataFrame) -> DataFrame:
    return df.filter(F.size(VIOLATIONS) > 0)


def deduplicate(df: DataFrame, keys: list[str], order_by: list[str]) -> DataFrame:
    """One row per business key: the last by ``order_by``.

    Ties (the same key twice in one file) are broken on the row's own contract columns, so
    the pick is deterministic without serialising every row to compare raw payloads.
    """
    from pyspark.sql.window import Window

    ties = [c for c in df.columns if c not in keys and c not in order_by and not c.startswith("_")]
    window = Window.partitionBy(*[F.col(f"`{k}`") for k in keys]).orderBy(
        *[F.col(f"`{c}`").desc_nulls_last() for c in [*order_by, *ties]]
    )
    return df.withColumn("_rank", F.row_number().over(window)).filter("_rank = 1").drop("_rank")
