"""Read a store while real sweep processes write it, and stop those processes on events.

A query that fails raises: a locked database or a typo in the SQL fails the test instead of
reading as "no rows". Tests wait for the store's tables by waiting for an event that comes
after them (a paused trial, see :class:`Pause`), never by polling a query until it works.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

# sweeps/worker/trainer.py's names, spelled out: importing it would import TensorFlow here.
PAUSE_AFTER_EPOCH_ENV = "SWEEPS_TEST_PAUSE_AFTER_EPOCH"
PAUSE_FILE_ENV = "SWEEPS_TEST_PAUSE_FILE"


def query(url: str, sql: str, **params: Any) -> list[tuple]:
    """Rows of ``sql`` (named :params)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(r) for r in connection.execute(sa.text(sql), params)]
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
    ((count,),) = query(
        url,
        "SELECT count(*) FROM trials JOIN studies USING (study_id) WHERE "
        "study_name = :study AND state IN ('COMPLETE', 'PRUNED')",
        study=study,
    )
    return count


def results(url: str) -> dict[int, dict[str, Any]]:
    """Our result rows by trial number, each with its status (derived as every query derives
    it: storage.trial_status)."""
    from storage.tables import TrialResult
    from storage.trial_status import status_column, with_status

    r = TrialResult
    columns = (r.number, status_column(), r.retry_of, r.resumed_from_epoch, r.epochs_run)
    columns += (r.failure_reason, r.trial_id)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            result = connection.execute(with_status(sa.select(*columns), r.trial_id))
            names = list(result.keys())
            return {row[0]: dict(zip(names, row, strict=True)) for row in result}
    finally:
        engine.dispose()


class Pause:
    """The trainer's test pause (``sweeps/worker/trainer.py``): the first trial to record
    epoch ``epoch`` writes its pid to a marker file and waits until the test releases it.

    Pass :attr:`env` to the process that starts the workers; :meth:`wait` returns
    ``(pid, trial_number, epoch)`` of the paused worker once it is paused.
    """

    def __init__(self, folder: Path, epoch: int):
        self.marker = folder / "paused"
        self.env = {PAUSE_AFTER_EPOCH_ENV: str(epoch), PAUSE_FILE_ENV: str(self.marker)}

    def wait(self, timeout: float = 300, process: subprocess.Popen | None = None):
        def paused():
            if process is not None and process.poll() is not None:
                raise AssertionError(f"the sweep exited ({process.returncode}) before pausing")
            return self.marker.exists() and self.marker.read_text()

        pid, number, epoch = wait_for(paused, timeout, "a paused trial").split()
        return int(pid), int(number), int(epoch)

    def release(self) -> None:
        Path(f"{self.marker}.release").touch()


class Output:
    """Collects a process's output as it comes, so a test can wait for a line in it."""

    def __init__(self, process: subprocess.Popen):
        self.process, self.lines = process, []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)

    def wait_for(self, text: str, timeout: float = 120) -> None:
        wait_for(lambda: text in self.text, timeout, f"{text!r} in the output")

    def finish(self, timeout: float) -> str:
        self.process.wait(timeout=timeout)
        self.thread.join(timeout=10)
        return self.text

    @property
    def text(self) -> str:
        return "".join(self.lines)


def kill_group(process: subprocess.Popen) -> None:
    """Kill a process started in its own session, with every worker it spawned: a test that
    fails while a worker is paused must not leave that worker waiting forever."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=30)
