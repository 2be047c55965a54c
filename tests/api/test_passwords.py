"""Password rules (NIST 800-63B) and argon2id hashing."""

from __future__ import annotations

import re
import unicodedata

import pytest
from argon2 import PasswordHasher, Type
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from api.core import passwords
from api.core.passwords import (
    PasswordPolicyError,
    burn_verify_time,
    check_new_password,
    hash_password,
    needs_rehash,
    verify_password,
)

PASSPHRASE = "copper kettle under violet rain"


def rejection(password: str, **kwargs: object) -> PasswordPolicyError:
    with pytest.raises(PasswordPolicyError) as info:
        check_new_password(password, **kwargs)  # type: ignore[arg-type]
    return info.value


def test_long_passphrase_is_accepted() -> None:
    check_new_password(PASSPHRASE)
    check_new_password(PASSPHRASE, context=["alice.smith", "Alice Smith", "cems"])


def test_no_composition_rules() -> None:
    # Only lowercase letters and spaces: fine, NIST forbids "needs a digit/symbol" rules.
    check_new_password("plain lowercase words only here")
    check_new_password("onlylettersnospaces", min_length=8)


@pytest.mark.parametrize(("password", "min_length"), [("short but okay", 15), ("seven c", 8)])
def test_too_short_is_rejected(password: str, min_length: int) -> None:
    error = rejection(password, min_length=min_length)
    assert error.code == "too_short"
    assert str(min_length) in str(error)


def test_min_length_is_the_callers_choice() -> None:
    check_new_password("tulip barn", min_length=8)  # 10 characters: staff with MFA
    assert rejection("tulip barn").code == "too_short"  # default 15: password-only customers


def test_length_counts_code_points_not_bytes() -> None:
    check_new_password("日本語のパスワードはとても長いです")  # 17 code points
    assert rejection("日本語のパスワードは長いで").code == "too_short"  # 13 code points, 39 bytes


def test_length_is_counted_after_nfkc() -> None:
    # "㎏" is one code point that NFKC turns into "kg": 14 typed, 15 after normalisation.
    check_new_password("heavy parcel ㎏")


def test_more_than_128_characters_is_rejected() -> None:
    long_phrase = ("copper kettle under violet rain " * 5)[:128]
    check_new_password(long_phrase)
    assert rejection(long_phrase + "s").code == "too_long"


@pytest.mark.parametrize("password", ["passwordstandard", "PasswordStandard", "qwertyuiop12345"])
def test_common_passwords_of_full_length_are_rejected(password: str) -> None:
    assert password.casefold() in FREQUENCY_LISTS["passwords"]
    assert rejection(password).code == "common"


@pytest.mark.parametrize("password", ["trustno1", "sunshine", "Passw0rd", "iloveyou"])
def test_common_passwords_are_rejected_with_mfa_length(password: str) -> None:
    assert rejection(password, min_length=8).code == "common"


def test_every_long_blocklist_entry_is_rejected() -> None:
    long_entries = [p for p in FREQUENCY_LISTS["passwords"] if len(p) >= 8]
    assert len(long_entries) > 10_000
    for entry in long_entries:
        with pytest.raises(PasswordPolicyError):
            check_new_password(entry, min_length=8)


@pytest.mark.parametrize(
    ("password", "context", "word"),
    [
        ("alice walks the long green hills", ["alice.smith@example.com"], "alice"),
        ("long green hills for SMITHERS too", ["Alice Smithers"], "smithers"),
        ("my cems login is long enough now", ["cems"], "cems"),
        ("asmith-likes-long-green-hills", ["asmith"], "asmith"),
    ],
)
def test_context_words_are_rejected(password: str, context: list[str], word: str) -> None:
    error = rejection(password, context=context)
    assert error.code == "context"
    assert f'"{word}"' in str(error)


def test_short_context_words_are_ignored() -> None:
    check_new_password("bob likes long green hills", context=["bob", "Bo Li"])


@pytest.mark.parametrize(
    "password",
    [
        "a" * 20,
        "1234567890123456",
        "abcdefghijklmnop",
        "9876543210987654",
        "ZYXWVUTSRQPONMLKJ",
        "xyzabcdefghijklmn",
        "abababababababab",
        "!!!!!!!!!!!!!!!!",
        "123123123123123123",
    ],
)
def test_repeats_and_sequences_are_rejected(password: str) -> None:
    assert rejection(password).code == "trivial"


@pytest.mark.parametrize(
    ("password", "kwargs"),
    [
        ("short", {}),
        ("x" * 200, {}),
        ("passwordstandard", {}),
        ("alice walks the long green hills", {"context": ["alice"]}),
        ("1234567890123456", {}),
    ],
)
def test_error_is_one_sentence_saying_what_to_do(password: str, kwargs: dict[str, object]) -> None:
    message = str(rejection(password, **kwargs))
    assert message[0].isupper() and message.endswith(".")
    assert ". " not in message.rstrip(".")  # one sentence
    assert re.search(r"\b(choose|use)\b", message, re.IGNORECASE)


def test_hash_is_argon2id_salted_and_verifies() -> None:
    first, second = hash_password(PASSPHRASE), hash_password(PASSPHRASE)
    assert first.startswith("$argon2id$v=19$")
    assert first != second  # random salt
    assert verify_password(first, PASSPHRASE)
    assert not verify_password(first, PASSPHRASE + " ")
    assert not verify_password(first, PASSPHRASE.upper())


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "not a hash",
        "$argon2id$v=19$m=abc",
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$",
        "$2b$12$KIXQJGqk6Z5gqM8G6q8Q5eQ2jXh3QZf2Zl8vZ4j8yZ7Qq3yZ0y1bK",
        "$argon2id$é",
    ],
)
def test_malformed_hash_gives_false(stored: str) -> None:
    assert verify_password(stored, PASSPHRASE) is False


def test_unicode_is_normalised_before_hashing() -> None:
    composed = "café crème au lait"
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    stored = hash_password(composed)
    assert verify_password(stored, decomposed)
    assert verify_password(hash_password(decomposed), composed)


def test_needs_rehash() -> None:
    assert not needs_rehash(hash_password(PASSPHRASE))
    weaker = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1, type=Type.ID)
    old = weaker.hash(PASSPHRASE)
    assert verify_password(old, PASSPHRASE)  # still accepted...
    assert needs_rehash(old)  # ...but upgraded at the next login
    argon2i = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, type=Type.I)
    assert needs_rehash(argon2i.hash(PASSPHRASE))
    assert needs_rehash("not a hash")


def test_burn_verify_time_uses_a_hash_with_current_parameters() -> None:
    burn_verify_time()
    # Same parameters as real hashes, so an unknown account costs what a wrong password does.
    assert not needs_rehash(passwords._dummy_hash())
