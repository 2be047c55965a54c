"""The keyring: unwrapped data keys of one process, and what it does with them.

* ``encrypt``/``decrypt``: AES-256-GCM with a random nonce. The token names its data key
  (``e1:<key id>:<base64 nonce+ciphertext>``) so rows written under older keys stay
  readable after a rotation, and the column is bound in as associated data, so a token
  copied into another column does not open.
* ``blind``: a blind index, HMAC-SHA256 of a normalised value under the index key. Equal
  values give equal indexes, so the database can look up an e-mail or a name word without
  ever holding it; nothing else about the value can be learnt from it.

Data keys are stored only wrapped by the key provider (``api.crypto.providers``). A process
loads them once; a token naming a key it has not seen (a rotation happened since) makes it
reload. Columns typed ``EncryptedText`` (``api.crypto.types``) use the keyring made active
for the request or command (``use_keyring``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.exc import IntegrityError

from api.crypto.models import DataKey
from api.crypto.providers import KEY_BYTES, NONCE_BYTES, KeyProvider, load_provider
from data_contracts.settings import Settings

PREFIX = "e1"
INDEX_KEY_ID = "index-1"
FIRST_DATA_KEY_ID = "dek-1"
_KEYS: sa.Table = DataKey.__table__  # type: ignore[assignment]


class UnknownDataKeyError(LookupError):
    """A token names a data key this process has not loaded (or that no longer exists)."""


class DecryptionError(ValueError):
    """A token does not open: damaged, or moved from another column."""


def normalise(value: str) -> str:
    """What blind indexes compare: NFKC, case-folded, spaces collapsed."""
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


class Keyring:
    """Data keys of the operational database, unwrapped in memory."""

    def __init__(self, provider: KeyProvider, settings: Settings | None = None) -> None:
        self.provider = provider
        self.settings = settings
        self._ciphers: dict[str, AESGCM] = {}
        self._current: str | None = None
        self._index_key: bytes | None = None

    # -- loading ---------------------------------------------------------------------------

    def load(self, conn: sa.Connection) -> Keyring:
        """Read (creating on first use) the index key and the data keys."""
        _ensure_key(conn, self.provider, INDEX_KEY_ID, "index")
        rows = conn.execute(sa.select(_KEYS).order_by(_KEYS.c.created_at, _KEYS.c.id)).all()
        if not any(r.purpose == "data" and r.retired_at is None for r in rows):
            _ensure_key(conn, self.provider, FIRST_DATA_KEY_ID, "data")
            rows = conn.execute(sa.select(_KEYS).order_by(_KEYS.c.created_at, _KEYS.c.id)).all()
        ciphers: dict[str, AESGCM] = {}
        current = None
        for row in rows:
            key = self.provider.unwrap(row.kek_id, row.wrapped)
            if row.purpose == "index":
                self._index_key = key
                continue
            ciphers[row.id] = AESGCM(key)
            if row.retired_at is None:
                current = row.id  # rows are in creation order: the newest active one wins
        self._ciphers, self._current = ciphers, current
        return self

    def reload(self) -> None:
        """Read the keys again (a rotation added one) through a short sync connection."""
        if self.settings is None:
            raise UnknownDataKeyError("this keyring has no database to reload from")
        from api.db.engine import sync_engine

        engine = sync_engine(self.settings)
        try:
            with engine.begin() as conn:
                self.load(conn)
        finally:
            engine.dispose()

    @property
    def current_key_id(self) -> str:
        if self._current is None:
            raise UnknownDataKeyError("the keyring is not loaded")
        return self._current

    # -- encryption --------------------------------------------------------------------------

    def encrypt(self, value: str, context: str) -> str:
        key_id = self.current_key_id
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._ciphers[key_id].encrypt(nonce, value.encode(), context.encode())
        return f"{PREFIX}:{key_id}:{base64.b64encode(nonce + sealed).decode()}"

    def encrypt_optional(self, value: str | None, context: str) -> str | None:
        return None if value is None else self.encrypt(value, context)

    def key_id_of(self, token: str) -> str:
        prefix, key_id, _ = token.split(":", 2)
        if prefix != PREFIX:
            raise DecryptionError(f"not an encrypted value (prefix {prefix!r})")
        return key_id

    def decrypt(self, token: str, context: str) -> str:
        try:
            prefix, key_id, body = token.split(":", 2)
        except ValueError:
            raise DecryptionError(f"{context} holds a value that is not encrypted") from None
        if prefix != PREFIX:
            raise DecryptionError(f"{context} holds a value that is not encrypted")
        cipher = self._ciphers.get(key_id)
        if cipher is None and self.settings is not None:
            self.reload()
            cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise UnknownDataKeyError(f"data key {key_id} is unknown; was it destroyed?")
        raw = base64.b64decode(body)
        try:
            return cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode()).decode()
        except InvalidTag:
            raise DecryptionError(f"{context} holds a value that does not open") from None

    def blind(self, kind: str, value: str) -> str:
        """The blind index of ``value`` as a ``kind`` (e-mail, phone, name word...)."""
        if self._index_key is None:
            raise UnknownDataKeyError("the keyring is not loaded")
        message = f"{kind}\x00{normalise(value)}".encode()
        return hmac.new(self._index_key, message, hashlib.sha256).hexdigest()[:40]


def _ensure_key(conn: sa.Connection, provider: KeyProvider, key_id: str, purpose: str) -> None:
    """Create a key under a fixed id unless it exists (two workers starting race safely)."""
    if conn.execute(sa.select(_KEYS.c.id).where(_KEYS.c.id == key_id)).first():
        return
    kek_id, wrapped = provider.wrap(secrets.token_bytes(KEY_BYTES))
    try:
        with conn.begin_nested():
            conn.execute(
                _KEYS.insert().values(
                    id=key_id,
                    purpose=purpose,
                    kek_id=kek_id,
                    wrapped=wrapped,
                    created_at=datetime.now(UTC),
                )
            )
    except IntegrityError:
        pass  # another process created it first; it is read back by the caller


def load_keyring(settings: Settings, conn: sa.Connection) -> Keyring:
    """The keyring of ``settings``' key provider, loaded from ``conn``'s database."""
    return Keyring(load_provider(settings), settings).load(conn)


def open_keyring(settings: Settings) -> Keyring:
    """Load the keyring through a short sync connection (CLI, jobs, start-up)."""
    ring = Keyring(load_provider(settings), settings)
    ring.reload()
    return ring


_active: ContextVar[Keyring | None] = ContextVar("cems_keyring", default=None)


@contextmanager
def use_keyring(ring: Keyring) -> Iterator[Keyring]:
    """Make ``ring`` the one encrypted columns use in this context (request, command)."""
    token = _active.set(ring)
    try:
        yield ring
    finally:
        _active.reset(token)


def active_keyring() -> Keyring:
    ring = _active.get()
    if ring is None:
        raise RuntimeError(
            "no keyring is active: wrap the work in api.crypto.keyring.use_keyring(...)"
        )
    return ring


def blind(kind: str, value: str) -> str:
    """The active keyring's blind index of ``value``."""
    return active_keyring().blind(kind, value)


class KeyringMiddleware:
    """ASGI: every request of the app uses the keyring its start-up loaded."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        ring = getattr(scope["app"].state, "keyring", None) if scope["type"] != "lifespan" else None
        if ring is None:
            await self.app(scope, receive, send)
            return
        with use_keyring(ring):
            await self.app(scope, receive, send)
