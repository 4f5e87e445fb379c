"""The chaos run's report is printed at the end of every pytest run that includes it."""

from __future__ import annotations

from typing import Any

REPORT: list[str] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if REPORT:
        terminalreporter.section("chaos report")
        for line in REPORT:
            terminalreporter.write_line(line)
