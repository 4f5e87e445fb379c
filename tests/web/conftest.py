"""A real server with an API key, and Debian's Chromium driven by Playwright (headless).

Chromium comes from the distribution (``apt-get install -y chromium``, which scripts/test does);
Playwright never downloads a browser here. The flags keep it off the network: it talks only to
the server on 127.0.0.1.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.backends import slow_models
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
            **slow_models(0.25),
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
    """What went wrong in the page: uncaught exceptions and every ``console.error``, including
    the browser's own "Failed to load resource" line for each HTTP error response. A test fails
    on any of them, except the responses it provokes on purpose and declares with ``expect``."""

    def __init__(self) -> None:
        self.errors: list[tuple[str, str]] = []  # (text, url of the script or resource)
        self.expected: list[tuple[int, str]] = []

    def expect(self, status: int, path: str) -> None:
        """A response with this status from a URL containing ``path`` is part of the test."""
        self.expected.append((status, path))

    def unexpected(self) -> list[str]:
        return [
            f"{text} ({url})"
            for text, url in self.errors
            if not any(f"status of {status}" in text and path in url
                       for status, path in self.expected)
        ]


def _probes(requests: list[tuple[str, str, str | None]]) -> list[str]:
    """POSTs to the edits/extensions endpoints that are not a user's submitted form (one
    with a prompt): the studio must learn what a model can do from /vidserve/models."""
    probes = []
    for method, url, body in requests:
        if method == "POST" and url.split("?")[0].endswith(("/videos/edits", "/videos/extensions")):
            try:
                prompt = json.loads(body or "null").get("prompt")
            except (ValueError, AttributeError):
                prompt = None
            if not prompt:
                probes.append(f"{method} {url} {body!r}")
    return probes


def open_page(browser: Any, port: int) -> tuple[Any, Any]:
    """A fresh browser context (its own localStorage) and a tab on the server's studio, with
    ``tab.console_errors`` (a :class:`Console`) and ``tab.requests_made`` recorded."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 860}, base_url=f"http://127.0.0.1:{port}"
    )
    context.set_default_timeout(20_000)
    tab = context.new_page()
    console = Console()
    requests: list[tuple[str, str, str | None]] = []
    tab.on("pageerror", lambda exc: console.errors.append((f"uncaught: {exc}", "")))
    tab.on(
        "console",
        lambda msg: console.errors.append((msg.text, msg.location.get("url", "")))
        if msg.type == "error" else None,
    )
    tab.on("request", lambda r: requests.append((r.method, r.url, r.post_data)))
    tab.console_errors = console
    tab.requests_made = requests
    return context, tab


def check_page(tab: Any) -> None:
    assert tab.console_errors.unexpected() == [], "console errors"
    assert _probes(tab.requests_made) == [], "the studio probed an endpoint"


@pytest.fixture
def page(browser: Any, studio_server: ServerProcess) -> Iterator[Any]:
    context, tab = open_page(browser, studio_server.port)
    try:
        yield tab
        check_page(tab)
    finally:
        context.close()


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
