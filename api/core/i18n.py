"""Languages: pick one from ``Accept-Language`` and render catalog messages in it.

Code never writes a user-facing sentence inline: it names a message of the catalog
(``api.core.messages``) with its values, ``msg("auth.locked", minutes=5)``, and the problem
handler renders it in the language the request negotiated. ``str()`` of a message is the
English text, for logs and exceptions.

Modules that speak English only (passwords, passkeys, sessions) keep their exceptions; the
adapters at the end map those to catalog messages by their stable code or reason.
"""

from __future__ import annotations

import logging
import re
import string
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

from api.core.messages import MESSAGES

if TYPE_CHECKING:
    from starlette.requests import HTTPConnection

    from api.core.passkeys import PasskeyError
    from api.core.passwords import PasswordPolicyError

SUPPORTED: Final = ("en", "es", "fr")
DEFAULT: Final = "en"

log = logging.getLogger("cems.api")

_FORMATTER = string.Formatter()
_MAX_RANGES = 32  # a longer Accept-Language is not a browser's; read only its start
_RANGE = re.compile(r"^(?:\*|[a-z]{1,8}(?:-[a-z0-9]{1,8})*)$")
_QVALUE = re.compile(r"^(?:0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)$")
# French puts a no-break space before ; : ! ? » and after «; the catalog is written with
# plain spaces, which a renderer could break a line at.
_FRENCH_SPACE = re.compile(r" (?=[;:!?»])|(?<=«) ")


def placeholders(template: str) -> frozenset[str]:
    """The names a template formats (``{minutes:g}`` -> ``minutes``)."""
    return frozenset(
        re.split(r"[.\[]", field, maxsplit=1)[0]
        for _literal, field, _spec, _conversion in _FORMATTER.parse(template)
        if field
    )


def catalog_errors(messages: Mapping[str, Mapping[str, str]] = MESSAGES) -> list[str]:
    """What is wrong with a catalog: missing languages, placeholders that differ."""
    errors = []
    for key, texts in messages.items():
        missing = [lang for lang in SUPPORTED if not texts.get(lang)]
        if missing:
            errors.append(f"{key}: no text in {', '.join(missing)}")
            continue
        extra = sorted(set(texts) - set(SUPPORTED))
        if extra:
            errors.append(f"{key}: unsupported languages {extra}")
        expected = placeholders(texts[DEFAULT])
        for lang in SUPPORTED:
            found = placeholders(texts[lang])
            if found != expected:
                errors.append(f"{key}: {lang} uses {sorted(found)}, en uses {sorted(expected)}")
    return errors


def _compile(messages: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    problems = catalog_errors(messages)
    if problems:
        raise ValueError("message catalog: " + "; ".join(problems))
    compiled = {key: dict(texts) for key, texts in messages.items()}
    for texts in compiled.values():
        texts["fr"] = _FRENCH_SPACE.sub("\u00a0", texts["fr"])
    return compiled


_CATALOG: Final = _compile(MESSAGES)
_PLACEHOLDERS: Final = {key: placeholders(texts[DEFAULT]) for key, texts in _CATALOG.items()}


def translate(key: str, lang: str, **params: object) -> str:
    """The message ``key`` in ``lang`` (English if unsupported); KeyError if ``key`` is unknown."""
    texts = _CATALOG[key]
    return texts.get(lang, texts[DEFAULT]).format(**params)


class Message:
    """A catalog key and its values, rendered in a language only when answered."""

    __slots__ = ("key", "params")

    def __init__(self, key: str, params: Mapping[str, object]) -> None:
        self.key = key
        self.params = dict(params)

    def render(self, lang: str) -> str:
        return translate(self.key, lang, **self.params)

    def __str__(self) -> str:
        return self.render(DEFAULT)

    def __repr__(self) -> str:
        return f"msg({self.key!r}, **{self.params!r})"


def msg(key: str, **params: object) -> Message:
    """A user-facing message: ``msg("not_found.customer", customer_id=cid)``.

    Fails at once (KeyError) for an unknown key or a missing value, not when rendering.
    Values the message does not use are ignored, so adapters can offer every value they have.
    """
    if key not in _CATALOG:
        raise KeyError(f"no message {key!r} in api/core/messages.py")
    missing = _PLACEHOLDERS[key] - params.keys()
    if missing:
        raise KeyError(f"message {key!r} needs {', '.join(sorted(missing))}")
    return Message(key, params)


def title(slug: str, lang: str) -> str:
    """The title of the problem type ``slug`` in ``lang``."""
    return translate(f"problem.{slug}", lang)


def negotiate(accept_language: str | None) -> str:
    """The supported language an ``Accept-Language`` header prefers (RFC 9110 section 12.5.4).

    Ranges are tried by quality, then in the order given; ``fr-CA`` is served ``fr`` (RFC 4647
    lookup), ``*`` any language not named otherwise, ``q=0`` refuses one. Anything unreadable
    is skipped; with nothing acceptable, English.
    """
    if not accept_language:
        return DEFAULT
    ranges: list[tuple[float, int, str]] = []
    for index, item in enumerate(accept_language.split(",")[:_MAX_RANGES]):
        tag, _, parameters = item.partition(";")
        tag = tag.strip().lower()
        quality: float | None = 1.0
        for parameter in parameters.split(";"):
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                value = value.strip()
                quality = float(value) if _QVALUE.match(value) else None
        if quality is not None and _RANGE.match(tag):
            ranges.append((quality, index, tag))
    named = {tag.split("-")[0] for _q, _i, tag in ranges if tag != "*"}
    refused = {tag for quality, _i, tag in ranges if quality == 0}
    for quality, _index, tag in sorted(ranges, key=lambda r: (-r[0], r[1])):
        if quality == 0:
            break
        if tag == "*":
            others = [lang for lang in SUPPORTED if lang not in named and lang not in refused]
            if others:
                return DEFAULT if DEFAULT in others else others[0]
            continue
        primary = tag.split("-")[0]
        if primary in SUPPORTED and primary not in refused:
            return primary
    return DEFAULT


def request_language(connection: HTTPConnection) -> str:
    """The language of this request's messages, negotiated once and kept on ``state``."""
    lang: str | None = getattr(connection.state, "language", None)
    if lang is None:
        lang = negotiate(connection.headers.get("accept-language"))
        connection.state.language = lang
    return lang


# --- adapters for English-only exceptions ------------------------------------------------

_NUMBER = re.compile(r"\d+")
_QUOTED = re.compile(r'"([^"]+)"')


def password_message(exc: PasswordPolicyError) -> Message:
    """The catalog message for a refused new password, by its ``code``.

    The values (a length, the word taken from the account's details) are read back from the
    English sentence; the tests check each code's English rendering matches it exactly.
    """
    text = str(exc)
    number, quoted = _NUMBER.search(text), _QUOTED.search(text)
    values: dict[str, object] = {}
    if number:
        values["min_length"] = values["max_length"] = int(number[0])
    if quoted:
        values["word"] = quoted[1]
    try:
        return msg(f"password.{exc.code}", **values)
    except KeyError:
        log.warning("password rule without a message", extra={"code": exc.code})
        return msg("password.invalid")


def passkey_message(exc: PasskeyError, rp_name: str) -> Message:
    """The catalog message for a refused passkey response, by its ``reason``."""
    try:
        return msg(f"passkey.{exc.reason}", rp_name=rp_name)
    except KeyError:
        log.warning("passkey refusal without a message", extra={"reason": exc.reason})
        return msg("passkey.invalid")


def session_message(reason: str) -> Message:
    """The catalog message for why a session token was refused (its English reason)."""
    for key, texts in _CATALOG.items():
        if key.startswith("session.") and texts[DEFAULT] == reason:
            return Message(key, {})
    log.warning("session refusal without a message", extra={"reason": reason})
    return msg("session.invalid")
