"""Hashes that say whether bad input changed anything recorded.

A SQLite store is hashed by its rows, never by its bytes: the file's bytes move whenever SQLite
checkpoints its write-ahead log into it, which a mere reader does when it closes the last
connection, so a byte hash of ``sweeps.db`` (or of its ``-wal``/``-shm`` side files) can differ
when nothing was written, or (with a WAL that holds the change) agree when something was.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

SQLITE_HEADER = b"SQLite format 3\x00"
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def store_rows(db: Path | str) -> str:
    """The store's logical content (every table's rows and schema), hashed."""
    connection = sqlite3.connect(db)
    try:
        return hashlib.sha256("\n".join(connection.iterdump()).encode()).hexdigest()
    finally:
        connection.close()


def _is_store(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(len(SQLITE_HEADER)) == SQLITE_HEADER


def folder_digest(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` by name with a hash: a SQLite store's rows, any other file's
    bytes. A store's side files are left out: what they hold is in its rows."""
    files = [path for path in sorted(folder.rglob("*")) if path.is_file()]
    stores = {path for path in files if _is_store(path)}
    side_files = {
        path.with_name(path.name + suffix) for path in stores for suffix in SQLITE_SIDE_FILES
    }
    return {
        str(path.relative_to(folder)): (
            store_rows(path) if path in stores else hashlib.sha256(path.read_bytes()).hexdigest()
        )
        for path in files
        if path not in side_files
    }
