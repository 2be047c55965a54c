"""The Alembic migrations build exactly the tables the models declare."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import api.db.models  # noqa: F401  (registers every table)
from api.db.base import Base
from api.db.engine import sync_engine
from api.db.migrate import current_revision, ensure_schema, head_revision
from data_contracts.settings import Settings


def test_migrations_match_the_models(tmp_path):
    settings = Settings(home=tmp_path)
    ensure_schema(settings)
    ensure_schema(settings)  # idempotent
    assert current_revision(settings) == head_revision()
    engine = sync_engine(settings)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == [], f"models changed without a migration (cems db revision -m ...): {diff}"
