"""One validated settings class: every path and URL CEMS uses comes from here.

Values come from the environment (prefix ``CEMS_``) or a ``.env`` file. All state lives
under ``CEMS_HOME`` (default ``./.cems``); each location can be pointed elsewhere
(PostgreSQL, object storage, a Spark cluster) by setting alone.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime configuration for every CEMS component."""

    model_config = SettingsConfigDict(
        env_prefix="CEMS_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    environment: str = Field("development", pattern="^(development|test|production)$")
    home: Path = Field(Path(".cems"), description="Root folder for all local state.")

    # Where each kind of state lives; empty means "under home".
    landing_root: str = ""
    lakehouse_root: str = ""
    warehouse_path: str = ""
    mlflow_tracking_uri: str = Field(
        "", description="MLflow tracking and registry; SQLite under home by default."
    )
    mlflow_artifact_root: str = Field(
        "", description="Where MLflow stores model artifacts; a folder under home by default."
    )
    ml_train_weekday: int = Field(
        6, ge=0, le=6, description="Weekday (Monday 0) whose nightly run retrains the model."
    )
    crm_database_url: str = Field(
        "", description="Operational CRM database (SQLAlchemy URL); SQLite under home by default."
    )
    serving_database_url: str = Field(
        "",
        description="Operational and serving database of the API (SQLAlchemy URL); SQLite under "
        "home by default, e.g. postgresql+psycopg://user@host/cems at scale.",
    )
    database_sslmode: str = Field(
        "",
        pattern="^(|disable|allow|prefer|require|verify-ca|verify-full)$",
        description="PostgreSQL sslmode for the serving database (empty: the URL decides).",
    )
    database_sslrootcert: str = Field(
        "",
        description="CA certificate (PEM) that verify-ca / verify-full check the server against.",
    )
    database_pool_size: int = Field(
        10, ge=1, description="Connections each API worker keeps open to the serving database."
    )
    database_max_overflow: int = Field(
        20, ge=0, description="Extra connections a worker may open under bursts."
    )
    api_gc_young_threshold: int = Field(
        50_000,
        ge=0,
        description="Allocations between two collections of Python's youngest generation in "
        "each API worker (Python's own default is 700); the objects built at start-up are "
        "also frozen out of the collector. 0 leaves Python's collector as it is.",
    )
    database_pool_recycle_seconds: int = Field(
        1800,
        ge=60,
        description="API connections older than this are replaced at their next checkout "
        "(below any idle timeout of a firewall or proxy between the API and the database).",
    )

    # Encryption at rest of personal columns in the operational database (issue 7).
    key_provider: str = Field(
        "local-file",
        description="Key-encryption-key provider: 'local-file' or 'package.module:Class' "
        "(for example a cloud KMS adapter).",
    )
    key_file: str = Field(
        "", description="Key-encryption keys of the local-file provider; 0600 under home."
    )

    serving_usage_days: int = Field(
        35, ge=1, description="Days of daily usage records published to the serving tables."
    )

    # Superset (dashboards/, its own environment; `cems dashboards`).
    superset_home: str = Field("", description="Superset's state; <home>/superset by default.")
    superset_metadata_url: str = Field(
        "", description="Superset's own metadata database; SQLite in superset_home by default."
    )
    superset_secret_key: str = Field(
        "", description="Signs Superset sessions; generated and kept 0600 outside production."
    )
    superset_admin_username: str = "admin"
    superset_admin_password: str = Field(
        "", description="Generated and kept 0600 in superset_home outside production."
    )
    superset_admin_email: str = "admin@cems.invalid"
    superset_port: int = Field(8088, ge=1, le=65535)
    superset_workers: int = Field(2, ge=1)
    superset_warehouse_uri: str = Field(
        "",
        description="What the dashboards query; duckdb:///<warehouse_path> (read-only) by default.",
    )

    # API service: sessions, MFA and lockout (issue 6).
    staff_session_hours: float = Field(
        12, gt=0, description="A staff session ends this long after sign-in, whatever happens."
    )
    staff_idle_minutes: float = Field(30, gt=0, description="Staff sessions end after this idle.")
    customer_session_hours: float = Field(24 * 30, gt=0)
    customer_idle_hours: float = Field(24 * 7, gt=0)
    step_up_minutes: float = Field(
        15, gt=0, description="Sensitive data needs an MFA check this recent."
    )
    login_max_failures: int = Field(5, ge=1, description="Failed sign-ins before lockout.")
    login_lockout_minutes: float = Field(15, gt=0)
    login_rate_per_minute: int = Field(
        30, ge=1, description="Sign-in attempts allowed per source address per minute."
    )
    webauthn_rp_id: str = Field("localhost", description="Passkey relying party id (a domain).")
    webauthn_rp_name: str = "CEMS"
    webauthn_origins: str = Field(
        "http://localhost:8000",
        description="Comma-separated origins the passkey ceremonies may come from.",
    )
    audit_key_file: str = Field(
        "", description="HMAC key that chains the audit log; a 0600 file under home by default."
    )
    audit_retention_years: int = Field(
        5, ge=5, description="Audit entries younger than this can never be deleted."
    )
    dbt_target: str = Field(
        "duckdb", pattern="^(duckdb|spark)$", description="dbt target that builds the gold marts."
    )
    airflow_home: str = ""
    airflow_database_url: str = Field(
        "", description="Airflow metadata database; SQLite under airflow_home by default."
    )
    spark_master: str = "local[*]"
    spark_shuffle_partitions: int = Field(
        8, ge=1, description="Shuffle partitions (raise on a cluster)."
    )
    delta_snapshot_partitions: int = Field(
        2,
        ge=1,
        description=(
            "Partitions of a Delta table's cached file list. Every commit and every read "
            "rebuilds or scans it; raise it only for tables of hundreds of thousands of files."
        ),
    )

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        home = self.home
        self.landing_root = self.landing_root or str(home / "landing")
        self.lakehouse_root = self.lakehouse_root or str(home / "lakehouse")
        self.warehouse_path = self.warehouse_path or str(home / "warehouse" / "cems.duckdb")
        # MLflow 3 keeps its file store in maintenance mode: the embedded default is SQLite.
        self.mlflow_tracking_uri = (
            self.mlflow_tracking_uri or f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"
        )
        self.mlflow_artifact_root = (
            self.mlflow_artifact_root or (home / "mlflow" / "artifacts").as_uri()
        )
        self.crm_database_url = self.crm_database_url or f"sqlite:///{home / 'sources' / 'crm.db'}"
        self.airflow_home = self.airflow_home or str(home / "airflow")
        self.airflow_database_url = (
            self.airflow_database_url or f"sqlite:///{Path(self.airflow_home) / 'airflow.db'}"
        )
        self.serving_database_url = (
            self.serving_database_url or f"sqlite:///{home / 'serving' / 'serving.db'}"
        )
        self.audit_key_file = self.audit_key_file or str(home / "keys" / "audit.key")
        self.key_file = self.key_file or str(home / "keys" / "kek.json")
        if self.environment == "production":
            self._refuse_insecure_defaults()
        return self

    def _refuse_insecure_defaults(self) -> None:
        insecure = [o for o in self.origin_list if not o.startswith("https://")]
        if insecure:
            raise ValueError(f"webauthn_origins must be https:// in production, not {insecure}")
        if self.webauthn_rp_id == "localhost":
            raise ValueError("webauthn_rp_id must be the operator's domain in production")

    @property
    def origin_list(self) -> list[str]:
        """The allowed passkey origins, parsed."""
        return [o.strip() for o in self.webauthn_origins.split(",") if o.strip()]

    @property
    def landing_path(self) -> Path:
        """The landing zone as a local path (files dropped by source systems)."""
        return Path(self.landing_root)

    @property
    def generated_path(self) -> Path:
        """Generator metadata: manifest, checksums and ground truth (never read by pipelines)."""
        return self.home / "generated"

    @property
    def gold_root(self) -> str:
        """Gold marts published as Delta tables (``<gold_root>/<mart>``)."""
        return f"{self.lakehouse_root.rstrip('/')}/gold"

    @property
    def logs_path(self) -> Path:
        return self.home / "logs"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
