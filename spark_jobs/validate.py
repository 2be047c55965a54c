"""Contract checks as pure DataFrame transforms.

``check_contract`` takes rows as received (text or typed) and returns them typed per the
contract with a ``_valid`` flag: true when the row breaks no rule. :func:`invalid_rows` then
names every rule each rejected row breaks, in a ``_violations`` array. Reasons never contain
the offending value (it may be personal data); the raw payload keeps it, in quarantine only
(:func:`raw_payload`).

The flag is one boolean expression that Spark compiles with the rest of the query. The
reasons are built only for the rejected rows: an array filtered by a lambda is a
higher-order function, which Spark evaluates row by row outside its generated code, and
which used to drag every check of every row out of it (twice as slow at a million rows).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from data_contracts.loader import Column as ContractColumn
from data_contracts.loader import Contract
from data_contracts.schemas import spark_type

VALID = "_valid"  # true when the row broke no rule (see check_contract)
VIOLATIONS = "_violations"  # the rules a rejected row broke, in order (see invalid_rows)
# A column holding one more reason (or null) decided outside the contract's own rules:
# ``_why_0_*`` come before the contract's reasons (late arrival), ``_why_2_*`` after them
# (foreign keys).
WHY_PREFIX = "_why_"
WHY_FIRST = WHY_PREFIX + "0_"
WHY_LAST = WHY_PREFIX + "2_"
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
    """Typed contract columns, ``_valid``, extras, and the values as received.

    The received values stay alongside as ``_raw__<name>`` columns (and the malformed line,
    if any): :func:`invalid_rows` checks them again to name the reasons of the few rejected
    rows, and :func:`raw_payload` serialises them for quarantine. :func:`valid_rows` drops
    them.
    """
    names = contract.column_names
    missing = [n for n in names if n not in df.columns]
    for name in missing:
        df = df.withColumn(name, F.lit(None).cast("string"))
    typed = {c.name: typed_column(c, F.col(f"`{c.name}`")) for c in contract.columns}
    malformed = F.col(MALFORMED) if MALFORMED in df.columns else None
    broken = [
        condition
        for condition, _ in _rules(
            contract, lambda n: F.col(f"`{n}`"), typed.__getitem__, dict(df.dtypes), malformed
        )
    ]
    received = [F.col(f"`{n}`").alias(f"{RAW_PREFIX}{n}") for n in names]
    if malformed is not None:
        received.append(malformed.alias(RAW_MALFORMED))
    # A rule whose test is null (a missing value against a minimum) is not broken.
    valid = (
        F.when(reduce(lambda a, b: a | b, broken), F.lit(False)).otherwise(F.lit(True))
        if broken
        else F.lit(True)
    )
    skip = (VALID, VIOLATIONS, MALFORMED)
    extras = [
        F.col(f"`{c}`")
        for c in df.columns
        if c not in names and c not in skip and not c.startswith(RAW_PREFIX)
    ]
    # The flag is computed on the received values, then the typed values replace them.
    staged = df.withColumn(VALID, valid)
    return staged.select(
        *[typed[c.name].alias(c.name) for c in contract.columns], *extras, *received, VALID
    )


def _rules(
    contract: Contract,
    raw: Callable[[str], Column],
    typed: Callable[[str], Column],
    types: dict[str, str],
    malformed: Column | None,
) -> list[tuple[Column, str]]:
    """Every rule of the contract as (broken, reason), the malformed line first. ``raw`` and
    ``typed`` give a column's received and typed value; ``types`` the received types."""
    rules = [] if malformed is None else [(malformed.isNotNull(), "row is malformed")]
    for c in contract.columns:
        rules += _checks(c, raw(c.name), typed(c.name), text=types[c.name] == "string")
    return rules


def _own_reasons(checked: DataFrame, contract: Contract) -> list[Column]:
    """The contract's rules over checked rows (received and typed values): each column is
    a reason, or null where the rule holds."""
    types = {c[len(RAW_PREFIX) :]: t for c, t in checked.dtypes if c.startswith(RAW_PREFIX)}
    malformed = F.col(f"`{RAW_MALFORMED}`") if RAW_MALFORMED in checked.columns else None
    rules = _rules(
        contract, lambda n: F.col(f"`{RAW_PREFIX}{n}`"), lambda n: F.col(f"`{n}`"), types, malformed
    )
    return [F.when(condition, F.lit(reason)) for condition, reason in rules]


def flag(df: DataFrame, name: str, reason: Column) -> DataFrame:
    """Add a reason decided outside the contract's own rules (``name`` starts with
    :data:`WHY_FIRST` or :data:`WHY_LAST`); a row with a non-null reason is not valid."""
    return df.withColumn(name, reason).withColumn(VALID, F.col(VALID) & F.col(f"`{name}`").isNull())


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
    for position, column in enumerate(contract.columns):
        if not column.references or column.references not in references:
            continue
        entity, key = column.references.split(".")
        found, held = f"_found_{column.name}", f"_held_{column.name}"
        given = references[column.references]
        keys = (
            given.select(
                F.col(f"`{key}`").alias(f"_ref_{column.name}"),
                (F.col(HELD) if HELD in given.columns else F.lit(False)).alias(held),
            )
            .groupBy(f"_ref_{column.name}")
            .agg(F.min(held).alias(held))  # a key in silver is never "held"
            .withColumn(found, F.lit(True))
        )
        if keys.count() <= BROADCAST_KEYS:
            # Every checked row meets its key in memory; a sort-merge join would shuffle
            # every row, received values and all (a million customers: 45M usage rows).
            keys = F.broadcast(keys)
        df = df.join(keys, df[f"`{column.name}`"] == keys[f"_ref_{column.name}"], "left")
        present = F.col(f"`{column.name}`").isNotNull()
        unknown = F.lit(f"{column.name} refers to an unknown {entity}")
        reason = F.when(present & F.col(found).isNull(), unknown).when(
            present & F.col(held), F.lit(held_reason(column.name, entity))
        )
        why = f"{WHY_LAST}{position:03d}_{column.name}"  # reasons in the contract's order
        df = flag(df, why, reason).drop(found, held, f"_ref_{column.name}")
    return df


def held_reason(column: str, entity: str) -> str:
    return f"{column} refers to {entity} {HELD_SUFFIX}"


def own_violation(reasons: Column) -> Column:
    """True when a row breaks a rule itself (not only by pointing at a quarantined parent)."""
    return F.exists(reasons, lambda r: ~r.endswith(HELD_SUFFIX))


def valid_rows(df: DataFrame) -> DataFrame:
    """The rows that broke no rule, without the received values and the reasons."""
    helpers = [c for c in df.columns if c.startswith((RAW_PREFIX, WHY_PREFIX))]
    return df.filter(F.col(VALID)).drop(VALID, *helpers)


def invalid_rows(df: DataFrame, contract: Contract) -> DataFrame:
    """The rejected rows, with ``_violations``: every rule each broke, in order (reasons
    decided before the contract's rules, the contract's, then the foreign keys)."""
    first = sorted(c for c in df.columns if c.startswith(WHY_FIRST))
    last = sorted(c for c in df.columns if c.startswith(WHY_LAST))
    reasons = [
        *[F.col(f"`{c}`") for c in first],
        *_own_reasons(df, contract),
        *[F.col(f"`{c}`") for c in last],
    ]
    return df.filter(~F.col(VALID)).withColumn(
        VIOLATIONS, F.filter(F.array(*reasons), lambda x: x.isNotNull())
    )


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
