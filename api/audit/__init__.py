"""The tamper-evident audit log of the API (issue 6, "Audit").

Who did what to which customer, when, with what outcome, from where: appended to per-process
HMAC chains (:class:`AuditLog`), checked by :func:`verify` (``cems audit verify``), archived
to Delta after the retention period (:func:`archive`) and reviewed through the reports in
:mod:`api.audit.reports`.
"""

from __future__ import annotations

from api.audit.keys import AuditKeyError, load_key, load_or_create_key
from api.audit.log import (
    AuditEvent,
    AuditIntegrityError,
    AuditLog,
    ChainHead,
    Outcome,
    append_sync,
    scrub,
)
from api.audit.models import AuditArchiveCheckpoint, AuditChain, AuditEntry
from api.audit.retention import ArchiveResult, RetentionError, archive
from api.audit.verify import Finding, VerifyReport, verify

__all__ = [
    "ArchiveResult",
    "AuditArchiveCheckpoint",
    "AuditChain",
    "AuditEntry",
    "AuditEvent",
    "AuditIntegrityError",
    "AuditKeyError",
    "AuditLog",
    "ChainHead",
    "Finding",
    "Outcome",
    "RetentionError",
    "VerifyReport",
    "append_sync",
    "archive",
    "load_key",
    "load_or_create_key",
    "scrub",
    "verify",
]
