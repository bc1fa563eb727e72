"""A real headless Chromium for the viewer tests (Debian's, driven by Playwright), and what a
user sees in it at first: elements inside the window, without scrolling or clicking."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def require_browser(needs: dict[str, bool] | None = None) -> None:
    """Skip the test, naming what to install, when Playwright, Chromium or one of ``needs``
    (label: present) is missing; call it before starting any server."""
    wanted = {
        "playwright (pip install playwright)": has("playwright"),
        f"Chromium at {CHROMIUM} (apt-get install chromium)": os.path.exists(CHROMIUM),
        **(needs or {}),
    }
    missing = [label for label, present in wanted.items() if not present]
    if missing:
        pytest.skip(f"the browser test needs {', '.join(missing)}")


@contextmanager
def chromium_page(width: int, height: int) -> Iterator:
    """A Playwright page in a window of ``width`` x ``height`` pixels."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


def wait_until_served(url: str, process: subprocess.Popen, timeout: float = 120) -> None:
    """Return once ``url`` answers; fail if ``process`` (its server) exits first."""
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, f"the server exited with {process.returncode}"
        try:
            with urllib.request.urlopen(url, timeout=10):
                return
        except OSError:
            assert time.monotonic() < deadline, f"{url} did not answer in {timeout} s"
            time.sleep(0.5)


def in_window(page: Any, box: dict[str, float] | None) -> bool:
    """Whether a bounding box lies wholly inside the window as the page opened (no scroll)."""
    if box is None:  # not rendered
        return False
    size = page.viewport_size
    return (
        box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= size["width"]
        and box["y"] + box["height"] <= size["height"]
    )


def cells(locator: Any) -> list[dict[str, Any]]:
    """Every element ``locator`` matches, as its text and its box on the page."""
    return locator.evaluate_all(
        """elements => elements.map(e => {
            const r = e.getBoundingClientRect();
            return {text: e.innerText.trim(), x: r.x, y: r.y, width: r.width, height: r.height};
        })"""
    )
