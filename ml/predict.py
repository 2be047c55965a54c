"""Nightly scoring: every active customer's churn probability, risk band and the three
reasons behind it, in words a support agent can read.

Reasons come from LightGBM's per-feature contributions (TreeSHAP, ``pred_contrib``): the
three features that push this customer's risk up the most, each said with the customer's
own value ("2 support tickets left unresolved for more than 48 hours"). A customer with
fewer than three risk-raising features gets fewer reasons.

Writes are idempotent per ``as_of``: the rows of that date are replaced in one Delta
transaction (``predicate`` overwrite), so a re-run or a retry leaves exactly one score per
customer and date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pyarrow as pa

from data_contracts.gold import CHURN_SCORES, REASON_SLOTS
from ml.train import ChurnModel


@dataclass(frozen=True)
class Reasons:
    text: np.ndarray  # rows x REASON_SLOTS, None where no reason
    codes: np.ndarray  # rows x REASON_SLOTS, feature names
    families: np.ndarray  # rows x REASON_SLOTS, feature families


def top_reasons(model: ChurnModel, frame: pd.DataFrame, slots: int = REASON_SLOTS) -> Reasons:
    """The ``slots`` features raising each row's risk the most, said in words."""
    contributions = model.contributions(frame)
    rows, width = contributions.shape
    slots = min(slots, width)
    order = np.argsort(-contributions, axis=1, kind="stable")[:, :slots]
    picked = np.take_along_axis(contributions, order, axis=1)
    text = np.full((rows, REASON_SLOTS), None, dtype=object)
    codes = np.full((rows, REASON_SLOTS), None, dtype=object)
    families = np.full((rows, REASON_SLOTS), None, dtype=object)
    for slot in range(slots):
        for index, feature in enumerate(model.features):
            who = np.flatnonzero((order[:, slot] == index) & (picked[:, slot] > 0))
            if who.size == 0:
                continue
            values = (
                frame[feature.name].to_numpy()[who] if feature.name in frame else [None] * who.size
            )
            text[who, slot] = [feature.describe(v) for v in values]
            codes[who, slot] = feature.name
            families[who, slot] = feature.family
    return Reasons(text, codes, families)


def score_frame(
    model: ChurnModel, frame: pd.DataFrame, model_version: str, model_name: str = "churn"
) -> tuple[pa.Table, Reasons, np.ndarray]:
    """Scores of ``frame`` (rows of one ``as_of``) as a ``churn_scores`` table."""
    probability = model.predict_proba(frame)
    reasons = top_reasons(model, frame)
    scored_at = datetime.now(UTC)
    columns: dict[str, object] = {
        "customer_id": frame["customer_id"].astype(str).tolist(),
        "as_of_date": list(frame["as_of_date"]),
        "churn_probability": probability,
        "risk_band": model.band(probability).tolist(),
    }
    for slot in range(REASON_SLOTS):
        columns[f"reason_{slot + 1}"] = reasons.text[:, slot].tolist()
        columns[f"reason_{slot + 1}_code"] = reasons.codes[:, slot].tolist()
    columns["model_name"] = [model_name] * len(frame)
    columns["model_version"] = [model_version] * len(frame)
    columns["scored_at"] = [scored_at] * len(frame)
    table = pa.Table.from_pydict(
        {name: columns[name] for name in CHURN_SCORES.names}, schema=CHURN_SCORES
    )
    return table, reasons, probability


def replace_partition(path: str, table: pa.Table, as_of: date) -> None:
    """Replace the rows of ``as_of`` in a Delta table with ``table``, in one commit."""
    from deltalake import write_deltalake

    write_deltalake(
        path,
        table,
        mode="overwrite",
        predicate=f"as_of_date = '{as_of.isoformat()}'",
    )
