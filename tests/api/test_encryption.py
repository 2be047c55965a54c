"""Encryption at rest: personal columns never reach the database file in clear, lookups work
by blind index, keys rotate without losing a value, and the key provider is pluggable."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import deltalake
import pytest
import sqlalchemy as sa
from api_client import CUSTOMER_PASSWORD, Api
from fastapi.testclient import TestClient
from memory_kms import MemoryKms
from typer.testing import CliRunner

from api.auth.accounts import create_account
from api.cli.main import app as cli
from api.core.clock import FrozenClock
from api.core.permissions import Role
from api.crypto.keyring import DecryptionError, load_keyring, open_keyring
from api.crypto.models import DataKey
from api.crypto.providers import KeyProviderError, LocalFileKeyProvider
from api.crypto.rotation import encrypted_columns, rotate, status
from api.db.engine import sync_engine
from api.main import create_app
from api.serving.publish import publish
from data_contracts.settings import Settings, get_settings

CUSTOMER = "/tmf-api/customerManagement/v5/customer"
AGENT_STRING = "CEMS-test-handset/raw-check 7.1"
DISPLAY_NAME = "Zoraida Quillfeather"
CIPHERTEXT = re.compile(rb"e1:[A-Za-z0-9_.-]+:[A-Za-z0-9+/]+=*")  # keyring.py's format


def _subject(settings: Settings) -> dict[str, str]:
    """A consumer of the gold marts with an e-mail, a phone number and a two-word name."""
    rows = (
        deltalake.DeltaTable(f"{settings.gold_root}/dim_customers")
        .to_pyarrow_table(
            columns=["customer_id", "first_name", "last_name", "email", "phone_number"]
        )
        .to_pylist()
    )
    return next(
        r
        for r in sorted(rows, key=lambda r: r["customer_id"])
        if r["first_name"] and r["last_name"] and r["email"] and r["phone_number"]
    )


def _signed_in(settings: Settings, client: TestClient, customer_id: str) -> tuple[str, dict]:
    email = f"raw-check-{customer_id.lower()}@example.test"
    asyncio.run(
        create_account(
            settings,
            email=email,
            role=Role.CUSTOMER,
            password=CUSTOMER_PASSWORD,
            customer_id=customer_id,
            display_name=DISPLAY_NAME,
        )
    )
    response = client.post(
        "/auth/login",
        json={"email": email, "password": CUSTOMER_PASSWORD},
        headers={"User-Agent": AGENT_STRING},
    )
    assert response.status_code == 200, response.text
    return email, {"Authorization": "Bearer " + response.json()["session"]["token"]}


def _database_bytes(settings: Settings) -> bytes:
    path = Path(sa.make_url(settings.serving_database_url).database or "")
    files = sorted(path.parent.glob(path.name + "*"))  # the file, its WAL and shared memory
    assert path in files
    return b"".join(f.read_bytes() for f in files)


def _search(api: Api, headers: dict[str, str], **params: str) -> set[str]:
    response = api.client.get(CUSTOMER, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return {c["id"] for c in response.json()}


def test_personal_columns_are_unreadable_in_the_raw_database_file(fresh_settings):
    settings = fresh_settings
    publish(settings)
    subject = _subject(settings)
    clock = FrozenClock(datetime(2026, 11, 26, 9, 0, tzinfo=UTC))
    with TestClient(create_app(settings, clock), client=("10.77.0.1", 50000)) as client:
        api = Api(client, clock, settings)
        email, headers = _signed_in(settings, client, subject["customer_id"])
        own = client.get(f"{CUSTOMER}/{subject['customer_id']}", headers=headers)
        assert own.status_code == 200 and subject["email"] in own.text  # decrypted for reading
        session = client.get("/auth/session", headers=headers).json()
        assert session["email"] == email
        agent, secret = api.staff(Role.SUPPORT_AGENT)
        # Search goes by blind index: exact e-mail (any case), the phone's last nine digits
        # with or without country code, any word of the name.
        wanted = subject["customer_id"]
        assert wanted in _search(api, agent, email=subject["email"].upper())
        assert wanted in _search(api, agent, phone=subject["phone_number"][-9:])
        assert wanted in _search(api, agent, phone=subject["phone_number"])
        assert wanted in _search(api, agent, name=subject["last_name"].lower())
        assert wanted in _search(api, agent, name=f"{subject['first_name']} {subject['last_name']}")
        assert wanted not in _search(api, agent, name=subject["last_name"] + "zz")
    raw = _database_bytes(settings)
    assert subject["customer_id"].encode() in raw  # the check reads the real file
    assert b"e1:dek-1:" in raw  # and it holds encrypted values
    in_clear = {
        "customer e-mail": subject["email"],
        "phone number": subject["phone_number"],
        "given name": subject["first_name"],
        "family name": subject["last_name"],
        "sign-in e-mail": email,
        "account name": DISPLAY_NAME,
        "user agent": AGENT_STRING,
        "staff TOTP secret": secret,
    }
    # Drop the sealed values first: a megabyte of base64 holds a short name like "ella" by
    # chance about one run in five, and that is noise, not a value in clear.
    outside_ciphertext = CIPHERTEXT.sub(b"\0", raw)
    assert len(outside_ciphertext) < len(raw) - 100_000  # the pattern matched the values
    for what, value in in_clear.items():
        for variant in {value, value.lower(), value.upper()}:
            assert variant.encode() not in outside_ciphertext, (
                f"the {what} is readable in the database file"
            )


def test_a_rotation_keeps_every_value_readable(fresh_settings, monkeypatch):
    settings = fresh_settings
    publish(settings)
    subject = _subject(settings)
    clock = FrozenClock(datetime(2026, 11, 26, 9, 0, tzinfo=UTC))
    with TestClient(create_app(settings, clock), client=("10.77.0.2", 50000)) as client:
        email, headers = _signed_in(settings, client, subject["customer_id"])
        before = client.get(f"{CUSTOMER}/{subject['customer_id']}", headers=headers).json()
        first_kek = LocalFileKeyProvider.from_settings(settings).current_kek_id()

        result = rotate(settings, reencrypt=True)  # while the API keeps serving

        assert result.kek_id != first_kek and result.retired == ["dek-1"]
        assert result.reencrypted["serving_customers.payload"] > 0
        assert result.reencrypted["users.email"] == 1
        keys = {k["id"]: k for k in status(settings)["keys"]}
        assert {k["kek_id"] for k in keys.values()} == {result.kek_id}  # all rewrapped
        assert keys["dek-1"]["values"] == 0 and keys["dek-1"]["retired_at"]
        assert keys[result.data_key_id]["values"] > 0
        # The running API loads the new data key the first time it meets it.
        after = client.get(f"{CUSTOMER}/{subject['customer_id']}", headers=headers)
        assert after.status_code == 200 and after.json() == before
        assert client.get("/auth/session", headers=headers).json()["email"] == email
        again = client.post("/auth/login", json={"email": email, "password": CUSTOMER_PASSWORD})
        assert again.status_code == 200  # the blind index kept its key

    # From the command line, without re-encryption: old values stay under their key.
    monkeypatch.setenv("CEMS_HOME", str(settings.home))
    monkeypatch.setenv("CEMS_LAKEHOUSE_ROOT", settings.lakehouse_root)
    get_settings.cache_clear()
    try:
        rotated = CliRunner().invoke(cli, ["keys", "rotate"])
        assert rotated.exit_code == 0, rotated.output
        newest = json.loads(rotated.output)["data_key_id"]
        shown = CliRunner().invoke(cli, ["keys", "status"])
        assert shown.exit_code == 0, shown.output
        held = {k["id"]: k["values"] for k in json.loads(shown.output)["keys"]}
        assert held[newest] == 0 and held[result.data_key_id] > 0
    finally:
        get_settings.cache_clear()
    assert len(LocalFileKeyProvider.from_settings(settings).kek_ids()) == 3
    ring = open_keyring(settings)
    assert ring.current_key_id == newest
    engine = sync_engine(settings)
    with engine.connect() as conn:
        tokens = conn.execute(sa.text("SELECT payload FROM serving_customers")).scalars().all()
    engine.dispose()
    assert tokens and all(ring.decrypt(t, "serving_customers.payload") for t in tokens)


def test_without_the_key_file_the_database_does_not_open(fresh_settings, tmp_path):
    settings = fresh_settings
    publish(settings)
    Path(settings.key_file).rename(tmp_path / "elsewhere.json")
    with pytest.raises(KeyProviderError, match="restore the key file"):
        open_keyring(settings)


def test_tokens_are_bound_to_their_column_and_detect_tampering(fresh_settings):
    publish(fresh_settings)
    ring = open_keyring(fresh_settings)
    token = ring.encrypt("ana@example.test", "users.email")
    assert ring.decrypt(token, "users.email") == "ana@example.test"
    with pytest.raises(DecryptionError):
        ring.decrypt(token, "sessions.user_agent")  # moved to another column
    tampered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    with pytest.raises(DecryptionError):
        ring.decrypt(tampered, "users.email")
    with pytest.raises(DecryptionError, match="not encrypted"):
        ring.decrypt("ana@example.test", "users.email")
    assert ring.encrypt("same", "users.email") != ring.encrypt("same", "users.email")  # nonces
    assert ring.blind("email", " Ana@Example.TEST ") == ring.blind("email", "ana@example.test")
    assert ring.blind("email", "ana@example.test") != ring.blind("name", "ana@example.test")
    other = Settings(home=fresh_settings.home.parent / "other-home")
    publish(Settings(home=other.home, lakehouse_root=fresh_settings.lakehouse_root))
    assert open_keyring(other).blind("email", "ana@example.test") != ring.blind(
        "email", "ana@example.test"
    )


def test_every_personal_column_of_the_schema_is_encrypted():
    contexts = {c.context for c in encrypted_columns()}
    assert contexts == {
        "users.email",
        "users.display_name",
        "users.totp_secret",
        "sessions.source_address",
        "sessions.user_agent",
        "serving_customers.payload",
        "serving_billing_accounts.payload",
        "serving_billing_transactions.payload",
    }


def test_a_key_provider_is_plugged_in_by_name(fresh_settings):
    settings = Settings(
        home=fresh_settings.home,
        lakehouse_root=fresh_settings.lakehouse_root,
        key_provider="memory_kms:MemoryKms",
    )
    MemoryKms.calls.clear()
    publish(settings)
    assert "wrap" in MemoryKms.calls and "unwrap" in MemoryKms.calls
    assert not Path(settings.key_file).exists()  # the local file provider was never used
    engine = sync_engine(settings)
    with engine.connect() as conn:
        keys = conn.execute(sa.select(DataKey.kek_id)).scalars().all()
        ring = load_keyring(settings, conn)
        payload = conn.execute(sa.text("SELECT payload FROM serving_customers LIMIT 1")).scalar()
    engine.dispose()
    assert keys and all(k.startswith("kms-") for k in keys)
    assert json.loads(ring.decrypt(payload, "serving_customers.payload"))["customer_id"]
    wrong = Settings(home=fresh_settings.home, key_provider="no_such_module:Kms")
    with pytest.raises(KeyProviderError, match="cannot load the key provider"):
        open_keyring(wrong)
