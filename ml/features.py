"""The churn model's features: which columns, of which kind, and how to say them to a person.

One definition serves every path: training and nightly scoring read the gold mart
``fct_churn_features`` (built by dbt, point in time); ``cems ml evaluate`` builds the same
columns from contract-shaped tables that the legacy import mapped from a vendor export
(:func:`snapshot_features`). Columns the frame does not have are simply absent; extra
customer attributes (``crm.customer_attributes``) become ``attr_<name>`` features, typed by
their attribute type, so a vendor's columns are used rather than thrown away.

Each feature carries a sentence template for the reasons a support agent reads: the
template gets the customer's value, so a reason says "2 support tickets left unresolved for
more than 48 hours", not a column name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from data_contracts.settings import Settings

Kind = Literal["numeric", "boolean", "categorical"]

KEYS = ("customer_id", "as_of_date")
LABEL = "is_churned_in_label_window"
LABEL_COMPLETE = "is_label_window_complete"
ATTRIBUTE_PREFIX = "attr_"
MISSING_CATEGORY = "unknown"


@dataclass(frozen=True)
class Feature:
    """A model input. ``text`` formats a numeric value (``{value}``); for booleans,
    ``text`` is said when true and ``text_false`` when false."""

    name: str
    kind: Kind
    text: str
    text_false: str = ""
    family: str = "other"  # groups reasons into what a next best action can address
    text_missing: str = ""  # what a missing value means, when it means something

    def describe(self, value: object) -> str:
        if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
            return self.text_missing or f"{self.name.replace('_', ' ')} not known"
        if self.kind == "boolean":
            return self.text if bool(value) else (self.text_false or f"not: {self.text}")
        if self.kind == "categorical":
            return self.text.format(value=value)
        number = float(value)  # type: ignore[arg-type]
        return self.text.format(value=number, months=number / 30.4375, pct=number * 100)


FEATURES: tuple[Feature, ...] = (
    Feature("customer_type", "categorical", "{value} customer segment", family="segment"),
    Feature("region", "categorical", "lives in the {value} region", family="segment"),
    Feature("urbanicity", "categorical", "{value} area", family="segment"),
    Feature(
        "tenure_days",
        "numeric",
        "customer for {value:.0f} days ({months:.1f} months)",
        family="tenure",
    ),
    Feature(
        "active_subscription_count", "numeric", "{value:.0f} active line(s)", family="products"
    ),
    Feature("has_mobile", "boolean", "has a mobile line", "has no mobile line", "products"),
    Feature(
        "has_broadband", "boolean", "has a broadband line", "has no broadband line", "products"
    ),
    Feature("has_tv", "boolean", "has a TV service", "has no TV service", "products"),
    Feature(
        "has_month_to_month_contract",
        "boolean",
        "on a month-to-month contract (no commitment)",
        "every line is under a fixed-term contract",
        "contract",
    ),
    Feature(
        "days_to_nearest_contract_end",
        "numeric",
        "contract commitment ends in {value:.0f} days",
        family="contract",
        text_missing="no fixed-term commitment on any line",
    ),
    Feature(
        "had_price_rise_in_window",
        "boolean",
        "had a price increase recently",
        "no recent price change",
        "price",
    ),
    Feature("monthly_value", "numeric", "pays {value:.2f} a month", family="price"),
    Feature(
        "data_gb_in_window", "numeric", "used {value:.1f} GB of data in 4 weeks", family="usage"
    ),
    Feature(
        "voice_minutes_in_window",
        "numeric",
        "{value:.0f} voice minutes in 4 weeks",
        family="usage",
    ),
    Feature(
        "usage_days_in_window",
        "numeric",
        "used the service on {value:.0f} days of 28",
        family="usage",
    ),
    Feature(
        "roaming_subscription_days_in_window",
        "numeric",
        "{value:.0f} days roaming in 4 weeks",
        family="usage",
    ),
    Feature(
        "data_gb_last_trend_days",
        "numeric",
        "{value:.1f} GB of data in the last week",
        family="usage",
    ),
    Feature(
        "data_gb_prior_trend_days",
        "numeric",
        "{value:.1f} GB of data in the week before",
        family="usage",
    ),
    Feature(
        "tickets_opened_in_window",
        "numeric",
        "opened {value:.0f} support ticket(s) in 4 weeks",
        family="support",
    ),
    Feature(
        "open_tickets_at_as_of",
        "numeric",
        "{value:.0f} support ticket(s) open now",
        family="support",
    ),
    Feature(
        "tickets_unresolved_over_48h_at_as_of",
        "numeric",
        "{value:.0f} support ticket(s) left unresolved for more than 48 hours",
        family="support",
    ),
    Feature(
        "network_tickets_in_window",
        "numeric",
        "raised {value:.0f} network fault ticket(s) in 4 weeks",
        family="network",
    ),
    Feature(
        "complaints_in_window",
        "numeric",
        "made {value:.0f} complaint(s) in 4 weeks",
        family="support",
    ),
    Feature(
        "outage_reports_in_window",
        "numeric",
        "reported {value:.0f} outage(s) in 4 weeks",
        family="network",
    ),
    Feature(
        "cancel_requests_in_window",
        "numeric",
        "asked about cancelling {value:.0f} time(s) in 4 weeks",
        family="intent",
    ),
    Feature(
        "plan_change_views_in_window",
        "numeric",
        "looked at changing plan {value:.0f} time(s) in 4 weeks",
        family="intent",
    ),
    Feature(
        "events_in_window",
        "numeric",
        "{value:.0f} app, web and call contacts in 4 weeks",
        family="engagement",
    ),
    Feature(
        "failed_payments_in_window",
        "numeric",
        "{value:.0f} failed payment(s) in 4 weeks",
        family="payment",
    ),
    Feature(
        "late_payments_in_window",
        "numeric",
        "paid late {value:.0f} time(s) in 4 weeks",
        family="payment",
    ),
    Feature(
        "invoiced_amount_in_window", "numeric", "billed {value:.2f} in 4 weeks", family="price"
    ),
    Feature(
        "home_cell_availability_pct",
        "numeric",
        "home cell available only {value:.1f} % of the time",
        family="network",
        text_missing="home cell quality not measured recently",
    ),
    Feature(
        "home_cell_dropped_call_rate",
        "numeric",
        "home cell drops {pct:.1f} % of calls",
        family="network",
        text_missing="home cell quality not measured recently",
    ),
    Feature(
        "home_cell_outage_minutes",
        "numeric",
        "{value:.0f} minutes of outage at the home cell in 4 weeks",
        family="network",
    ),
    # Account-level features: present when the frame has them (the legacy snapshot does).
    Feature("payment_method", "categorical", "pays by {value}", family="payment"),
    Feature(
        "is_autopay",
        "boolean",
        "pays by automatic payment",
        "does not use automatic payment",
        "payment",
    ),
    Feature(
        "is_paperless_billing",
        "boolean",
        "receives paperless bills",
        "receives paper bills",
        "payment",
    ),
    Feature("broadband_plan", "categorical", "broadband plan {value}", family="products"),
)
BY_NAME: dict[str, Feature] = {f.name: f for f in FEATURES}


def attribute_feature(column: str, kind: Kind) -> Feature:
    """The feature for an extra customer attribute column ``attr_<name>``."""
    words = column.removeprefix(ATTRIBUTE_PREFIX).replace("_", " ")
    if kind == "boolean":
        return Feature(column, kind, words, f"not {words}", "attribute")
    if kind == "categorical":
        return Feature(column, kind, f"{words}: {{value}}", family="attribute")
    return Feature(column, kind, f"{words} {{value:g}}", family="attribute")


def feature_set(frame: pd.DataFrame) -> list[Feature]:
    """The features ``frame`` has, in a stable order: known ones, then attributes by name."""
    known = [f for f in FEATURES if f.name in frame.columns]
    attributes = []
    for column in sorted(c for c in frame.columns if c.startswith(ATTRIBUTE_PREFIX)):
        series = frame[column]
        if pd.api.types.is_bool_dtype(series) or series.dtype == "boolean":
            kind: Kind = "boolean"
        elif pd.api.types.is_numeric_dtype(series):
            kind = "numeric"
        else:
            kind = "categorical"
        attributes.append(attribute_feature(column, kind))
    return known + attributes


def model_matrix(
    frame: pd.DataFrame,
    features: list[Feature],
    categories: Mapping[str, list[str]] | None = None,
) -> pd.DataFrame:
    """The model's input: numbers as float64 (missing stays NaN), booleans as 0/1 floats,
    categoricals as pandas categories with a fixed category list (``categories``, from
    training) so scoring encodes exactly as training did; unseen values become NaN."""
    columns: dict[str, pd.Series] = {}
    for feature in features:
        series = (
            frame[feature.name]
            if feature.name in frame.columns
            else pd.Series(np.nan, index=frame.index)
        )
        if feature.kind == "categorical":
            text = series.astype("string").fillna(MISSING_CATEGORY)
            known = (
                list(categories[feature.name])
                if categories and feature.name in categories
                else sorted(text.unique())
            )
            columns[feature.name] = pd.Categorical(text, categories=known)
        elif feature.kind == "boolean":
            columns[feature.name] = series.astype("float64")
        else:
            columns[feature.name] = pd.to_numeric(series, errors="coerce").astype("float64")
    return pd.DataFrame(columns, index=frame.index)


def categories_of(matrix: pd.DataFrame) -> dict[str, list[str]]:
    """The category lists of a training matrix (stored with the model)."""
    return {
        name: [str(c) for c in matrix[name].cat.categories]
        for name in matrix.columns
        if isinstance(matrix[name].dtype, pd.CategoricalDtype)
    }


def from_arrow(table: pa.Table) -> pd.DataFrame:
    """A gold table as pandas: decimals as floats, dates as ``datetime.date``."""
    frame = table.to_pandas(date_as_object=True)
    for field in table.schema:
        if pa.types.is_decimal(field.type):
            frame[field.name] = frame[field.name].astype("float64")
    return frame


# ---------------------------------------------------------------- a vendor snapshot


def snapshot_features(tables: Mapping[str, pa.Table], as_of: date) -> pd.DataFrame:
    """One row per customer with the churn features (same names as ``fct_churn_features``)
    and the label, from contract-shaped tables (``crm.customers``, ``crm.accounts``,
    ``crm.subscriptions``, ``crm.plans``, ``billing.invoices``, ``crm.customer_attributes``).

    This is for a one-off export such as a legacy vendor's (``cems ml evaluate``): the export
    is a snapshot taken at ``as_of``, and a customer who left did so at the snapshot. So the
    features describe every line that was live up to ``as_of`` (a line ending on ``as_of``
    counts: it is what the customer had when they left), and the label is "every line ended
    on or before ``as_of``", which is how the mapping records churn.
    """
    customers = tables["crm.customers"].to_pandas(date_as_object=True)
    subscriptions = tables["crm.subscriptions"].to_pandas(date_as_object=True)
    accounts = tables["crm.accounts"].to_pandas(date_as_object=True)
    frame = customers[["customer_id", "customer_type", "region", "urbanicity"]].copy()
    frame["as_of_date"] = as_of
    frame["tenure_days"] = [(as_of - d).days for d in customers["signup_date"]]

    subs = subscriptions[subscriptions["start_date"] <= as_of].copy()
    subs["monthly_price"] = subs["monthly_price"].astype("float64")
    live = subs["end_date"].isna() | (subs["end_date"] >= as_of)
    subs = subs[live]
    subs["days_to_end"] = [
        (d - as_of).days if d is not None and not pd.isna(d) else np.nan
        for d in subs["contract_end_date"]
    ]
    grouped = subs.groupby("customer_id")
    products = pd.DataFrame(
        {
            "active_subscription_count": grouped.size(),
            "has_mobile": grouped["product_type"].agg(lambda s: bool((s == "mobile").any())),
            "has_broadband": grouped["product_type"].agg(lambda s: bool((s == "broadband").any())),
            "has_tv": grouped["product_type"].agg(lambda s: bool((s == "tv").any())),
            "has_month_to_month_contract": grouped["contract_type"].agg(
                lambda s: bool((s == "month_to_month").any())
            ),
            "days_to_nearest_contract_end": grouped["days_to_end"].min(),
            "monthly_value": grouped["monthly_price"].sum(),
        }
    )
    broadband = subs[subs["product_type"] == "broadband"].drop_duplicates("customer_id")
    products["broadband_plan"] = broadband.set_index("customer_id")["plan_id"]
    frame = frame.merge(products, left_on="customer_id", right_index=True, how="left")
    frame["active_subscription_count"] = frame["active_subscription_count"].fillna(0)

    account = accounts.sort_values("account_id").drop_duplicates("customer_id")
    frame = frame.merge(
        account[["customer_id", "payment_method", "is_autopay", "is_paperless_billing"]],
        on="customer_id",
        how="left",
    )

    invoices = tables.get("billing.invoices")
    if invoices is not None and invoices.num_rows:
        bills = invoices.to_pandas(date_as_object=True)
        bills = bills[bills["issue_date"] <= as_of]
        bills["total_amount"] = bills["total_amount"].astype("float64")
        by_account = bills.groupby("account_id")["total_amount"].sum()
        owner = accounts.set_index("account_id")["customer_id"]
        billed = by_account.groupby(owner.reindex(by_account.index).to_numpy()).sum()
        frame["invoiced_amount_in_window"] = frame["customer_id"].map(billed).fillna(0.0)

    attributes = tables.get("crm.customer_attributes")
    if attributes is not None and attributes.num_rows:
        frame = frame.merge(attribute_columns(attributes), on="customer_id", how="left")

    all_subs = subscriptions[subscriptions["start_date"] <= as_of]
    ended = all_subs["end_date"].notna() & (all_subs["end_date"] <= as_of)
    churned = ended.groupby(all_subs["customer_id"]).all()
    frame[LABEL] = frame["customer_id"].map(churned).fillna(False).astype(bool)
    frame[LABEL_COMPLETE] = True
    return frame


def attribute_columns(attributes: pa.Table) -> pd.DataFrame:
    """``crm.customer_attributes`` rows pivoted to one ``attr_<name>`` column per attribute,
    typed by ``attribute_type`` (string, number, boolean). The legacy key is an identifier,
    not a feature, and is left out."""
    rows = attributes.to_pandas()
    rows = rows[rows["attribute_name"] != "legacy_customer_key"]
    out = pd.DataFrame({"customer_id": sorted(rows["customer_id"].unique())})
    for (name, kind), group in rows.groupby(["attribute_name", "attribute_type"], sort=True):
        if kind == "number":
            values = group["value_number"].astype("float64")
        elif kind == "boolean":
            values = group["value_boolean"].astype("boolean")
        else:
            values = group["value_string"].astype("string")
        series = pd.Series(values.to_numpy(), index=group["customer_id"].to_numpy())
        out[f"{ATTRIBUTE_PREFIX}{name}"] = out["customer_id"].map(series).astype(values.dtype)
    return out


# ---------------------------------------------------------------- reading gold

FEATURES_MART = "fct_churn_features"


def features_path(settings: Settings) -> str:
    """The gold Delta table dbt publishes ``fct_churn_features`` to."""
    return f"{settings.gold_root}/{FEATURES_MART}"


def read_features(
    settings: Settings, as_of: date | None = None, labelled_only: bool = False
) -> pd.DataFrame:
    """``fct_churn_features`` from gold: every row, the rows of one ``as_of`` date, or only
    rows whose label window is complete (training)."""
    import pyarrow.compute as pc
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        dataset = DeltaTable(features_path(settings)).to_pyarrow_dataset()
    except TableNotFoundError:
        raise FileNotFoundError(
            f"no {FEATURES_MART} at {features_path(settings)}; build the gold marts first "
            "(cems pipeline run, or the cems_nightly DAG)"
        ) from None
    condition = None
    if as_of is not None:
        condition = pc.field("as_of_date") == pa.scalar(as_of, pa.date32())
    if labelled_only:
        complete = pc.field(LABEL_COMPLETE) == pa.scalar(True)
        condition = complete if condition is None else condition & complete
    return from_arrow(dataset.to_table(filter=condition))


def as_of_dates(settings: Settings) -> list[date]:
    """The distinct ``as_of`` dates in ``fct_churn_features``, oldest first."""
    import pyarrow.compute as pc
    from deltalake import DeltaTable

    dataset = DeltaTable(features_path(settings)).to_pyarrow_dataset()
    column = dataset.to_table(columns=["as_of_date"]).column("as_of_date")
    return sorted(pc.unique(column).to_pylist())
