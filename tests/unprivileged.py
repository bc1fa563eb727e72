"""Run CLI commands without root's file-mode override, for the tests of read-only places.

Root ignores file modes, so a test that makes a folder read-only proves nothing as root. The
interpreter lives under /root (mode 700), out of reach of an unprivileged user, so instead of
switching user the commands run in a child whose capabilities lack the override
(CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER): it keeps uid 0, but a folder or file of
mode 555 / 444 is then read-only to it, as to anyone. As a non-root user no dropping is needed.

The commands run in-process in that one child (typer's CliRunner), one after another, so a
table of cases costs one interpreter start; the child also reports the listing of the
watched folders after each command.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

DROP_OVERRIDE = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"]

_DRIVER = r"""
import json, os, sys
from typer.testing import CliRunner
from sweeps.cli import app

plan = json.loads(sys.argv[1])
probe = plan.get("probe")
if probe:  # the override must really be gone, or every check below is vacuous
    try:
        open(probe, "w").close()
    except PermissionError:
        pass
    else:
        os.remove(probe)
        sys.exit("the file-mode override is still in effect: " + probe + " was writable")


def listing(folder):
    return sorted(
        (str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns)
        for p in __import__("pathlib").Path(folder).rglob("*")
    )


runner = CliRunner()
results = []
for case in plan["cases"]:
    os.chdir(case.get("cwd") or plan["cwd"])
    result = runner.invoke(app, case["argv"])
    crash = result.exception if not isinstance(result.exception, SystemExit) else None
    results.append(
        {
            "argv": case["argv"],
            "code": result.exit_code,
            "stdout": result.stdout,
            "stderr": result.stderr,
            "crash": repr(crash) if crash else None,
            "watched": {w: listing(w) for w in plan.get("watch", [])},
        }
    )
print("RESULTS" + json.dumps(results))
"""


def available() -> bool:
    return os.geteuid() != 0 or shutil.which("setpriv") is not None


needs_setpriv = pytest.mark.skipif(
    not available(), reason="running as root without setpriv to drop the file-mode override"
)


def run_commands(
    cases: list[dict[str, Any]],
    cwd: Path,
    *,
    probe: Path | None = None,
    watch: list[Path] = (),
    timeout: float = 600,
) -> list[dict[str, Any]]:
    """Run each case (``{"argv": [...], "cwd": optional}``) as `sweeps ARGV` without the
    override; ``probe`` is a path in a read-only folder that must not be writable."""
    plan = {
        "cases": [{**c, "argv": [str(a) for a in c["argv"]]} for c in cases],
        "cwd": str(cwd),
        "probe": str(probe) if probe else None,
        "watch": [str(w) for w in watch],
    }
    prefix = DROP_OVERRIDE if os.geteuid() == 0 else []
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [*prefix, sys.executable, "-c", _DRIVER, json.dumps(plan)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0 and "RESULTS" in done.stdout, done.stdout + done.stderr
    return json.loads(done.stdout.split("RESULTS", 1)[1])


def listing(folder: Path) -> list[tuple[str, int, int]]:
    """Every entry under ``folder`` (itself included) with its size and mtime."""
    entries = [folder, *folder.rglob("*")]
    return sorted(
        (str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns) for p in entries
    )


def make_read_only(*paths: Path) -> None:
    """Folders to 555, files to 444 (the tmp folders above stay traversable)."""
    for path in paths:
        path.chmod(0o555 if path.is_dir() else 0o444)
