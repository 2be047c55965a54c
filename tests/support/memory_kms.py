"""A key provider kept in memory: what a KMS adapter plugged in by name looks like.

Tests name it with ``CEMS_KEY_PROVIDER=memory_kms:MemoryKms``; every instance of one
settings home shares one key store, as a KMS would.
"""

from __future__ import annotations

import secrets
from typing import ClassVar

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from data_contracts.settings import Settings


class MemoryKms:
    stores: ClassVar[dict[str, dict[str, bytes]]] = {}
    calls: ClassVar[list[str]] = []

    def __init__(self, settings: Settings) -> None:
        self.keys = self.stores.setdefault(str(settings.home), {})
        if not self.keys:
            self.rotate()

    def current_kek_id(self) -> str:
        return sorted(self.keys)[-1]

    def wrap(self, dek: bytes) -> tuple[str, bytes]:
        self.calls.append("wrap")
        kek_id = self.current_kek_id()
        nonce = secrets.token_bytes(12)
        return kek_id, nonce + AESGCM(self.keys[kek_id]).encrypt(nonce, dek, kek_id.encode())

    def unwrap(self, kek_id: str, wrapped: bytes) -> bytes:
        self.calls.append("unwrap")
        return AESGCM(self.keys[kek_id]).decrypt(wrapped[:12], wrapped[12:], kek_id.encode())

    def rotate(self) -> str:
        kek_id = f"kms-{len(self.keys) + 1:04d}"
        self.keys[kek_id] = AESGCM.generate_key(bit_length=256)
        return kek_id
