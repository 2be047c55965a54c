"""The operational database: one declarative base, engines and Alembic migrations."""
