"""The gate in front of the API's connection pool: first come, first served, bounded wait."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from api.db.engine import ConnectionGate, GateTimeoutError, connection_gate
from data_contracts.settings import Settings


async def _request(gate: ConnectionGate, name: str, order: list[str], hold: float) -> None:
    async with gate.enter():
        order.append(name)
        await asyncio.sleep(hold)


def test_requests_get_connections_in_arrival_order_and_newcomers_queue_behind() -> None:
    async def scenario() -> list[str]:
        gate = ConnectionGate(2)
        order: list[str] = []
        first = [asyncio.create_task(_request(gate, f"held{i}", order, 0.05)) for i in range(2)]
        await asyncio.sleep(0.01)  # both permits taken
        waiting = [asyncio.create_task(_request(gate, f"w{i}", order, 0.01)) for i in range(5)]
        await asyncio.sleep(0.01)
        await asyncio.gather(*first)
        # A permit has just come back; a request arriving now must not overtake the line.
        late = asyncio.create_task(_request(gate, "newcomer", order, 0.0))
        await asyncio.gather(*waiting, late)
        return order

    order = asyncio.run(scenario())
    assert order == ["held0", "held1", "w0", "w1", "w2", "w3", "w4", "newcomer"]


def test_a_request_that_waits_past_the_timeout_is_refused_as_busy_and_frees_its_place() -> None:
    async def scenario() -> tuple[BaseException | None, list[str]]:
        gate = ConnectionGate(1, timeout=0.05)
        order: list[str] = []
        holder = asyncio.create_task(_request(gate, "holder", order, 0.2))
        await asyncio.sleep(0.01)
        error: BaseException | None = None
        try:
            await _request(gate, "impatient", order, 0.0)
        except GateTimeoutError as exc:
            error = exc
        await holder
        await _request(gate, "after", order, 0.0)  # the gave-up waiter took no permit with it
        return error, order

    error, order = asyncio.run(scenario())
    assert isinstance(error, PoolTimeoutError)  # answered 503 busy by the pool-timeout handler
    assert "0.05 s" in str(error)
    assert order == ["holder", "after"]


def test_the_gate_has_one_permit_per_pooled_postgresql_connection_and_none_on_sqlite() -> None:
    pg = Settings(
        serving_database_url="postgresql+psycopg://cems@localhost/cems",
        database_pool_size=7,
        database_max_overflow=3,
    )
    assert connection_gate(pg).permits == 10
    assert connection_gate(Settings(serving_database_url="sqlite:///x.db")).permits is None


@pytest.mark.parametrize("permits", [None, 0])
def test_an_unbounded_gate_lets_every_request_through_at_once(permits: int | None) -> None:
    async def scenario() -> list[str]:
        gate = ConnectionGate(permits, timeout=0.01)
        order: list[str] = []
        await asyncio.gather(*(_request(gate, f"r{i}", order, 0.02) for i in range(50)))
        return order

    assert len(asyncio.run(scenario())) == 50
