"""How customers are found without the database holding what is searched for.

Publish and search agree here on what a phone number and a name are indexed by; the
keyring turns each into a blind index (``api.crypto.keyring``).
"""

from __future__ import annotations

PHONE_DIGITS = 9  # the national significant number: matches with or without country code
_PUNCTUATION = ".,'\"()&-/"


def phone_key(phone: str) -> str | None:
    """A phone number's last nine digits (None when it has fewer)."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    return digits[-PHONE_DIGITS:] if len(digits) >= PHONE_DIGITS else None


def name_words(text: str) -> set[str]:
    """The words of a name as searched (the keyring case-folds them)."""
    return {word.strip(_PUNCTUATION) for word in text.split()} - {""}
