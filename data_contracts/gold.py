"""Gold tables written by Python jobs (the churn models), not by dbt.

``ml/`` writes them and dbt reads them back (``dbt/models/staging/ml``) to put the latest
churn score, reasons and next best action into the customer 360 and the retention segments.
Their Arrow schemas live here, beside the contracts, so the writer and the reader agree and
neither imports the other. :func:`ensure_tables` creates any that are missing as empty Delta
tables, so a dbt build before the first scoring run still finds them.
"""

from __future__ import annotations

import pyarrow as pa

from data_contracts.settings import Settings

REASON_SLOTS = 3

CHURN_SCORES = pa.schema(
    [
        pa.field("customer_id", pa.string(), nullable=False),
        pa.field("as_of_date", pa.date32(), nullable=False),
        pa.field("churn_probability", pa.float64(), nullable=False),
        pa.field("risk_band", pa.string(), nullable=False),
        *(
            field
            for slot in range(1, REASON_SLOTS + 1)
            for field in (
                pa.field(f"reason_{slot}", pa.string()),
                pa.field(f"reason_{slot}_code", pa.string()),
            )
        ),
        pa.field("model_name", pa.string(), nullable=False),
        pa.field("model_version", pa.string(), nullable=False),
        pa.field("scored_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)

RETENTION_ACTIONS = pa.schema(
    [
        pa.field("customer_id", pa.string(), nullable=False),
        pa.field("as_of_date", pa.date32(), nullable=False),
        pa.field("action_code", pa.string(), nullable=False),
        pa.field("action", pa.string(), nullable=False),
        pa.field("reasoning", pa.string(), nullable=False),
        pa.field("churn_probability", pa.float64(), nullable=False),
        pa.field("risk_band", pa.string(), nullable=False),
        pa.field("annual_value", pa.float64(), nullable=False),
        pa.field("expected_value", pa.float64(), nullable=False),
        pa.field("model_version", pa.string(), nullable=False),
    ]
)

CHURN_DRIFT = pa.schema(
    [
        pa.field("as_of_date", pa.date32(), nullable=False),
        pa.field("baseline_as_of_date", pa.date32(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),  # feature | score
        pa.field("name", pa.string(), nullable=False),
        pa.field("psi", pa.float64(), nullable=False),
        pa.field("threshold", pa.float64(), nullable=False),
        pa.field("is_drifted", pa.bool_(), nullable=False),
        pa.field("model_version", pa.string(), nullable=False),
    ]
)

CHURN_MODEL_EVALUATIONS = pa.schema(
    [
        pa.field("evaluated_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("model_version", pa.string(), nullable=False),
        pa.field("validation_as_of_date", pa.date32(), nullable=False),
        pa.field("validation_rows", pa.int64(), nullable=False),
        pa.field("validation_positives", pa.int64(), nullable=False),
        pa.field("roc_auc", pa.float64()),
        pa.field("pr_auc", pa.float64()),
        pa.field("brier", pa.float64()),
        pa.field("top_decile_lift", pa.float64()),
        pa.field("top_decile_recall", pa.float64()),
        pa.field("champion_version_before", pa.string()),
        pa.field("champion_roc_auc_before", pa.float64()),
        pa.field("is_promoted", pa.bool_(), nullable=False),
        pa.field("decision", pa.string(), nullable=False),
    ]
)

TABLES: dict[str, pa.Schema] = {
    "churn_scores": CHURN_SCORES,
    "retention_actions": RETENTION_ACTIONS,
    "churn_drift": CHURN_DRIFT,
    "churn_model_evaluations": CHURN_MODEL_EVALUATIONS,
}


def table_path(settings: Settings, name: str) -> str:
    """Where the gold table ``name`` lives (``<gold_root>/ml/<name>``)."""
    if name not in TABLES:
        raise KeyError(f"no gold table {name!r}; known: {', '.join(TABLES)}")
    return f"{settings.gold_root}/ml/{name}"


def ensure_tables(settings: Settings) -> dict[str, str]:
    """Create every missing table above as an empty Delta table; return name -> path."""
    from deltalake import DeltaTable, write_deltalake

    paths: dict[str, str] = {}
    for name, schema in TABLES.items():
        path = table_path(settings, name)
        if not DeltaTable.is_deltatable(path):
            write_deltalake(path, schema.empty_table(), mode="append")
        paths[name] = path
    return paths


# ---------------------------------------------------------------- the dbt source

DBT_SOURCE = "ml"
_DESCRIPTIONS = {
    "churn_scores": "Churn probability, risk band and top three reasons per customer and as_of.",
    "retention_actions": "Next best action, its reasoning and expected value per at-risk customer.",
    "churn_drift": "PSI of every feature and of the score against the previous as_of.",
    "churn_model_evaluations": "Every trained churn model's validation metrics and gate decision.",
}
_DBT_TYPES = {
    pa.string(): "string",
    pa.date32(): "date",
    pa.float64(): "double",
    pa.int64(): "bigint",
    pa.bool_(): "boolean",
    pa.timestamp("us", tz="UTC"): "timestamp",
}


def dbt_source() -> dict[str, object]:
    """The dbt source for the tables above (read from ``<lakehouse>/gold/ml/<name>``),
    in the same shape :func:`data_contracts.schemas.dbt_sources` gives the silver sources."""
    root = "{{ env_var('CEMS_LAKEHOUSE_ROOT') }}"
    return {
        "name": DBT_SOURCE,
        "schema": f"{{{{ 'delta' if target.type == 'spark' else '{DBT_SOURCE}' }}}}",
        "description": (
            "Gold tables the churn models write (ml/), generated from data_contracts/gold.py;"
            " edit that file, not this one."
        ),
        "tables": [
            {
                "name": name,
                "description": _DESCRIPTIONS[name],
                "identifier": (
                    f"{{{{ ('`' ~ env_var('CEMS_LAKEHOUSE_ROOT') ~ '/gold/ml/{name}`') "
                    f"if target.type == 'spark' else '{name}' }}}}"
                ),
                "config": {
                    "meta": {
                        "owner": "cems-data-science",
                        "writer": "ml/",
                        "external_location": f"delta_scan('{root}/gold/ml/{name}')",
                    }
                },
                "columns": [{"name": f.name, "data_type": _DBT_TYPES[f.type]} for f in schema],
            }
            for name, schema in TABLES.items()
        ],
    }
