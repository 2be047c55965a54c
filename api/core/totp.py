"""Time-based one-time passwords (RFC 6238) for staff MFA.

SHA-1, 6 digits, 30-second steps: the only profile every authenticator app supports. Times
come from the injectable clock, never from the wall clock, so tests can move time.
"""

from __future__ import annotations

import base64
import hmac
import secrets
from datetime import datetime
from typing import Final

import pyotp

STEP_SECONDS: Final = 30
DIGITS: Final = 6
# One step either side absorbs phone clock drift and a code typed as it rolls over.
DRIFT_STEPS: Final = 1


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)


def _step_at(at: datetime) -> int:
    if at.tzinfo is None or at.utcoffset() is None:
        # A naive datetime would be read as local time and shift every code by hours.
        raise ValueError("TOTP times must be timezone-aware; pass the clock's now().")
    return int(at.timestamp()) // STEP_SECONDS


def new_totp_secret() -> str:
    """A fresh 160-bit secret, base32 without padding (32 characters)."""
    return base64.b32encode(secrets.token_bytes(20)).decode("ascii")


def provisioning_uri(secret: str, *, account_name: str, issuer: str = "CEMS") -> str:
    """The ``otpauth://totp/...`` URI an authenticator app scans (as a QR code)."""
    return _totp(secret).provisioning_uri(name=account_name, issuer_name=issuer)


def totp_code(secret: str, at: datetime) -> str:
    """The code an authenticator app shows at ``at``."""
    return _totp(secret).generate_otp(_step_at(at))


def verify_totp(
    secret: str, code: str, *, at: datetime, last_used_step: int | None = None
) -> int | None:
    """The time step ``code`` belongs to (current step +/- 1), or None if it is not valid.

    Steps at or before ``last_used_step`` are refused, so an observed code cannot be replayed;
    store the returned step as the new ``last_used_step``.
    """
    candidate = "".join(code.split())
    if len(candidate) != DIGITS or not (candidate.isascii() and candidate.isdigit()):
        return None
    totp = _totp(secret)
    now_step = _step_at(at)
    matched: int | None = None
    # Compare against every step (no early exit) so timing does not reveal which one matched.
    for step in range(now_step - DRIFT_STEPS, now_step + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), candidate) and (
            last_used_step is None or step > last_used_step
        ):
            matched = step
    return matched
