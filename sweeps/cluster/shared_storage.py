"""What every node of a sweep must share with the driver: the store and the checkpoints.

A trial lost with its node continues from its checkpoint on another node, so the artifacts
folder must be one folder that every node sees. A folder of the same name on each node's own
disk would pass a check that it exists; so the driver writes a token into the study's folder and
each actor reads it back before its first trial. SQLite is one file on one host; across hosts
it needs a network file system that SQLite's locking does not survive, so it is refused.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from sweeps.errors import ConfigError
from sweeps.phrasing import option, setting

__all__ = ["SharedChecks", "absolute_sqlite_url", "check_sqlite_hosts", "mark_shared_folder"]

MARKER = ".sweeps-shared"
_POSTGRES_HINT = "postgresql://USER@HOST/DB"


def _is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def absolute_sqlite_url(url: str) -> str:
    """``url`` with a relative SQLite path made absolute: an actor's working folder is Ray's,
    not the driver's."""
    parsed = make_url(url)
    database = parsed.database or ""
    if not _is_sqlite(url) or database.startswith("file:") or Path(database).is_absolute():
        return url
    absolute = parsed.set(database=str(Path(database).expanduser().resolve()))
    return absolute.render_as_string(hide_password=False)


def check_sqlite_hosts(url: str, hosts: set[str]) -> None:
    """Refuse a SQLite store when the sweep's workers (and its driver) span several hosts."""
    if _is_sqlite(url) and len(hosts) > 1:
        raise ConfigError(
            f"SQLite works on one host, but this sweep's Ray workers run on {len(hosts)} hosts "
            f"({', '.join(sorted(hosts))}); use PostgreSQL: "
            f"{setting('--storage', _POSTGRES_HINT)}."
        )


def mark_shared_folder(folder: Path) -> str:
    """The token in ``folder`` for the actors to read back, written once per folder: every
    driver of the study (``run``, ``resume``, ``worker --ray``) finds the same one, so one
    driver's actors never fail on a token another driver rewrote."""
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / MARKER
    try:
        with marker.open("x") as new:  # only the first driver writes it
            new.write(secrets.token_hex(16))
    except FileExistsError:
        pass
    return marker.read_text()


@dataclass(frozen=True)
class SharedChecks:
    """What an actor checks before its first trial, from the node it landed on.

    Made by the driver (:meth:`written`), so the messages name settings in the driver's words
    (flags under the CLI, keywords in Python) although an actor phrases them.
    """

    folder: str  # the study's checkpoint folder, as the driver sees it
    token: str  # what the driver wrote there
    driver_host: str
    storage_url: str
    use_postgres: str = ""  # "--storage postgresql://..." or "storage='postgresql://...'"
    artifacts: str = ""  # "--artifacts" or "artifacts"

    @classmethod
    def written(cls, folder: Path, driver_host: str, storage_url: str) -> SharedChecks:
        """Mark ``folder`` for the actors and return what they must check."""
        return cls(
            str(folder),
            mark_shared_folder(folder),
            driver_host,
            storage_url,
            use_postgres=setting("--storage", _POSTGRES_HINT),
            artifacts=option("--artifacts"),
        )

    def problem(self, node_label: str, node_host: str) -> str | None:
        """Why a worker on this node cannot take part, in one line; None when it can."""
        if _is_sqlite(self.storage_url) and node_host != self.driver_host:
            return (
                f"Ray node {node_label} is on another host than the sweep's SQLite store "
                f"({self.driver_host}); use PostgreSQL: {self.use_postgres}"
            )
        try:
            seen = (Path(self.folder) / MARKER).read_text()
        except OSError:
            seen = None
        if seen != self.token:
            return (
                f"the artifacts folder {self.folder} is not visible from Ray node {node_label}: "
                "checkpoints must be on storage every node sees at the same path; mount it "
                f"there, or give a shared folder with {self.artifacts}"
            )
        return None
