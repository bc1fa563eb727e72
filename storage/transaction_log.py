"""Count this process's store transactions as they happen: by engine, by how each began, and
whether it wrote.

On SQLite a transaction that begins ``IMMEDIATE`` takes the write lock for its whole length,
so every other writer waits, even when it only read; a deferred one takes no lock until it
writes. The orchestration benchmark prints these counts for one trial, and a test holds a
trial to them: counted, not timed, so the figures mean the same on a busy machine.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

__all__ = ["Transaction", "TransactionLog", "counting_queries"]

# Statements that change the database; anything else only reads it.
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER")


@dataclass
class Transaction:
    engine: str  # the name given to its engine (see TransactionLog.name), else "other"
    immediate: bool = False  # began with SQLite's BEGIN IMMEDIATE: held the write lock
    wrote: bool = False
    statements: int = 0
    first: str = ""  # its first statement, to tell which code ran it

    @property
    def kind(self) -> str:
        """``ENGINE write`` or ``ENGINE read``, and ``(locked)`` for a read that held the
        write lock all the same."""
        if self.wrote:
            return f"{self.engine} write"
        return f"{self.engine} read{' (locked)' if self.immediate else ''}"


class TransactionLog:
    """A context manager that records every transaction any engine of this process runs.

    Engines are told apart by their pool (an engine made with ``execution_options()`` shares
    its parent's): name them with :meth:`name`, before or after they ran.
    """

    def __init__(self) -> None:
        self.transactions: list[tuple[int, Transaction]] = []  # (id of the pool, transaction)
        self._open: dict[int, tuple[int, Transaction]] = {}  # by id of the connection
        self._names: dict[int, str] = {}
        self._lock = threading.Lock()

    def name(self, engine: Engine, name: str) -> None:
        self._names[id(engine.pool)] = name

    def __enter__(self) -> TransactionLog:
        event.listen(Engine, "begin", self._begin)
        event.listen(Engine, "before_cursor_execute", self._statement)
        event.listen(Engine, "commit", self._end)
        event.listen(Engine, "rollback", self._end)
        return self

    def __exit__(self, *exc: Any) -> None:
        event.remove(Engine, "begin", self._begin)
        event.remove(Engine, "before_cursor_execute", self._statement)
        event.remove(Engine, "commit", self._end)
        event.remove(Engine, "rollback", self._end)

    def counts(self) -> Counter[str]:
        """Finished transactions by :attr:`Transaction.kind`, with their engines' names."""
        counts: Counter[str] = Counter()
        for pool, transaction in self.transactions:
            transaction.engine = self._names.get(pool, "other")
            counts[transaction.kind] += 1
        return counts

    def clear(self) -> None:
        with self._lock:
            self.transactions.clear()

    # Listeners --------------------------------------------------------------------------

    def _current(self, connection: Connection) -> Transaction:
        key = id(connection)
        if key not in self._open:
            self._open[key] = (id(connection.engine.pool), Transaction(engine="other"))
        return self._open[key][1]

    def _begin(self, connection: Connection) -> None:
        with self._lock:
            self._current(connection)

    def _statement(self, connection: Connection, _cursor, statement: str, *_: Any) -> None:
        # The hardened SQLite engine issues its own BEGIN from a "begin" listener, which may
        # run before ours: the transaction is opened by whichever comes first.
        words = statement.lstrip().split(None, 2)
        first = words[0].upper() if words else ""
        with self._lock:
            transaction = self._current(connection)
            if first == "BEGIN":
                transaction.immediate = len(words) > 1 and words[1].upper() == "IMMEDIATE"
                return
            transaction.statements += 1
            transaction.first = transaction.first or " ".join(statement.split())[:120]
            transaction.wrote = transaction.wrote or first in _WRITES

    def _end(self, connection: Connection) -> None:
        with self._lock:
            ended = self._open.pop(id(connection), None)
            if ended is not None:
                self.transactions.append(ended)


@contextlib.contextmanager
def counting_queries() -> Iterator[list[str]]:
    """The queries (SELECTs) any engine of this process runs in the block, in order: what the
    query-count benchmark prints and a test holds constant as a study grows (no query per
    trial or member)."""
    queries: list[str] = []

    def record(_connection: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip()[:6].upper() == "SELECT":
            queries.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield queries
    finally:
        event.remove(Engine, "before_cursor_execute", record)
