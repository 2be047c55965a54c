"""The HMAC key that chains the audit log: 32 random bytes in a 0600 file.

Whoever can edit the database but not read this file cannot recompute the chain, so any
edit, insertion or deletion shows when ``cems audit verify`` recomputes it. Back the file up
with the database: without it the log cannot be verified (and a new key would make every
existing entry look edited).
"""

from __future__ import annotations

import binascii
import os
import secrets
from pathlib import Path

from data_contracts.settings import Settings

KEY_BYTES = 32


class AuditKeyError(RuntimeError):
    """The audit key is missing or unreadable."""


def key_path(settings: Settings) -> Path:
    """Where the audit key lives (``CEMS_AUDIT_KEY_FILE``)."""
    return Path(settings.audit_key_file).expanduser()


def _parse(raw: bytes, path: Path) -> bytes:
    if len(raw) == KEY_BYTES:
        return raw
    text = raw.strip()
    if len(text) == 2 * KEY_BYTES:  # a hex key put there by a secret manager
        try:
            return binascii.unhexlify(text)
        except binascii.Error:
            pass
    raise AuditKeyError(
        f"the audit key {path} must hold {KEY_BYTES} bytes (raw or hex), not {len(raw)} bytes"
    )


def load_key(settings: Settings) -> bytes:
    """The audit key; never creates one (verification must not invent a new key)."""
    path = key_path(settings)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise AuditKeyError(
            f"the audit key {path} is missing; restore it from the backup of CEMS_HOME"
        ) from None
    except OSError as exc:
        raise AuditKeyError(f"cannot read the audit key {path}: {exc.strerror}") from None
    return _parse(raw, path)


def load_or_create_key(settings: Settings) -> bytes:
    """The audit key, created (0600, parent folder 0700) on first use."""
    path = key_path(settings)
    if path.exists():
        return load_key(settings)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_bytes(KEY_BYTES)
    # Write a private temporary file, then link it into place: linking fails if another
    # process won the race, and readers never see a half-written key.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return load_key(settings)
    finally:
        tmp.unlink(missing_ok=True)
    return key
