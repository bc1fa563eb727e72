"""Run one worker-side function in a spawned process and bring its result back.

Exporting, evaluating, ensembling and refitting a trial need TensorFlow, and so do the checks
before a sweep (the preflight, a sweep file's ranges, downloading a Keras dataset) and the
tunables ``sweeps spaces`` lists. They run in a child process started with ``spawn``, as
trials do: the caller (a CLI command, or a notebook kernel, which may hold TensorFlow already)
needs no TensorFlow of its own, keeps none of the worker's state and is never forked. Besides
the dispatcher's workers, this is the one way sweeps starts a Python process
(tests/test_layout.py checks it).

The function is named by a string, ``"sweeps.worker.export:export_model"``, and imported inside
the child: nothing outside ``sweeps/worker/`` imports the worker package (tests/test_layout.py
allows exactly this form, as the first argument of :func:`run_in_child`).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import re
import signal
import sys
from collections.abc import Iterator
from typing import Any

from sweeps.errors import SweepsError, TaskFailedError
from sweeps.tf_logs import import_quietly

__all__ = ["TaskFailedError", "run_in_child", "without_main_module"]

_TARGET = re.compile(r"sweeps\.worker\.\w+:\w+")


def _child(target: str, args: tuple, kwargs: dict[str, Any], results: Any) -> None:
    """The spawned process's body: import ``target``, call it, send back what came of it."""
    # The caller decides what Ctrl-C means (it stops this process); TensorFlow's C++ start-up
    # chatter is no use to anyone reading a one-line result.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("JOBLIB_MULTIPROCESSING", "0")  # as in a worker: no semaphores
    module_name, _, function_name = target.partition(":")
    try:
        # Most targets import TensorFlow with their module; the preflight imports it only
        # after the space, so a space reference that does not import is answered at once.
        function = getattr(import_quietly(module_name), function_name)
        message: tuple[str, Any] = ("result", function(*args, **kwargs))
    except SweepsError as exc:
        message = ("error", exc)  # ours: the same type and message on the caller's side
    except BaseException as exc:
        message = ("failed", _one_line(exc))
    try:
        results.send(message)
    except Exception as exc:  # the result or the error would not pickle
        results.send(("failed", f"its answer cannot be sent back: {_one_line(exc)}"))
    finally:
        results.close()


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}".strip()[:500]


@contextlib.contextmanager
def without_main_module() -> Iterator[None]:
    """Start spawned workers without re-running the caller's script.

    A spawned child normally re-imports ``__main__``: a user's script that calls
    ``sweeps.run()`` without an ``if __name__ == "__main__":`` guard would then start a sweep
    in every worker. The workers' target lives in this package and needs nothing from
    ``__main__``, so it is hidden from multiprocessing while the processes start.
    """
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    spec, file = getattr(main, "__spec__", None), getattr(main, "__file__", None)
    main.__spec__ = None  # multiprocessing reads both (spawn.get_preparation_data)
    if file is not None:
        del main.__file__
    try:
        yield
    finally:
        main.__spec__ = spec
        if file is not None:
            main.__file__ = file


def run_in_child(target: str, *args: Any, **kwargs: Any) -> Any:
    """Call ``target`` (``"sweeps.worker.MODULE:FUNCTION"``) in a spawned process; return its
    result. Arguments and the result travel pickled.

    Ctrl-C (KeyboardInterrupt) stops the child at once and is raised again here.

    Raises:
        SweepsError: (any subclass, SpaceError among them) the task's own error, same type
            and message.
        TaskFailedError: any other failure of the task, or the child died without answering.
    """
    if not _TARGET.fullmatch(target):
        raise ValueError(f"target must be 'sweeps.worker.MODULE:FUNCTION', but got {target!r}.")
    context = mp.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(
        target=_child, args=(target, args, kwargs, sender), name=f"sweeps-{target}", daemon=True
    )
    with without_main_module():  # the caller's script must not re-run
        process.start()
    sender.close()  # only the child writes; our copy would keep the pipe open after it dies
    try:
        message = _receive(receiver, process)
    except BaseException:
        process.kill()
        raise
    finally:
        process.join()
        receiver.close()
    if message is None:
        raise TaskFailedError(
            f"{target} died without an answer (exit code {process.exitcode}); "
            "it may have run out of memory",
            reason=f"the process died without an answer (exit code {process.exitcode})",
            exit_code=process.exitcode,
        )
    kind, value = message
    if kind == "result":
        return value
    if kind == "error":
        raise value
    raise TaskFailedError(f"{target} failed: {value}", reason=value)


def _receive(receiver: Any, process: Any) -> tuple[str, Any] | None:
    """The child's one message, or None once it has died without sending one."""
    while True:
        if receiver.poll(0.2):
            try:
                return receiver.recv()
            except EOFError:
                return None
        if not process.is_alive() and not receiver.poll(0):
            return None
