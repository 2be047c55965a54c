"""Staff TOTP (RFC 6238): codes, drift window, replay protection, input hygiene."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from api.core.clock import FrozenClock
from api.core.totp import new_totp_secret, provisioning_uri, totp_code, verify_totp

# RFC 6238 appendix B: the ASCII seed "12345678901234567890" (SHA-1), last 6 of 8 digits.
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
STEP = timedelta(seconds=30)


@pytest.fixture
def secret() -> str:
    return new_totp_secret()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 3, 14, 9, 26, 53, tzinfo=UTC))


@pytest.mark.parametrize(
    ("unix_time", "code"),
    [(59, "287082"), (1111111109, "081804"), (1234567890, "005924"), (2000000000, "279037")],
)
def test_rfc6238_vectors(unix_time: int, code: str) -> None:
    at = datetime.fromtimestamp(unix_time, UTC)
    assert totp_code(RFC_SECRET, at) == code
    assert verify_totp(RFC_SECRET, code, at=at) == unix_time // 30


def test_secret_is_160_bit_base32(secret: str) -> None:
    assert len(secret) == 32
    assert len(base64.b32decode(secret)) == 20
    assert secret != new_totp_secret()


def test_current_code_verifies_and_returns_its_step(secret: str, clock: FrozenClock) -> None:
    now = clock.now()
    step = verify_totp(secret, totp_code(secret, now), at=now)
    assert step == int(now.timestamp()) // 30


def test_one_step_of_drift_either_side_is_accepted(secret: str, clock: FrozenClock) -> None:
    now = clock.now()
    current = int(now.timestamp()) // 30
    assert verify_totp(secret, totp_code(secret, now - STEP), at=now) == current - 1
    assert verify_totp(secret, totp_code(secret, now + STEP), at=now) == current + 1


def test_two_steps_away_is_rejected(secret: str, clock: FrozenClock) -> None:
    now = clock.now()
    assert verify_totp(secret, totp_code(secret, now - 2 * STEP), at=now) is None
    assert verify_totp(secret, totp_code(secret, now + 2 * STEP), at=now) is None


def test_code_expires_as_the_clock_moves(secret: str, clock: FrozenClock) -> None:
    code = totp_code(secret, clock.now())
    clock.advance(2 * STEP)
    assert verify_totp(secret, code, at=clock.now()) is None


def test_replay_of_a_used_step_is_rejected(secret: str, clock: FrozenClock) -> None:
    now = clock.now()
    code = totp_code(secret, now)
    used = verify_totp(secret, code, at=now)
    assert used is not None
    assert verify_totp(secret, code, at=now, last_used_step=used) is None
    # Still inside the drift window 30 s later, but already used: refused.
    assert verify_totp(secret, code, at=now + STEP, last_used_step=used) is None
    # An older code that is still inside the window is refused too.
    assert verify_totp(secret, totp_code(secret, now - STEP), at=now, last_used_step=used) is None
    # The next step's code is fine.
    later = now + STEP
    assert verify_totp(secret, totp_code(secret, later), at=later, last_used_step=used) == used + 1


def test_wrong_secret_is_rejected(secret: str, clock: FrozenClock) -> None:
    now = clock.now()
    assert verify_totp(new_totp_secret(), totp_code(secret, now), at=now) is None


def test_spaces_are_ignored(secret: str, clock: FrozenClock) -> None:
    now = clock.now()
    code = totp_code(secret, now)
    assert verify_totp(secret, f" {code[:3]} {code[3:]}\n", at=now) is not None


@pytest.mark.parametrize(
    "garbage", ["", "12345", "1234567", "abcdef", "12345a", "١٢٣٤٥٦", "12-345", "+12345"]
)
def test_garbage_is_rejected(secret: str, clock: FrozenClock, garbage: str) -> None:
    assert verify_totp(secret, garbage, at=clock.now()) is None


def test_non_ascii_digits_of_a_valid_code_are_rejected(secret: str, clock: FrozenClock) -> None:
    now = clock.now()
    code = totp_code(secret, now)
    fullwidth = "".join(chr(ord(c) - ord("0") + ord("０")) for c in code)
    assert verify_totp(secret, fullwidth, at=now) is None


def test_naive_datetime_is_refused(secret: str) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        verify_totp(secret, "123456", at=datetime(2026, 1, 1))


def test_provisioning_uri(secret: str) -> None:
    uri = provisioning_uri(secret, account_name="alice@cems.example")
    parts = urlsplit(uri)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    assert unquote(parts.path) == "/CEMS:alice@cems.example"
    query = parse_qs(parts.query)
    assert query["secret"] == [secret]
    assert query["issuer"] == ["CEMS"]
    other = provisioning_uri(secret, account_name="bob", issuer="CEMS staging")
    assert parse_qs(urlsplit(other).query)["issuer"] == ["CEMS staging"]
