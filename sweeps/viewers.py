"""Open a recorded sweep in the tools users already know: optuna-dashboard and TensorBoard.

Neither imports TensorFlow in this process: the dashboard reads Optuna's tables through
Optuna's storage, TensorBoard runs as its own program over the trials' event files. While it
serves, the dashboard's study note is the trial ranking (:mod:`sweeps.dashboard_note`). Only
sweeps' own lines reach the terminal: the web server's banner and its line per request, and
TensorBoard's start-up lines (TensorFlow's CUDA probe among them), are let through only when
``SWEEPS_TF_LOGS=1`` asks for them (:func:`sweeps.tf_logs.verbose`).
"""

from __future__ import annotations

import collections
import errno
import io
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from sweeps.artifacts import TENSORBOARD_FOLDER
from sweeps.errors import ConfigError
from sweeps.results import Study
from sweeps.tf_logs import verbose

__all__ = [
    "check_port",
    "dashboard_url",
    "run_tensorboard",
    "serve_dashboard",
    "tensorboard_command",
    "tensorboard_logdir",
]

LOCALHOST = "127.0.0.1"  # never exposed beyond this machine: the store may hold credentials
_MAX_PORT = 65535


def check_port(port: int) -> None:
    """Raise ConfigError unless ``port`` is one a server can listen on (1 to 65535; 0 would
    let the system pick one, and the URL printed could not name it)."""
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= _MAX_PORT:
        raise ConfigError(f"--port must be between 1 and {_MAX_PORT}, but got {port!r}.")


def dashboard_url(study: Study, port: int, host: str = LOCALHOST, *, note: bool = True) -> str:
    """The optuna-dashboard page of ``study`` served on ``host:port``; with ``note``, the
    page of its note: the ranking with every trial's val and test accuracy (the study page
    shows neither)."""
    page = f"http://{host}:{port}/dashboard/studies/{study.study_id}"
    return f"{page}/note" if note else page


def _check_port_free(host: str, port: int) -> None:
    check_port(port)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the server will: a port whose last connections linger in TIME_WAIT is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EACCES:
                raise ConfigError(
                    f"port {port} on {host} needs root privileges; pass a --port of 1024 or more."
                ) from None
            raise ConfigError(f"port {port} on {host} is in use; pass another --port.") from None


class _QuietRequestHandler(WSGIRequestHandler):
    """wsgiref's handler without its line per request; a request that fails is the
    browser's to show, not a traceback on the terminal."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        pass

    def get_stderr(self) -> io.StringIO:
        return io.StringIO()


class _QuietServer(WSGIServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a browser that hung up mid-reply, say: nothing the user can act on


def serve_dashboard(
    study: Study, port: int = 8080, ready: Callable[[str, bool], None] = print
) -> None:
    """Serve optuna-dashboard over the study's store on 127.0.0.1 until Ctrl-C.

    ``ready`` receives the URL to open once the server listens, and whether the study's note
    holds the trial ranking (kept current in a thread while the server runs; not on a store
    this process may not write, which is served read-only). Returns when the
    server stops (KeyboardInterrupt is the caller's to handle). Served with wsgiref, as
    optuna-dashboard's own ``run_server`` does, but without Bottle's banner and the line per
    request.

    Raises:
        ConfigError: optuna-dashboard is not installed (the message names the extra), or the
            port is out of range or taken.
    """
    try:
        import optuna_dashboard
    except ImportError:
        raise ConfigError(
            "sweeps dashboard needs optuna-dashboard: pip install 'sweeps[dashboard]'."
        ) from None
    import optuna

    from storage.engine import engine_options, read_only_options, store_writable
    from sweeps.dashboard_note import NoteKeeper
    from sweeps.tf_logs import quiet_optuna

    _check_port_free(LOCALHOST, port)
    quiet_optuna()
    url = study.url
    # A store this process may not write (a read-only folder, a colleague's file) is served
    # read-only, as the query commands read it, without the ranking note it cannot write.
    writable = store_writable(url)
    storage = optuna.storages.RDBStorage(
        url,
        engine_kwargs=engine_options(url) if writable else read_only_options(url),
        skip_table_creation=not writable,
    )
    loud = verbose()
    server = make_server(
        LOCALHOST,
        port,
        optuna_dashboard.wsgi(storage),
        server_class=WSGIServer if loud else _QuietServer,
        handler_class=WSGIRequestHandler if loud else _QuietRequestHandler,
    )
    stop = threading.Event()
    keeper = None
    if writable:
        note = NoteKeeper(study, storage)
        note.refresh()  # before the URL is printed: the first page shown has it
        keeper = threading.Thread(target=note.keep, args=(stop,), daemon=True)
        keeper.start()
    try:
        ready(dashboard_url(study, port, note=writable), writable)
        server.serve_forever()
    finally:
        stop.set()
        server.server_close()
        if keeper is not None:
            keeper.join(timeout=10)


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


def tensorboard_command(study: Study, port: int = 6006, *, check_free: bool = False) -> list[str]:
    """The command that shows ``study`` in TensorBoard on 127.0.0.1 (run it, or print it).

    Raises:
        ConfigError: the port is out of range (or, with ``check_free``, taken), or the study
            has no TensorBoard logs.
    """
    check_port(port)
    tensorboard = Path(sys.executable).with_name("tensorboard")
    program = str(tensorboard) if tensorboard.exists() else "tensorboard"
    logdir = tensorboard_logdir(study)
    if check_free:
        _check_port_free(LOCALHOST, port)
    return [
        program,
        "--logdir",
        str(logdir),
        "--host",
        LOCALHOST,
        "--port",
        str(port),
    ]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_tensorboard(command: list[str]) -> None:
    """Run TensorBoard (``command`` from :func:`tensorboard_command`) until it exits or Ctrl-C.

    Its output (TensorFlow's start-up lines, the CUDA probe's ``failed call to cuInit``, its
    own banner) is read and kept back, unless ``SWEEPS_TF_LOGS=1``; when it exits with an
    error, its last line is the message. TensorBoard is stopped with this process.

    Raises:
        ConfigError: TensorBoard is not installed, or it stopped with an error (the message
            quotes its last line).
        KeyboardInterrupt: Ctrl-C (or a signal the caller turns into it); TensorBoard is
            stopped first.
    """
    loud = verbose()
    env = dict(os.environ) if loud else {"TF_CPP_MIN_LOG_LEVEL": "3", **os.environ}
    output = None if loud else subprocess.PIPE
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT if output else None,
            text=True,
            errors="replace",
            env=env,
        )
    except FileNotFoundError:
        raise ConfigError(
            f"{command[0]!r} is not installed; pip install tensorboard, or run without --run "
            "to print the command."
        ) from None
    last: collections.deque[str] = collections.deque(maxlen=20)
    reader = None
    if process.stdout is not None:  # drained, so a full pipe never blocks TensorBoard
        reader = threading.Thread(target=last.extend, args=(process.stdout,), daemon=True)
        reader.start()
    try:
        code = process.wait()
    finally:
        _stop(process)
    if reader is not None:
        reader.join(timeout=5)
    if code != 0:
        lines = [line.strip() for line in last if line.strip()]
        said = f": {lines[-1]}" if lines else ""
        raise ConfigError(f"TensorBoard stopped with exit code {code}{said}")
