"""Masking of personal data for roles that do not need it in clear, and of card numbers."""

from __future__ import annotations

import re
import uuid

_DIGIT_RUN = re.compile(r"(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)")
PAN_MASK = "[card number removed]"


def mask_name(value: str | None) -> str | None:
    if not value:
        return value
    return " ".join(part[:1] + "***" for part in value.split())


def mask_email(value: str | None) -> str | None:
    if not value or "@" not in value:
        return value and "***"
    local, domain = value.split("@", 1)
    return f"{local[:1]}***@{domain}"


def mask_phone(value: str | None) -> str | None:
    if not value:
        return value
    digits = [ch for ch in value if ch.isdigit()]
    return "*" * max(len(digits) - 3, 0) + "".join(digits[-3:])


def luhn_valid(digits: str) -> bool:
    """The Luhn check every payment card number passes."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _mask_match(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    return PAN_MASK if 13 <= len(digits) <= 19 and luhn_valid(digits) else match.group()


def mask_card_numbers(text: str) -> str:
    """Replace every 13-19 digit run (spaces or dashes allowed) that passes Luhn."""
    return _DIGIT_RUN.sub(_mask_match, text)


def opaque_id() -> str:
    """A random 32-hex-digit id that :func:`mask_card_numbers` leaves as it is.

    About 1 in 250 uuid4s holds a 13-19 digit run passing Luhn; the audit log would store
    such a request or chain id as ``[card number removed]``. Those are drawn again.
    """
    while True:
        candidate = uuid.uuid4().hex
        if mask_card_numbers(candidate) == candidate:
            return candidate
