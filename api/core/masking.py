"""Masking of personal data for roles that do not need it in clear."""

from __future__ import annotations


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
