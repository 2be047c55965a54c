"""``EncryptedText``: a column stored as an AES-GCM token, read and written as plain text."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

from api.crypto.keyring import active_keyring


class EncryptedText(TypeDecorator[str]):
    """Personal data at rest: encrypted on the way in, decrypted on the way out.

    ``context`` (``table.column``) is bound into every token, so a value moved to another
    column does not decrypt. Equality lookups go through a blind-index column beside it.
    """

    impl = sa.Text
    cache_ok = True

    def __init__(self, context: str) -> None:
        super().__init__()
        self.context = context

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> str | None:
        if value is None:
            return None
        return active_keyring().encrypt(str(value), self.context)

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> str | None:
        if value is None:
            return None
        return active_keyring().decrypt(value, self.context)
