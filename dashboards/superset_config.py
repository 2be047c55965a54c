"""Superset configuration for CEMS (loaded through SUPERSET_CONFIG_PATH).

Everything comes from the environment, which ``cems dashboards`` derives from the CEMS
settings: the metadata database, the secret key and where state lives. Nothing here is a
secret and nothing here names a machine.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

_home = Path(os.environ.get("CEMS_HOME", ".cems")).expanduser().resolve()
SUPERSET_HOME = Path(os.environ.get("CEMS_SUPERSET_HOME") or _home / "superset")
SUPERSET_HOME.mkdir(parents=True, exist_ok=True)

DATA_DIR = str(SUPERSET_HOME)
SQLALCHEMY_DATABASE_URI = os.environ.get("CEMS_SUPERSET_METADATA_URL") or (
    f"sqlite:///{SUPERSET_HOME / 'superset.db'}?check_same_thread=false"
)
# `cems dashboards` always sets it (a random key kept 0600 under the Superset home); Superset
# refuses to start on its built-in default, which is what we want when it is missing.
SECRET_KEY = os.environ.get("SUPERSET_SECRET_KEY", "")

APP_NAME = "CEMS"
ROW_LIMIT = 50_000
SUPERSET_WEBSERVER_TIMEOUT = 120
SQLLAB_TIMEOUT = 120

FEATURE_FLAGS = {
    # Render every chart at once: screenshots and the render test see the whole dashboard.
    "DASHBOARD_VIRTUALIZATION": False,
    "DASHBOARD_CROSS_FILTERS": True,
}

# Results and metadata are cached on disk, shared by the web server's workers. Filter and
# explore state stay in the metadata database (Superset's default, needed for correctness).
_cache_dir = SUPERSET_HOME / "cache"
CACHE_CONFIG = {
    "CACHE_TYPE": "FileSystemCache",
    "CACHE_DIR": str(_cache_dir / "metadata"),
    "CACHE_DEFAULT_TIMEOUT": 3600,
    "CACHE_KEY_PREFIX": "cems_meta_",
}
DATA_CACHE_CONFIG = {
    "CACHE_TYPE": "FileSystemCache",
    "CACHE_DIR": str(_cache_dir / "data"),
    # The warehouse is rebuilt nightly; an hour keeps dashboards quick without going stale.
    "CACHE_DEFAULT_TIMEOUT": 3600,
    "CACHE_KEY_PREFIX": "cems_data_",
}

# Served on localhost over plain HTTP by `cems dashboards up`; behind TLS in production,
# set TALISMAN_ENABLED and SESSION_COOKIE_SECURE through a deployment config instead.
TALISMAN_ENABLED = os.environ.get("CEMS_SUPERSET_TALISMAN", "false").lower() == "true"
SESSION_COOKIE_SAMESITE = "Lax"


def _delta_extension() -> str | None:
    """DuckDB's delta extension as shipped by the duckdb-extension-delta wheel (offline)."""
    try:
        import duckdb_extension_delta
    except ImportError:
        return None
    found = sorted(
        Path(duckdb_extension_delta.__file__).parent.glob("extensions/*/delta.duckdb_extension")
    )
    return str(found[-1]) if found else None


_DELTA_EXTENSION = _delta_extension()


def DB_CONNECTION_MUTATOR(  # noqa: N802 (Superset's config name)
    uri: Any, params: dict[str, Any], username: str | None, security_manager: Any, source: Any
) -> tuple[Any, dict[str, Any]]:
    """Load DuckDB's delta extension into every warehouse connection.

    The dbt views over the churn-model tables (``stg_ml__*``) and the model-quality
    datasets read Delta tables through ``delta_scan``; without the extension loaded from
    its wheel, DuckDB would try to download it.
    """
    if _DELTA_EXTENSION and uri.drivername.startswith("duckdb"):
        connect_args = params.setdefault("connect_args", {})
        preload = list(connect_args.get("preload_extensions", []))
        quoted = f"'{_DELTA_EXTENSION}'"
        if quoted not in preload:
            preload.append(quoted)
        connect_args["preload_extensions"] = preload
    return uri, params
