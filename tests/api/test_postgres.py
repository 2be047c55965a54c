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
