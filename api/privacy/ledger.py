"""Reading and writing the erasure ledger (``privacy_erasures``).

Ids are hashed with HMAC-SHA256 under the audit key (``CEMS_HOME/keys/audit.key``), with a
prefix of their own so the hashes mean nothing elsewhere. A plain hash would not do:
customer ids are short, so anyone could hash every possible id and read the ledger back.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from datetime import datetime

import sqlalchemy as sa

from api.privacy.models import Erasure

_DOMAIN = "cems-erasure"


def key_hash(key: bytes, kind: str, value: str) -> str:
    """The ledger's hash of one id (``kind`` is its column: customer_id, account_id...)."""
    return hmac.new(key, f"{_DOMAIN}:{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def was_erased(conn: sa.Connection, key: bytes, customer_id: str) -> bool:
    """Whether the ledger records an erasure of ``customer_id``."""
    subject = key_hash(key, "customer_id", customer_id)
    found = conn.scalar(sa.select(Erasure.id).where(Erasure.subject_hash == subject).limit(1))
    return found is not None


def erased_key_hashes(conn: sa.Connection) -> set[str]:
    """Every erased id's hash: a landing job refuses rows whose keys hash into this set."""
    hashes: set[str] = set()
    for subject, keys in conn.execute(sa.select(Erasure.subject_hash, Erasure.key_hashes)):
        hashes.add(subject)
        hashes.update(json.loads(keys))
    return hashes


def record(
    conn: sa.Connection,
    key: bytes,
    *,
    customer_id: str,
    keys: Iterable[tuple[str, str]],
    erased_at: datetime,
    requested_by: str,
    request_id: str | None,
    counts: Mapping[str, Mapping[str, int]],
) -> int:
    """Append one erasure to the ledger (in the caller's transaction); returns its id."""
    hashes = sorted({key_hash(key, kind, value) for kind, value in keys})
    total = sum(n for tables in counts.values() for n in tables.values())
    result = conn.execute(
        sa.insert(Erasure).values(
            subject_hash=key_hash(key, "customer_id", customer_id),
            key_hashes=json.dumps(hashes),
            erased_at=erased_at,
            requested_by=requested_by[:255],
            request_id=request_id[:128] if request_id else None,
            rows_erased=total,
            counts=json.dumps(counts, sort_keys=True),
        )
    )
    primary = result.inserted_primary_key
    return int(primary[0]) if primary else 0
