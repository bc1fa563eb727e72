"""Shared fixtures: real SQLite files, the real PostgreSQL server when given, the CLI in-process."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Ray clusters of the tests stay on loopback: without this Ray swaps 127.0.0.1 for the
# machine's external address (read when Ray is imported, so set before any test imports it).
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

REPO = Path(__file__).resolve().parents[1]
POSTGRES_ENV = "SWEEPS_TEST_POSTGRES_URL"


@pytest.fixture
def storage_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'sweeps.db'}"


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, *args: str):
    """Run the CLI in this process; returns click's Result (stdout, stderr, exit_code)."""
    from sweeps.cli import app

    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def sweeps_process(
    *args: str, cwd: Path, env: dict[str, str] | None = None, **kwargs
) -> subprocess.Popen:
    """The real `sweeps` command in its own process group (for signals and kills); ``env``
    adds to this process's environment (a :class:`~tests.orchestration_helpers.Pause`'s)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "sweeps", *map(str, args)],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        **kwargs,
    )


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh database per test on the PostgreSQL server named by $SWEEPS_TEST_POSTGRES_URL."""
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"set {POSTGRES_ENV}=postgresql://user@host:5432/db to run PostgreSQL tests")
    import sqlalchemy as sa

    name = f"sweeps_test_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    url = sa.engine.make_url(base).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as connection:
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()
