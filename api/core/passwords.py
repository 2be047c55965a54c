"""Password rules (NIST SP 800-63B rev 4) and argon2id hashing.

Rules: length only (15 code points when the password is the sole factor, 8 with MFA; at most
128), not a common password, not built from the account's own details, not a repeated
character or a plain sequence. No composition rules, which NIST forbids.

Hashing: argon2id with OWASP's first profile (m=19 MiB, t=2, p=1). Measured on the 2-core dev
machine, busy with other work (load average 7.6): median 31 ms per hash or verification,
fastest 19 ms, slowest 63 ms (21 runs each). It is CPU-bound and blocks, so async callers run it
in a worker thread.
"""

from __future__ import annotations

import functools
import itertools
import re
import string
import unicodedata
from collections.abc import Sequence
from typing import Final

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

MAX_LENGTH: Final = 128

# Parallelism 1: on a 2-core host, lanes compete with other requests instead of helping.
_HASHER: Final = PasswordHasher(
    time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32, salt_len=16, type=Type.ID
)

_CONTEXT_MIN: Final = 4
_WORD = re.compile(r"[^\W_]+")
# Short repeating units ("abab", "123123") are as guessable as one repeated character.
_MAX_PERIOD: Final = 4


class PasswordPolicyError(ValueError):
    """A new password breaks a rule; ``str(error)`` is one sentence to show the person."""

    def __init__(self, message: str, *, code: str = "invalid") -> None:
        super().__init__(message)
        self.code = code  # stable machine-readable reason: too_short, common, ...


def _normalise(password: str) -> str:
    # NFKC so that the same password typed on different keyboards/OSes hashes the same.
    return unicodedata.normalize("NFKC", password)


@functools.cache
def _blocklist() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(word.casefold() for word in FREQUENCY_LISTS["passwords"])


def _cyclic_step(a: str, b: str) -> int | None:
    """Signed step from a to b among digits or ASCII letters, wrapping ("9" -> "0" is +1)."""
    for alphabet in (string.digits, string.ascii_lowercase):
        if a in alphabet and b in alphabet:
            size = len(alphabet)
            step = (alphabet.index(b) - alphabet.index(a)) % size
            return step if step <= size // 2 else step - size
    return None


def _is_trivial(folded: str) -> bool:
    """One repeated character, a short repeated unit, or a plain (wrapping) sequence."""
    for period in range(1, min(_MAX_PERIOD, len(folded) // 2) + 1):
        if all(char == folded[i % period] for i, char in enumerate(folded)):
            return True
    steps = {_cyclic_step(a, b) for a, b in itertools.pairwise(folded)}
    return steps == {1} or steps == {-1}


def _context_words(context: Sequence[str]) -> set[str]:
    words: set[str] = set()
    for item in context:
        folded = _normalise(item).casefold().strip()
        # The whole value ("alice.smith") and its parts ("alice", "smith").
        for word in [folded, *_WORD.findall(folded)]:
            if len(word) >= _CONTEXT_MIN:
                words.add(word)
    return words


def check_new_password(password: str, *, min_length: int = 15, context: Sequence[str] = ()) -> None:
    """Raise PasswordPolicyError if ``password`` may not be set as a new password.

    ``min_length`` is 15 for password-only accounts and 8 when MFA is enforced; ``context``
    holds the account's own details (email local part, name, "cems").
    """
    normalised = _normalise(password)
    length = len(normalised)
    if length < min_length:
        raise PasswordPolicyError(
            f"Choose a password of at least {min_length} characters; "
            "a few unrelated words make a long password that is easy to remember.",
            code="too_short",
        )
    if length > MAX_LENGTH:
        raise PasswordPolicyError(
            f"Choose a password of at most {MAX_LENGTH} characters.", code="too_long"
        )
    folded = normalised.casefold()
    if _is_trivial(folded):
        raise PasswordPolicyError(
            "Choose a password that is not a repeated character or a simple sequence "
            "such as 1234 or abcd.",
            code="trivial",
        )
    if folded in _blocklist():
        raise PasswordPolicyError(
            "This password is on a list of commonly used passwords, so please choose another one.",
            code="common",
        )
    for word in sorted(_context_words(context), key=len, reverse=True):
        if word in folded:
            raise PasswordPolicyError(
                f'Choose a password that does not contain "{word}", '
                "because it is easy to guess from your account details.",
                code="context",
            )


def hash_password(password: str) -> str:
    """The argon2id PHC string (``$argon2id$v=19$m=...``) for ``password``."""
    return _HASHER.hash(_normalise(password))


def verify_password(stored_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash``; False (never an exception) otherwise."""
    try:
        return _HASHER.verify(stored_hash, _normalise(password))
    except (VerificationError, InvalidHashError, ValueError, TypeError):
        # ValueError/TypeError: hashes that are not even ASCII text, or not a str at all.
        return False


def needs_rehash(stored_hash: str) -> bool:
    """Whether ``stored_hash`` was made with other parameters (rehash after a good login)."""
    try:
        return _HASHER.check_needs_rehash(stored_hash)
    except (InvalidHashError, ValueError):
        return True


@functools.cache
def _dummy_hash() -> str:
    return _HASHER.hash("cems dummy password for unknown accounts")


def burn_verify_time() -> None:
    """Spend one verification's time, so an unknown account looks like a wrong password."""
    verify_password(_dummy_hash(), "not the dummy password")
