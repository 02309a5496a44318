"""Shared fixtures: a platform on embedded stores in a temporary folder, and the generated sample."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from recsmith.data.sample import SampleFiles, generate_sample
from recsmith.platform import Platform
from recsmith.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[1]
MOVIELENS = REPO_ROOT.parent / "shared" / "data" / "ml-latest-small"


def make_platform(home: Path) -> Platform:
    """A platform whose catalog, event store, data and MLflow all live under ``home``."""
    return Platform(Settings(home=home))


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    built = make_platform(tmp_path / "home")
    yield built
    if "catalog" in built.__dict__:
        built.catalog.dispose()
    if "events" in built.__dict__:
        built.events.dispose()


@pytest.fixture(scope="session")
def sample_files(tmp_path_factory: pytest.TempPathFactory) -> SampleFiles:
    """The deterministic sample the demo uses (300 users, 240 items)."""
    return generate_sample(tmp_path_factory.mktemp("sample"))


def _postgres_database(base_url: str) -> Iterator[str]:
    """A fresh database on the PostgreSQL server of ``base_url``, dropped afterwards."""
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"recsmith_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each catalog and event-store test runs on SQLite and, where RECSMITH_TEST_POSTGRES_URL is set, PostgreSQL."""
    import os

    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    base = os.environ.get("RECSMITH_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("RECSMITH_TEST_POSTGRES_URL is unset (CI sets it; PostgreSQL tests run there)")
    yield from _postgres_database(base.replace("postgresql://", "postgresql+psycopg://", 1))
