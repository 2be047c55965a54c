"""Encryption in transit to PostgreSQL: sslmode and the CA come from settings alone.

``.ci/run`` starts its PostgreSQL with TLS (a throwaway CA signs the server certificate) and a
role ``cems_tls_only`` that pg_hba admits over TLS only; ``CEMS_TEST_POSTGRES_CA`` names the CA.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from api.db.engine import async_engine, sync_engine
from data_contracts.settings import Settings

PROBE = "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"


@pytest.fixture
def postgres_tls() -> tuple[str, str]:
    url, ca = os.environ.get("CEMS_TEST_POSTGRES_URL"), os.environ.get("CEMS_TEST_POSTGRES_CA")
    if not (url and ca):
        if os.environ.get("CI"):
            pytest.fail("CI must provide CEMS_TEST_POSTGRES_URL and _CA (.ci/run starts both)")
        pytest.skip("CEMS_TEST_POSTGRES_URL/_CA are not set; .ci/run provides a TLS PostgreSQL")
    return url, ca


def _settings(tmp_path: Path, url: str, **tls: str) -> Settings:
    return Settings(home=tmp_path / "home", serving_database_url=url, **tls)


def _probe(settings: Settings) -> tuple[bool, str]:
    engine = sync_engine(settings)
    try:
        with engine.connect() as conn:
            ssl, version = conn.execute(sa.text(PROBE)).one()
    finally:
        engine.dispose()
    return bool(ssl), str(version)


def test_the_api_and_the_jobs_reach_postgresql_over_verified_tls(postgres_tls, tmp_path):
    url, ca = postgres_tls
    settings = _settings(tmp_path, url, database_sslmode="verify-full", database_sslrootcert=ca)
    ssl, version = _probe(settings)  # the sync engine: CLI, publish, migrations
    assert ssl and version.startswith("TLSv1.")

    async def probe_async() -> tuple[bool, str]:
        engine = async_engine(settings)  # what the API serves from
        try:
            async with engine.connect() as conn:
                row = (await conn.execute(sa.text(PROBE))).one()
        finally:
            await engine.dispose()
        return bool(row[0]), str(row[1])

    assert asyncio.run(probe_async())[0]
    plain, _ = _probe(_settings(tmp_path, url, database_sslmode="disable"))
    assert not plain  # the probe tells the two apart


def test_a_server_certificate_from_another_ca_is_refused(postgres_tls, tmp_path):
    url, _ = postgres_tls
    other = tmp_path / "other-ca.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=Not the operator's CA", "-keyout", str(tmp_path / "other-ca.key"),
         "-out", str(other)],
        check=True, capture_output=True,
    )  # fmt: skip
    settings = _settings(
        tmp_path, url, database_sslmode="verify-full", database_sslrootcert=str(other)
    )
    with pytest.raises(OperationalError, match="certificate verify failed"):
        _probe(settings)


def test_a_role_admitted_over_tls_only_is_refused_in_clear(postgres_tls, tmp_path):
    url, ca = postgres_tls
    tls_only = sa.make_url(url).set(username="cems_tls_only").render_as_string(hide_password=False)
    with pytest.raises(OperationalError, match="no encryption"):
        _probe(_settings(tmp_path, tls_only, database_sslmode="disable"))
    ssl, _ = _probe(
        _settings(tmp_path, tls_only, database_sslmode="verify-full", database_sslrootcert=ca)
    )
    assert ssl
