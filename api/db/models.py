"""Every operational table, imported so ``Base.metadata`` knows them all (Alembic, tests)."""

from __future__ import annotations

import api.audit.models
import api.auth.models
import api.crypto.models
import api.privacy.models
import api.serving.models
from api.db.base import Base

__all__ = ["Base", "api"]
