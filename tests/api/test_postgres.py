"""The same service on PostgreSQL: migrations, publish, sign-in, reads, audit chain."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from api_client import Api, serial
from fastapi.testclient import TestClient

from api.audit.keys import load_key
from api.audit.verify import verify
from api.core.clock import FrozenClock
from api.core.permissions import Role
from api.db.engine import sync_engine
from api.db.migrate import current_revision, head_revision
from api.main import create_app
from api.serving.publish import PublishError, current_publication, gold_batches, publish
from data_contracts.settings import Settings

pytestmark = pytest.mark.postgres


def test_the_api_serves_from_postgresql(postgres_schema, gold_settings, tmp_path, customer_ids):
    url, _admin, _schema = postgres_schema
    settings = Settings(
        home=tmp_path / "home",
        lakehouse_root=gold_settings.lakehouse_root,
        serving_database_url=url,
    )
    first = publish(settings)
    assert current_revision(settings) == head_revision()

    def failing(s: Settings, mart: str):
        if mart == "agg_usage_patterns":
            raise OSError("disk full")
        return gold_batches(s, mart)

    with pytest.raises(PublishError):
        publish(settings, read=failing)
    engine = sync_engine(settings)
    with engine.connect() as conn:
        assert current_publication(conn)["version"] == first.version
        assert conn.execute(sa.text("select current_schema()")).scalar() == _schema
    engine.dispose()

    clock = FrozenClock(datetime(2026, 11, 26, 9, 0, tzinfo=UTC))
    n = next(serial)
    with TestClient(create_app(settings, clock), client=(f"172.16.0.{n % 250}", 1)) as client:
        api = Api(client, clock, settings)
        customer = api.customer(customer_ids[0])
        me = client.get("/api/v1/me", headers=customer)
        assert me.status_code == 200 and me.json()["id"] == customer_ids[0]
        foreign = client.get(
            f"/tmf-api/customerManagement/v5/customer/{customer_ids[1]}", headers=customer
        )
        assert foreign.status_code == 404
        agent, _ = api.staff(Role.SUPPORT_AGENT)
        view = client.get(f"/api/v1/customers/{customer_ids[1]}/360", headers=agent)
        assert view.status_code == 200 and view.json()["customer"]["id"] == customer_ids[1]
        bills = client.get("/tmf-api/customerBillManagement/v5/customerBill", headers=customer)
        assert bills.status_code == 200
    assert verify(settings, load_key(settings)).ok

    # The database refuses to rewrite or drop young audit entries.
    engine = sync_engine(settings)
    for statement in ("update audit_entries set outcome = 'success'", "delete from audit_entries"):
        with (
            pytest.raises(sa.exc.DBAPIError, match=r"append-only|younger than five years"),
            engine.begin() as conn,
        ):
            conn.execute(sa.text(statement))
    engine.dispose()


def test_connections_lost_to_a_database_restart_cost_only_the_requests_in_flight(
    postgres_schema, tmp_path
):
    """No ping per checkout: a dead connection answers 503 once, then the pool reconnects."""
    url, admin, schema = postgres_schema
    name = f"cems-{schema}"  # this app's connections, not the other tests' (pytest -n)
    settings = Settings(
        home=tmp_path / "home", serving_database_url=f"{url}&application_name={name}"
    )
    clock = FrozenClock(datetime(2026, 11, 26, 9, 0, tzinfo=UTC))
    with TestClient(create_app(settings, clock), client=("172.16.1.1", 1)) as client:
        api = Api(client, clock, settings)
        customer = {**api.customer("C00000001"), "Accept-Language": "fr"}
        assert client.get("/auth/session", headers=customer).status_code == 200
        with admin.begin() as conn:  # what a restart or failover does to open connections
            ended = conn.execute(
                sa.text(
                    "select count(pg_terminate_backend(pid)) from pg_stat_activity "
                    "where application_name = :name"
                ),
                {"name": name},
            ).scalar()
        assert ended >= 1
        lost = client.get("/auth/session", headers=customer)
        assert lost.status_code == 503 and lost.headers["retry-after"] == "1"
        assert lost.json()["type"].endswith("/database-unavailable")
        assert "base de données" in lost.json()["detail"]
        again = client.get("/auth/session", headers=customer)
        assert again.status_code == 200 and again.json()["customer_id"] == "C00000001"
        # The audit writer's own connection died too: its append reconnects, the chain holds.
        assert client.post("/auth/logout", headers=customer).status_code == 204
    report = verify(settings, load_key(settings))
    assert report.ok
    engine = sync_engine(settings)
    with engine.connect() as conn:
        actions = conn.execute(sa.text("select action from audit_entries order by id")).scalars()
        assert list(actions)[-1] == "auth.logout"
    engine.dispose()
