"""Next best action for every customer at risk (risk band high or medium).

The candidates follow the customer's reasons that an action can address: a bad home
cell gets a network-fix ticket, unresolved tickets a priority call-back, failed payments a
payment plan, an ending or absent commitment a loyalty contract offer, a price rise or
little use a move to a better-fitting plan, a new customer an onboarding call; the general
loyalty offer is always a candidate. The candidate with the highest expected value wins; if
none is worth its cost the action is ``monitor`` (no outreach), so a campaign never spends
more than it expects to keep.

Expected value = churn probability x annual value x save rate - cost of the action. The
save rates and costs below are planning assumptions for the retention team to replace
with their own campaign results (they are the only numbers here nobody measured).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from data_contracts.gold import RETENTION_ACTIONS
from ml.predict import Reasons

AT_RISK_BANDS = ("high", "medium")


@dataclass(frozen=True)
class Action:
    code: str
    text: str
    rationale: str
    save_rate: float  # share of at-risk customers the action keeps (assumption)
    cost: float  # one-off cost in the account's currency (assumption)


ACTIONS: dict[str, Action] = {
    "network_fix": Action(
        "network_fix",
        "Open a network-fix ticket for the customer's home cell and tell them when it is fixed",
        "the network at home is what drives the risk",
        0.35,
        5.0,
    ),
    "priority_callback": Action(
        "priority_callback",
        "Call back with a senior agent to close the open tickets",
        "unresolved support problems drive the risk",
        0.30,
        6.0,
    ),
    "payment_plan": Action(
        "payment_plan",
        "Offer a payment plan and automatic payment",
        "payment trouble drives the risk",
        0.25,
        3.0,
    ),
    "loyalty_contract": Action(
        "loyalty_contract",
        "Offer a 12-month loyalty contract with a discount",
        "the customer has no commitment or it ends soon",
        0.30,
        30.0,
    ),
    "plan_fit": Action(
        "plan_fit",
        "Move the customer to a better-fitting plan",
        "the price paid does not fit how the service is used",
        0.25,
        10.0,
    ),
    "onboarding_call": Action(
        "onboarding_call",
        "Make a welcome call to check the set-up and explain the plan",
        "new customers leave before they settle in",
        0.20,
        4.0,
    ),
    "retention_desk": Action(
        "retention_desk",
        "Route the customer to the retention desk",
        "the customer is already looking at leaving",
        0.35,
        12.0,
    ),
    "bundle_offer": Action(
        "bundle_offer",
        "Offer a discounted bundle (add broadband or TV)",
        "customers with one product leave more often",
        0.15,
        20.0,
    ),
    "monitor": Action(
        "monitor",
        "No outreach now; keep watching the score",
        "every action would cost more than it is expected to save",
        0.0,
        0.0,
    ),
    "loyalty_offer": Action(
        "loyalty_offer",
        "Send a loyalty thank-you offer",
        "no single cause stands out",
        0.10,
        8.0,
    ),
}
# Which action answers a reason's feature family; families not listed pass to the next reason.
ACTION_BY_FAMILY = {
    "network": "network_fix",
    "support": "priority_callback",
    "payment": "payment_plan",
    "contract": "loyalty_contract",
    "price": "plan_fit",
    "usage": "plan_fit",
    "tenure": "onboarding_call",
    "intent": "retention_desk",
    "products": "bundle_offer",
}


def recommend(scored: pd.DataFrame, reasons: Reasons, model_version: str) -> pa.Table:
    """``retention_actions`` rows for the at-risk customers of ``scored``.

    ``scored`` has customer_id, as_of_date, churn_probability, risk_band and monthly_value
    (one row per customer, aligned with ``reasons``).
    """
    at_risk = np.flatnonzero(scored["risk_band"].isin(AT_RISK_BANDS).to_numpy())
    monthly = pd.to_numeric(scored["monthly_value"], errors="coerce").fillna(0.0).to_numpy()
    rows: dict[str, list[object]] = {name: [] for name in RETENTION_ACTIONS.names}
    for i in at_risk:
        probability = float(scored["churn_probability"].iat[i])
        annual = float(monthly[i]) * 12.0
        # The actions the customer's reasons point at (strongest reason first), then the
        # general loyalty offer; the one worth most wins, and none if none is worth its cost.
        candidates: list[tuple[str, str | None]] = []
        for slot in range(reasons.families.shape[1]):
            code = ACTION_BY_FAMILY.get(reasons.families[i, slot])
            if code and code not in [c for c, _ in candidates]:
                candidates.append((code, reasons.text[i, slot]))
        candidates.append(("loyalty_offer", None))
        values = [expected_value(ACTIONS[c], probability, annual) for c, _ in candidates]
        best = int(np.argmax(values))
        code, reason_text = candidates[best]
        expected = values[best]
        if expected <= 0:
            code, expected = "monitor", 0.0
            reason_text = next((t for _, t in candidates if t), None)
        action = ACTIONS[code]
        because = f"{reason_text}: {action.rationale}" if reason_text else action.rationale
        tail = (
            f"the action keeps about {action.save_rate:.0%} of such customers for "
            f"{action.cost:,.2f}"
            if code != "monitor"
            else "no action pays for itself at this risk"
        )
        reasoning = (
            f"{because[0].upper()}{because[1:]}. Churn risk {probability:.0%}, "
            f"{annual:,.2f} a year at stake; {tail}."
        )
        rows["customer_id"].append(str(scored["customer_id"].iat[i]))
        rows["as_of_date"].append(scored["as_of_date"].iat[i])
        rows["action_code"].append(code)
        rows["action"].append(action.text)
        rows["reasoning"].append(reasoning)
        rows["churn_probability"].append(probability)
        rows["risk_band"].append(str(scored["risk_band"].iat[i]))
        rows["annual_value"].append(annual)
        rows["expected_value"].append(round(expected, 2))
        rows["model_version"].append(model_version)
    return pa.Table.from_pydict(rows, schema=RETENTION_ACTIONS)


def expected_value(action: Action, probability: float, annual_value: float) -> float:
    """Revenue the action is expected to keep, less what it costs."""
    return probability * annual_value * action.save_rate - action.cost
