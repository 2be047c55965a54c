"""Key-encryption-key (KEK) providers: who wraps the data keys of the operational database.

Envelope encryption: personal columns are encrypted with data keys (DEKs) kept in the
database only in wrapped form; a provider holds the keys that wrap them and never hands them
out. The default provider keeps its KEKs in a 0600 JSON file outside the database (so a copy
of the database alone reads as noise); an operator plugs in a KMS or HSM by naming a class,
``CEMS_KEY_PROVIDER=package.module:Class``, constructed with the settings.
"""

from __future__ import annotations

import base64
import importlib
import json
import os
import secrets
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from data_contracts.settings import Settings

KEY_BYTES = 32
NONCE_BYTES = 12


class KeyProviderError(RuntimeError):
    """A key-encryption key is missing, unreadable or refused a data key."""


@runtime_checkable
class KeyProvider(Protocol):
    """What CEMS needs from a key service (a local file, a KMS, an HSM)."""

    def current_kek_id(self) -> str:
        """The KEK that wraps new data keys."""

    def wrap(self, dek: bytes) -> tuple[str, bytes]:
        """Wrap a data key with the current KEK: (kek id, wrapped bytes)."""

    def unwrap(self, kek_id: str, wrapped: bytes) -> bytes:
        """Unwrap a data key wrapped by ``kek_id`` (any KEK not yet destroyed)."""

    def rotate(self) -> str:
        """Make a new current KEK (the old ones still unwrap); its id."""


def _aad(kek_id: str) -> bytes:
    return b"cems-dek|" + kek_id.encode()


class LocalFileKeyProvider:
    """KEKs in a 0600 JSON file: ``{"current": id, "keys": {id: base64 key}}``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalFileKeyProvider:
        return cls(Path(settings.key_file).expanduser())

    def _read(self) -> dict[str, Any]:
        try:
            state: dict[str, Any] = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {"current": None, "keys": {}}
        except (OSError, ValueError) as exc:
            raise KeyProviderError(f"cannot read the key file {self.path}: {exc}") from None
        if not isinstance(state.get("keys"), dict):
            raise KeyProviderError(f"the key file {self.path} is not a CEMS key file")
        return state

    def _write(self, state: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(state, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(self.path)  # atomic: a crash leaves the old or the new file

    def _key(self, kek_id: str) -> bytes:
        encoded = self._read()["keys"].get(kek_id)
        if encoded is None:
            raise KeyProviderError(
                f"key-encryption key {kek_id} is not in {self.path}; restore the key file "
                "from its backup"
            )
        return base64.b64decode(encoded)

    def current_kek_id(self) -> str:
        current = self._read().get("current")
        return str(current) if current else self.rotate()

    def wrap(self, dek: bytes) -> tuple[str, bytes]:
        kek_id = self.current_kek_id()
        nonce = secrets.token_bytes(NONCE_BYTES)
        return kek_id, nonce + AESGCM(self._key(kek_id)).encrypt(nonce, dek, _aad(kek_id))

    def unwrap(self, kek_id: str, wrapped: bytes) -> bytes:
        try:
            return AESGCM(self._key(kek_id)).decrypt(
                wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _aad(kek_id)
            )
        except KeyProviderError:
            raise
        except Exception:
            raise KeyProviderError(
                f"key-encryption key {kek_id} in {self.path} does not open this data key"
            ) from None

    def rotate(self) -> str:
        state = self._read()
        kek_id = f"kek-{len(state['keys']) + 1}-{secrets.token_hex(4)}"
        state["keys"][kek_id] = base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()
        state["current"] = kek_id
        self._write(state)
        return kek_id

    def kek_ids(self) -> list[str]:
        return sorted(self._read()["keys"])


def load_provider(settings: Settings) -> KeyProvider:
    """The configured provider: ``local-file`` or ``package.module:Class(settings)``."""
    name = settings.key_provider
    if name == "local-file":
        return LocalFileKeyProvider.from_settings(settings)
    module_name, _, class_name = name.partition(":")
    if not class_name:
        raise KeyProviderError(
            f"CEMS_KEY_PROVIDER must be 'local-file' or 'package.module:Class', not {name!r}"
        )
    try:
        factory = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise KeyProviderError(f"cannot load the key provider {name!r}: {exc}") from None
    provider = factory(settings)
    if not isinstance(provider, KeyProvider):
        raise KeyProviderError(f"{name!r} does not implement the KeyProvider methods")
    return provider
