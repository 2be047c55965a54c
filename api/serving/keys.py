"""How customers are found without the database holding what is searched for.

Publish and search agree here on what a phone number and a name are indexed by; the
keyring turns each into a blind index (``api.crypto.keyring``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from api.crypto.keyring import Keyring

PHONE_DIGITS = 9  # the national significant number: matches with or without country code
_PUNCTUATION = ".,'\"()&-/"


def phone_key(phone: str) -> str | None:
    """A phone number's last nine digits (None when it has fewer)."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    return digits[-PHONE_DIGITS:] if len(digits) >= PHONE_DIGITS else None


def name_words(text: str) -> set[str]:
    """The words of a name as searched (the keyring case-folds them)."""
    return {word.strip(_PUNCTUATION) for word in text.split()} - {""}


@dataclass(frozen=True)
class CustomerSearchKeys:
    """Blind indexes a customer is found by: e-mail, phone, each word of the name."""

    email_bidx: str | None
    phone_bidx: str | None
    name_terms: list[str]


def customer_search_keys(ring: Keyring, record: dict[str, Any]) -> CustomerSearchKeys:
    """The search keys of a ``dim_customers`` record (publish and migration 0004)."""
    email = str(record.get("email") or "").strip()
    phone = phone_key(str(record.get("phone_number") or ""))
    names = " ".join(
        str(record[k]) for k in ("first_name", "last_name", "company_name") if record.get(k)
    )
    return CustomerSearchKeys(
        email_bidx=ring.blind("email", email) if email else None,
        phone_bidx=ring.blind("phone", phone) if phone else None,
        # Case-folded by the keyring: "Ana" and "ana" are one term.
        name_terms=sorted({ring.blind("name", word) for word in name_words(names)}),
    )
