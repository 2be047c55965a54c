"""Publishing gold marts to the serving store, and reading them back through the API."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import deltalake
import pyarrow as pa
import pytest
import sqlalchemy as sa
from api_client import Api
from fastapi.testclient import TestClient

from api.core.clock import FrozenClock
from api.core.observability import JsonFormatter
from api.core.permissions import Role
from api.db.engine import sync_engine
from api.db.prepared import Prepared
from api.main import create_app
from api.schemas.customers import CUSTOMER_PATH
from api.serving import read
from api.serving.models import Publication, ServingCustomer
from api.serving.publish import PublishError, current_publication, gold_batches, publish
from data_contracts.settings import Settings


def _gold(settings: Settings, mart: str) -> pa.Table:
    return deltalake.DeltaTable(f"{settings.gold_root}/{mart}").to_pyarrow_table()


def test_publish_loads_every_mart_and_switches_versions(fresh_settings: Settings):
    first = publish(fresh_settings)
    dim = _gold(fresh_settings, "dim_customers")
    assert first.version == 1
    assert first.row_counts["dim_customers"] == dim.num_rows
    assert (
        first.row_counts["dim_billing_accounts"]
        == _gold(fresh_settings, "dim_billing_accounts").num_rows
    )
    assert first.row_counts["fct_billing_transactions"] > 0
    usage = _gold(fresh_settings, "fct_usage_daily")
    latest = max(usage.column("usage_date").to_pylist())
    recent = [d for d in usage.column("usage_date").to_pylist() if (latest - d).days < 35]
    assert first.row_counts["fct_usage_daily"] == len(recent)
    assert first.as_of_date == dim.column("as_of_date")[0].as_py()

    second = publish(fresh_settings)
    third = publish(fresh_settings)
    assert (second.version, third.version) == (2, 3)
    assert third.retired_versions == [1]  # the version before the previous one is pruned
    engine = sync_engine(fresh_settings)
    with engine.connect() as conn:
        assert current_publication(conn)["version"] == 3
        versions = conn.execute(sa.select(ServingCustomer.version).distinct()).scalars().all()
    engine.dispose()
    assert sorted(versions) == [2, 3]


def test_a_publish_that_fails_half_way_leaves_the_previous_version_serving(
    fresh_settings: Settings,
):
    good = publish(fresh_settings)
    loaded: list[str] = []

    def failing_read(settings: Settings, mart: str):
        loaded.append(mart)
        if mart == "fct_usage_daily":
            raise OSError("object store connection reset")
        return gold_batches(settings, mart)

    with pytest.raises(PublishError, match="object store connection reset"):
        publish(fresh_settings, read=failing_read)
    assert "dim_customers" in loaded  # it really failed half-way
    engine = sync_engine(fresh_settings)
    with engine.connect() as conn:
        assert current_publication(conn)["version"] == good.version
        failed = (
            conn.execute(sa.select(Publication).where(Publication.status == "failed"))
            .mappings()
            .one()
        )
        leftovers = conn.execute(
            sa.select(sa.func.count()).where(ServingCustomer.version == failed["version"])
        ).scalar()
    engine.dispose()
    assert leftovers == 0
    assert "object store" in failed["error"]


def test_customer_360_shows_the_gold_row_with_churn_risk_and_action(api: Api, gold_settings):
    dim = {r["customer_id"]: r for r in _gold(gold_settings, "dim_customers").to_pylist()}
    at_risk = next(c for c, r in sorted(dim.items()) if r["churn_risk_band"] == "high")
    headers, _ = api.staff(Role.SUPPORT_AGENT)
    response = api.client.get(f"/api/v1/customers/{at_risk}/360", headers=headers)
    assert response.status_code == 200
    body = response.json()
    row = dim[at_risk]
    assert body["customer"]["id"] == at_risk
    assert body["as_of"] == row["as_of_date"].isoformat()
    assert body["churn"]["probability"] == pytest.approx(row["churn_probability"])
    assert body["churn"]["risk_band"] == "high"
    assert body["churn"]["reasons"][0] == row["churn_reason_1"]
    assert body["next_best_action"]["code"] == row["next_best_action_code"]
    assert body["products"]["active_subscription_count"] == row["active_subscription_count"]
    assert body["billing"]["latest_invoice_id"] == row["latest_invoice_id"]


def test_bills_and_transactions_come_newest_first_with_paging(api: Api, gold_settings):
    tx = _gold(gold_settings, "fct_billing_transactions").to_pylist()
    counts: dict[str, int] = {}
    for r in tx:
        counts[r["customer_id"]] = counts.get(r["customer_id"], 0) + 1
    customer = max(sorted(counts), key=lambda c: counts[c])
    headers = api.customer(customer)
    page = api.client.get(f"/api/v1/customers/{customer}/transactions?limit=2", headers=headers)
    assert page.status_code == 200
    assert page.headers["X-Total-Count"] == str(counts[customer])
    assert page.headers["X-Result-Count"] == "2"
    assert page.headers["X-As-Of"] == str(_gold(gold_settings, "dim_customers")["as_of_date"][0])
    items = page.json()
    assert items[0]["occurred_at"] >= items[1]["occurred_at"]
    url = f"/api/v1/customers/{customer}/transactions"
    # Pages follow one another; a page past the end is empty and still carries the total.
    four = api.client.get(f"{url}?limit=4", headers=headers).json()
    second = api.client.get(f"{url}?limit=2&offset=2", headers=headers)
    assert second.headers["X-Total-Count"] == str(counts[customer])
    assert [t["transaction_id"] for t in items + second.json()] == [
        t["transaction_id"] for t in four
    ]
    past = api.client.get(f"{url}?offset=1000", headers=headers)
    assert past.status_code == 200 and past.json() == []
    assert past.headers["X-Total-Count"] == str(counts[customer])
    assert past.headers["X-As-Of"] == page.headers["X-As-Of"]
    payments = [
        r for r in tx if r["customer_id"] == customer and r["transaction_type"] == "payment"
    ]
    typed = api.client.get(f"{url}?transaction_type=payment&limit=1", headers=headers)
    assert typed.headers["X-Total-Count"] == str(len(payments))
    assert {t["transaction_type"] for t in typed.json()} <= {"payment"}
    bills = api.client.get(
        "/tmf-api/customerBillManagement/v5/customerBill", headers=headers
    ).json()
    invoices = [
        r for r in tx if r["customer_id"] == customer and r["transaction_type"] == "invoice"
    ]
    assert {b["id"] for b in bills} == {r["invoice_id"] for r in invoices}
    account = invoices[0]["account_id"]
    on_account = api.client.get(
        f"/tmf-api/customerBillManagement/v5/customerBill?billing_account_id={account}&limit=1",
        headers=headers,
    )
    assert on_account.headers["X-Total-Count"] == str(
        sum(1 for r in invoices if r["account_id"] == account)
    )
    assert [b["billing_account_id"] for b in on_account.json()] == [account]
    one = api.client.get(bills[0]["href"], headers=headers)
    assert one.status_code == 200 and one.json()["@type"] == "CustomerBill"
    accounts = api.client.get("/tmf-api/accountManagement/v5/billingAccount", headers=headers)
    assert accounts.status_code == 200
    assert {a["customer_id"] for a in accounts.json()} == {customer}


def test_etag_answers_not_modified(api: Api, customer_ids):
    headers = api.customer(customer_ids[3])
    url = f"/tmf-api/customerManagement/v5/customer/{customer_ids[3]}"
    first = api.client.get(url, headers=headers)
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "private, no-cache"
    again = api.client.get(url, headers={**headers, "If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    other = api.client.get(url, headers={**headers, "If-None-Match": '"something-else"'})
    assert other.status_code == 200


def test_errors_are_problem_documents(api: Api, customer_ids):
    headers, _ = api.staff(Role.SUPPORT_AGENT)
    missing = api.client.get("/tmf-api/customerManagement/v5/customer/NOPE", headers=headers)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    body = missing.json()
    assert body["type"].endswith("/not-found") and body["status"] == 404
    assert body["instance"].endswith("/NOPE") and body["request_id"]
    invalid = api.client.get("/tmf-api/customerManagement/v5/customer?limit=1000", headers=headers)
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0]["location"] == "query.limit"
    nowhere = api.client.get("/no/such/route")
    assert nowhere.status_code == 404 and nowhere.json()["type"].endswith("/not-found")


def test_health_ready_metrics_and_request_ids(api: Api):
    assert api.client.get("/health").json() == {"status": "ok"}
    ready = api.client.get("/ready").json()
    assert ready["status"] == "ready" and ready["serving_version"] >= 1
    records: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(JsonFormatter().format(record))

    handler = Capture()
    logging.getLogger("cems.api.access").addHandler(handler)
    try:
        response = api.client.get("/health", headers={"X-Request-ID": "req-abc-123"})
    finally:
        logging.getLogger("cems.api.access").removeHandler(handler)
    assert response.headers["x-request-id"] == "req-abc-123"
    line = json.loads(records[-1])
    assert line["request_id"] == "req-abc-123" and line["route"] == "/health"
    assert line["status"] == 200
    metrics = api.client.get("/metrics").text
    assert 'cems_http_requests_total{method="GET",route="/health",status="200"}' in metrics
    assert "cems_http_request_duration_seconds_bucket" in metrics


def test_ready_is_not_ready_before_the_first_publish(tmp_path):
    from fastapi.testclient import TestClient

    from api.main import create_app

    with TestClient(create_app(Settings(home=tmp_path))) as client:
        response = client.get("/ready")
    assert response.status_code == 503
    assert response.json()["type"].endswith("/not-ready")


def test_an_exhausted_connection_pool_sheds_the_request_with_a_retryable_503(
    api: Api, customer_ids, monkeypatch
):
    headers = api.customer(customer_ids[0])

    async def pool_exhausted(*_args, **_kwargs):
        raise sa.exc.TimeoutError("QueuePool limit of size 30 overflow 0 reached")

    monkeypatch.setattr("api.deps.sessions.resolve", pool_exhausted)
    shed = api.client.get("/api/v1/me", headers={**headers, "Accept-Language": "es"})
    assert shed.status_code == 503 and shed.headers["retry-after"] == "5"
    assert shed.json()["type"].endswith("/busy") and "ocupado" in shed.json()["detail"]


def test_customer_pages_read_the_session_and_the_customer_in_one_round_trip(
    api: Api, customer_ids, monkeypatch
):
    customer, other = customer_ids[0], customer_ids[1]
    agent, _ = api.staff(Role.SUPPORT_AGENT)
    own = api.customer(customer)
    sent: list[Prepared] = []
    send = Prepared._send

    async def counted(self: Prepared, db: Any, params: Any, *, one: bool) -> Any:
        sent.append(self)
        return await send(self, db, params, one=one)

    monkeypatch.setattr(Prepared, "_send", counted)
    pages = [
        (f"/api/v1/customers/{customer}/360", agent),
        (f"{CUSTOMER_PATH}/{customer}", agent),
        ("/api/v1/me", own),
    ]
    for url, headers in pages:
        for _ in range(2):  # the second after the session's last_seen_at is due a touch
            sent.clear()
            response = api.client.get(url, headers=headers)
            assert response.status_code == 200, response.text
            body = response.json()
            assert body.get("customer", body)["id"] == customer
            assert sent == [read.SESSION_AND_CUSTOMER], url
            api.clock.advance(timedelta(seconds=31))
    # A customer's row read with the session is never shown where the checks say no: the
    # agents' view of their own account, another customer's profile.
    assert api.client.get(f"/api/v1/customers/{customer}/360", headers=own).status_code == 403
    foreign = api.client.get(f"{CUSTOMER_PATH}/{other}", headers=own)
    assert foreign.status_code == 404 and "email" not in foreign.text
    # A list route checks the session alone.
    sent.clear()
    assert api.client.get(f"/api/v1/customers/{customer}/transactions", headers=own).is_success
    assert sent[0] is not read.SESSION_AND_CUSTOMER


def test_customer_pages_before_the_first_publish_answer_not_ready_after_the_checks(
    fresh_settings: Settings,
):
    clock = FrozenClock(datetime(2026, 11, 26, 9, 0, tzinfo=UTC))
    with TestClient(create_app(fresh_settings, clock)) as client:
        api = Api(client, clock, fresh_settings)
        agent, _ = api.staff(Role.SUPPORT_AGENT)
        own = api.customer("C00000001")
        for url, headers in [
            ("/api/v1/customers/C00000001/360", agent),
            (f"{CUSTOMER_PATH}/C00000001", agent),
            ("/api/v1/me", own),
            (f"{CUSTOMER_PATH}/C00000001", own),
        ]:
            response = client.get(url, headers=headers)
            assert response.status_code == 503, url
            assert response.json()["type"].endswith("/not-ready")
        # The checks still come first: not "not ready" but not found, not allowed, signed out.
        assert client.get(f"{CUSTOMER_PATH}/C00000002", headers=own).status_code == 404
        assert client.get("/api/v1/customers/C00000001/360", headers=own).status_code == 403
        assert client.get("/api/v1/customers/C00000001/360").status_code == 401
