"""Key rotation: a new key-encryption key, every data key rewrapped, a new data key.

``rotate`` runs in one database transaction after the provider has made its new KEK (the
old KEKs stay in the provider, so a crash in between leaves everything readable). With
``reencrypt`` every encrypted column is rewritten under the new data key and the old data
keys are retired; without it, old rows stay under their (rewrapped) keys and new writes use
the new one. Blind indexes keep their key: rotating it would re-index every row and change
nothing an attacker holding the database could learn.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

import api.db.models  # noqa: F401  (registers every table, so every encrypted column is found)
from api.crypto.keyring import Keyring
from api.crypto.models import DataKey
from api.crypto.providers import KEY_BYTES, load_provider
from api.crypto.types import EncryptedText
from api.db.base import Base
from api.db.engine import sync_engine
from api.db.migrate import ensure_schema
from data_contracts.settings import Settings

_KEYS: sa.Table = DataKey.__table__  # type: ignore[assignment]
BATCH = 1_000


@dataclass(frozen=True)
class EncryptedColumn:
    table: sa.Table
    column: str
    context: str


def encrypted_columns() -> list[EncryptedColumn]:
    """Every ``EncryptedText`` column of the operational schema."""
    found = []
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, EncryptedText):
                found.append(EncryptedColumn(table, column.name, column.type.context))
    return found


@dataclass
class RotationResult:
    kek_id: str
    data_key_id: str
    rewrapped: int
    reencrypted: dict[str, int] = field(default_factory=dict)
    retired: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kek_id": self.kek_id,
            "data_key_id": self.data_key_id,
            "data_keys_rewrapped": self.rewrapped,
            "values_reencrypted": self.reencrypted,
            "data_keys_retired": self.retired,
        }


def rotate(settings: Settings, *, reencrypt: bool = False) -> RotationResult:
    """Rotate the KEK and the data key (and, with ``reencrypt``, every encrypted value)."""
    ensure_schema(settings)
    provider = load_provider(settings)
    engine = sync_engine(settings)
    try:
        with engine.begin() as conn:
            ring = Keyring(provider, settings).load(conn)  # creates the first keys if none
            kek_id = provider.rotate()
            keys = conn.execute(sa.select(_KEYS)).all()
            for key in keys:
                new_kek, wrapped = provider.wrap(provider.unwrap(key.kek_id, key.wrapped))
                conn.execute(
                    _KEYS.update()
                    .where(_KEYS.c.id == key.id)
                    .values(kek_id=new_kek, wrapped=wrapped)
                )
            data_key_id = _new_data_key(conn, provider, len(keys))
            ring.load(conn)
            result = RotationResult(kek_id, data_key_id, len(keys))
            if reencrypt:
                for target in encrypted_columns():
                    result.reencrypted[target.context] = _reencrypt(conn, ring, target)
                now = datetime.now(UTC)
                stale: Iterable[str] = conn.execute(
                    sa.select(_KEYS.c.id).where(
                        _KEYS.c.purpose == "data",
                        _KEYS.c.id != data_key_id,
                        _KEYS.c.retired_at.is_(None),
                    )
                ).scalars()
                result.retired = sorted(stale)
                conn.execute(
                    _KEYS.update().where(_KEYS.c.id.in_(result.retired)).values(retired_at=now)
                )
        return result
    finally:
        engine.dispose()


def _new_data_key(conn: sa.Connection, provider: Any, existing: int) -> str:
    key_id = f"dek-{existing + 1}-{secrets.token_hex(3)}"
    kek_id, wrapped = provider.wrap(secrets.token_bytes(KEY_BYTES))
    conn.execute(
        _KEYS.insert().values(
            id=key_id, purpose="data", kek_id=kek_id, wrapped=wrapped, created_at=datetime.now(UTC)
        )
    )
    return key_id


def _raw_values(conn: sa.Connection, target: EncryptedColumn) -> Iterator[list[Any]]:
    table, keys = target.table, list(target.table.primary_key.columns)
    raw = sa.type_coerce(table.c[target.column], sa.Text()).label("token")
    query = sa.select(*keys, raw).where(table.c[target.column].is_not(None)).order_by(*keys)
    result = conn.execute(query)
    while batch := result.fetchmany(BATCH):
        yield list(batch)


def _reencrypt(conn: sa.Connection, ring: Keyring, target: EncryptedColumn) -> int:
    table, keys = target.table, list(target.table.primary_key.columns)
    statement = (
        table.update()
        .where(*(key == sa.bindparam(f"k_{key.name}") for key in keys))
        .values({target.column: sa.bindparam("token_value", type_=sa.Text())})
    )
    current = ring.current_key_id
    changed = 0
    pending: list[dict[str, Any]] = []
    for batch in list(_raw_values(conn, target)):  # read all first: updates move the cursor
        for row in batch:
            token = row[-1]
            if ring.key_id_of(token) == current:
                continue
            plain = ring.decrypt(token, target.context)
            params = {f"k_{key.name}": value for key, value in zip(keys, row[:-1], strict=True)}
            pending.append({**params, "token_value": ring.encrypt(plain, target.context)})
        if pending:
            conn.execute(statement, pending)
            changed += len(pending)
            pending = []
    return changed


def status(settings: Settings) -> dict[str, Any]:
    """Which keys exist, which KEK wraps each, and how many values each data key holds."""
    ensure_schema(settings)
    engine = sync_engine(settings)
    try:
        with engine.connect() as conn:
            keys = conn.execute(sa.select(_KEYS).order_by(_KEYS.c.created_at)).all()
            held: dict[str, int] = {}
            for target in encrypted_columns():
                for batch in _raw_values(conn, target):
                    for row in batch:
                        key_id = str(row[-1]).split(":", 2)[1]
                        held[key_id] = held.get(key_id, 0) + 1
    finally:
        engine.dispose()
    return {
        "provider": settings.key_provider,
        "keys": [
            {
                "id": k.id,
                "purpose": k.purpose,
                "kek_id": k.kek_id,
                "created_at": k.created_at.isoformat(),
                "retired_at": k.retired_at.isoformat() if k.retired_at else None,
                "values": held.get(k.id, 0) if k.purpose == "data" else None,
            }
            for k in keys
        ],
    }
