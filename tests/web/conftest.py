"""A real server with an API key, and Debian's Chromium driven by Playwright (headless).

Chromium comes from the distribution (``apt-get install -y chromium``, which scripts/test does);
Playwright never downloads a browser here. The flags keep it off the network: it talks only to
the server on 127.0.0.1.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers import ServerProcess

API_KEY = "sk-studio-test-0123456789"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots" / "studio"


@pytest.fixture(scope="session")
def studio_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(
        tmp_path_factory.mktemp("studio"),
        env={
            "VIDSERVE_API_KEYS": f"{API_KEY}=studio",
            # 8 steps of 0.25 s for a 4 s clip: slow enough to watch the progress move
            "VIDSERVE_PROCEDURAL_STEP_DELAY": "0.25",
            "VIDSERVE_LOG_FORMAT": "json",
        },
    ).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is missing (scripts/test installs it: apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


class Console:
    """JavaScript errors seen by the page (uncaught exceptions): a test fails on any."""

    def __init__(self) -> None:
        self.errors: list[str] = []


@pytest.fixture
def page(browser: Any, studio_server: ServerProcess) -> Iterator[Any]:
    context = browser.new_context(
        viewport={"width": 1280, "height": 860}, base_url=f"http://127.0.0.1:{studio_server.port}"
    )
    context.set_default_timeout(20_000)
    tab = context.new_page()
    console = Console()
    tab.on("pageerror", lambda exc: console.errors.append(str(exc)))
    tab.console_errors = console
    try:
        yield tab
        assert console.errors == [], f"JavaScript errors: {console.errors}"
    finally:
        context.close()


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
