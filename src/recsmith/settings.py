"""Runtime settings: one pydantic-settings class, read once at each entry point.

Every production component is reachable by configuration (env prefix ``RECSMITH_``); the defaults are the
embedded ones: a SQLite catalog and event store, and a local folder for data and MLflow, all under ``home``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where recsmith keeps its state, and how resources are named."""

    model_config = SettingsConfigDict(env_prefix="RECSMITH_", frozen=True, extra="ignore")

    home: Path = Field(default=Path(".recsmith"), description="Root folder of the embedded stores.")
    catalog_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the catalog; default a SQLite file under home."
    )
    event_store_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the event store; default a SQLite (WAL) file under home."
    )
    mlflow_tracking_uri: str | None = Field(
        default=None, description="MLflow tracking URI; default a SQLite store under home."
    )
    mlflow_artifact_root: str | None = Field(
        default=None, description="Where MLflow writes artifacts of new experiments; default home/mlartifacts."
    )
    region: str = Field(default="us-east-1", description="Region in every ARN.")
    account_id: str = Field(default="000000000000", description="Account id in every ARN.")
    campaign_poll_seconds: float = Field(
        default=2.0, description="How often a serving worker checks its campaign's target model version."
    )
    filter_data_check_seconds: float = Field(
        default=1.0,
        ge=0.0,
        description="How long filters trust the data version they last read before asking the catalog again: a "
        "new import reaches filters within this many seconds (PutEvents, PutItems and PutUsers at the next "
        "request). 0 asks on every request, which costs a catalog query per filtered request.",
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="S3 endpoint (MinIO, a local gateway); default AWS's own endpoint for the region."
    )
    aws_access_key_id: str | None = Field(
        default=None, description="S3 access key; unset, boto3's default credential chain applies."
    )
    aws_secret_access_key: SecretStr | None = Field(
        default=None, description="S3 secret key; unset, boto3's default credential chain applies."
    )
    aws_region: str | None = Field(default=None, description="Region of the S3 client; default ``region``.")
    import_write_quota_bytes: int | None = Field(
        default=None,
        description="Most bytes one import job may write; beyond it the write fails with ENOSPC (a small disk).",
    )
    import_future_tolerance_seconds: int = Field(
        default=86_400,
        description="How far past now a timestamp may lie before it is refused: an imported TIMESTAMP or "
        "CREATION_TIMESTAMP, a PutEvents sentAt, a PutItems creationTimestamp (one tolerance for every path).",
    )
    import_part_rows: int = Field(
        default=1_000_000, description="Rows per Parquet part of a data version (INCREMENTAL rewrites whole parts)."
    )
    dvc_track: bool = Field(default=True, description="Record each data version in DVC (dvc init --no-scm).")
    dvc_remote: str | None = Field(
        default=None, description="DVC remote URL (a folder, s3://...) that push-data-versions pushes to."
    )

    @property
    def resolved_home(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def resolved_aws_region(self) -> str:
        return self.aws_region or self.region

    @property
    def data_root(self) -> Path:
        return self.resolved_home / "data"

    def resolved_catalog_url(self) -> str:
        return self.catalog_url or f"sqlite:///{self.resolved_home / 'catalog.db'}"

    def resolved_event_store_url(self) -> str:
        return self.event_store_url or f"sqlite:///{self.resolved_home / 'events.db'}"

    def resolved_mlflow_tracking_uri(self) -> str:
        return self.mlflow_tracking_uri or f"sqlite:///{self.resolved_home / 'mlflow.db'}"

    def resolved_mlflow_artifact_root(self) -> str:
        return self.mlflow_artifact_root or (self.resolved_home / "mlartifacts").as_uri()


def load_settings() -> Settings:
    """Read the settings from the environment; called once by each entry point."""
    return Settings()
