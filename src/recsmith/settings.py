"""Runtime settings: one pydantic-settings class, read once at each entry point.

Every production component is reachable by configuration (env prefix ``RECSMITH_``); the defaults are the
embedded ones: a SQLite catalog and event store, and a local folder for data and MLflow, all under ``home``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:  # models.base imports pandas: settings are read by every process, most never fit a recipe
    from models.base import Compute


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
        default=2.0,
        gt=0.0,
        description="How often a serving worker checks its campaign's target model version and reports itself, "
        "and how often the campaign controller polls the registry.",
    )
    campaign_worker_ttl_seconds: float = Field(
        default=10.0,
        gt=0.0,
        description="A serving worker whose last report is older than this is dead: the campaign controller stops "
        "waiting for it (a killed worker delays an update by at most this long).",
    )
    campaign_activation_delay_seconds: float = Field(
        default=2.0,
        ge=0.0,
        description="How far ahead the controller schedules the switch to a committed version (at least two worker "
        "polls more), so that every worker has read the commit before the first one serves the new version.",
    )
    campaign_update_timeout_seconds: float = Field(
        default=600.0,
        gt=0.0,
        description="An update whose workers have neither loaded nor failed the new version by then is CREATE FAILED.",
    )
    campaign_update_retry_seconds: float = Field(
        default=300.0,
        ge=0.0,
        description="How long an AUTO campaign waits before trying again a production version that failed to load.",
    )
    controller_lease_seconds: float = Field(
        default=15.0,
        gt=0.0,
        description="How long the campaign controller's lease lasts unrenewed: if its leader dies, another process "
        "takes over after at most this long.",
    )
    campaign: str | None = Field(
        default=None, description="The campaign (ARN or name) a BentoML campaign server (serving.service) serves."
    )
    serving_workers: int = Field(default=1, ge=1, description="Worker processes of a BentoML campaign server.")
    serving_access_log: bool = Field(
        default=True, description="Per-request access log of a campaign server (off saves a log line per request)."
    )
    serving_tracing: bool = Field(
        default=False,
        description="Trace GetRecommendations and GetPersonalizedRanking with OpenTelemetry in a campaign server.",
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
    forecast_max_parallel: int | None = Field(
        default=None, ge=1, description="Most forecasting algorithms a predictor trains at once; default one per core."
    )
    forecast_neural_batches: int | None = Field(
        default=None,
        ge=1,
        description="Training batches of the neural forecasters (DeepAR+, CNN-QR) when a predictor does not set "
        "them; default each algorithm's own (600 and 800). Fewer trade accuracy for time.",
    )
    dvc_remote: str | None = Field(
        default=None, description="DVC remote URL (a folder, s3://...) that push-data-versions pushes to."
    )
    server_key: SecretStr | None = Field(
        default=None,
        description="Key that encrypts access-key secrets in the catalog (Fernet, urlsafe base64 of 32 bytes); "
        "unset, a key file home/server.key is created at first use (mode 0600).",
    )
    api_clock_skew_seconds: int = Field(
        default=900, ge=1, description="How far a SigV4 request's X-Amz-Date may lie from the server's clock."
    )
    api_max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="Largest request body `recsmith serve` reads; larger is a 413."
    )
    executor: Literal["local", "airflow"] = Field(
        default="local",
        description="What runs jobs (imports, exports, trainings, batch jobs): 'local', a pool of worker processes "
        "that `recsmith serve` or `recsmith run-jobs` starts; 'airflow', runs of the matching DAGs.",
    )
    job_workers: int = Field(
        default=2, ge=1, description="Worker processes of the local job pool: jobs running at once; the rest wait."
    )
    job_poll_seconds: float = Field(
        default=1.0,
        gt=0.0,
        description="How often the local job pool looks for jobs other processes queued, for stop requests and "
        "for workers that ended. Jobs submitted in the pool's own process start at once.",
    )

    device: str | None = Field(
        default=None,
        description="Torch device recipes train on (cpu, cuda, cuda:1); default CUDA when a GPU is visible, else CPU.",
    )
    torch_threads: int = Field(
        default=0, ge=0, description="Torch threads a training uses; 0 lets each recipe choose (one on small data)."
    )

    def compute(self) -> Compute:
        """Where recipes train, as the recipes take it (they never read the environment themselves)."""
        from models.base import Compute

        return Compute(device=self.device, torch_threads=self.torch_threads)

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
