"""The store: our SQLAlchemy tables beside Optuna's, and the queries that rank them.

Never imports TensorFlow, so the query commands answer quickly.
"""

from __future__ import annotations

from storage.engine import (
    StorageURLError,
    check_reachable,
    create_engine,
    mask_url,
    normalize_url,
    session_scope,
)
from storage.tables import (
    FAULTS,
    FINISHED,
    TRAINED,
    Base,
    EpochMetric,
    Sweep,
    TrialResult,
    TrialStatus,
    WorkerRecord,
    WorkerState,
)

__all__ = [
    "FAULTS",
    "FINISHED",
    "TRAINED",
    "Base",
    "EpochMetric",
    "StorageURLError",
    "Sweep",
    "TrialResult",
    "TrialStatus",
    "WorkerRecord",
    "WorkerState",
    "check_reachable",
    "create_engine",
    "mask_url",
    "normalize_url",
    "session_scope",
]
