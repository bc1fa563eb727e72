"""Open a recorded sweep in the tools users already know: optuna-dashboard and TensorBoard.

Neither imports TensorFlow in this process: the dashboard reads Optuna's tables through
Optuna's storage, TensorBoard runs as its own program over the trials' event files.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from pathlib import Path

from sweeps.artifacts import TENSORBOARD_FOLDER
from sweeps.errors import ConfigError
from sweeps.results import Study

__all__ = ["dashboard_url", "serve_dashboard", "tensorboard_command", "tensorboard_logdir"]

LOCALHOST = "127.0.0.1"  # never exposed beyond this machine: the store may hold credentials


def dashboard_url(study: Study, port: int, host: str = LOCALHOST) -> str:
    """The optuna-dashboard page of ``study`` served on ``host:port``."""
    return f"http://{host}:{port}/dashboard/studies/{study.study_id}"


def _check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the server will: a port whose last connections linger in TIME_WAIT is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            raise ConfigError(f"port {port} on {host} is in use; pass another --port.") from None


def serve_dashboard(study: Study, port: int = 8080, ready: Callable[[str], None] = print) -> None:
    """Serve optuna-dashboard over the study's store on 127.0.0.1 until Ctrl-C.

    ``ready`` receives the study's URL once the port is known to be free. Returns when the
    server stops (KeyboardInterrupt is the caller's to handle).

    Raises:
        ConfigError: optuna-dashboard is not installed (the message names the extra), or the
            port is taken.
    """
    try:
        import optuna_dashboard
    except ImportError:
        raise ConfigError(
            "sweeps dashboard needs optuna-dashboard: pip install 'sweeps[dashboard]'."
        ) from None
    import optuna

    from storage.engine import engine_options

    if not 0 < port < 65536:
        raise ConfigError(f"--port must be between 1 and 65535, but got {port!r}.")
    _check_port_free(LOCALHOST, port)
    url = study.url
    storage = optuna.storages.RDBStorage(url, engine_kwargs=engine_options(url))
    ready(dashboard_url(study, port))
    optuna_dashboard.run_server(storage, host=LOCALHOST, port=port)


def tensorboard_logdir(study: Study) -> Path:
    """The folder TensorBoard reads: the study's artifacts, one run per trial.

    Raises:
        ConfigError: the folder holds no event files (the study ran with ``--no-tensorboard``,
            no trial has started, or the artifacts live on another machine).
    """
    folder = study.artifacts_folder / TENSORBOARD_FOLDER
    if not any(folder.glob("*/events.out.tfevents.*")):
        raise ConfigError(
            f"study {study.name!r} has no TensorBoard logs in {str(folder)!r}: it ran with "
            "--no-tensorboard, no trial has started yet, or its artifacts are on another "
            "machine (mount them at the same path)."
        )
    return folder


def tensorboard_command(study: Study, port: int = 6006) -> list[str]:
    """The command that shows ``study`` in TensorBoard on 127.0.0.1 (run it, or print it)."""
    tensorboard = Path(sys.executable).with_name("tensorboard")
    program = str(tensorboard) if tensorboard.exists() else "tensorboard"
    return [
        program,
        "--logdir",
        str(tensorboard_logdir(study)),
        "--host",
        LOCALHOST,
        "--port",
        str(port),
    ]
