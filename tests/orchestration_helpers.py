"""Read a store while real sweep processes write it."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa


def query(url: str, sql: str, **params: Any) -> list[tuple]:
    """Rows of ``sql`` (named :params), or [] while the tables do not exist yet."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(r) for r in connection.execute(sa.text(sql), params)]
    except (sa.exc.OperationalError, sa.exc.ProgrammingError, sqlite3.OperationalError):
        return []
    finally:
        engine.dispose()


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def finished(url: str, study: str) -> int:
    rows = query(
        url,
        "SELECT count(*) FROM trials JOIN studies USING (study_id) WHERE "
        "study_name = :study AND state IN ('COMPLETE', 'PRUNED')",
        study=study,
    )
    return rows[0][0] if rows else 0


def results(url: str) -> dict[int, dict[str, Any]]:
    columns = (
        "number",
        "status",
        "retry_of",
        "resumed_from_epoch",
        "epochs_run",
        "failure_reason",
        "trial_id",
    )
    rows = query(url, f"SELECT {', '.join(columns)} FROM sweeps_trial_result")
    return {row[0]: dict(zip(columns, row, strict=True)) for row in rows}
