"""Facts of each reliability scenario, gathered while it runs and written as JSON for ``report.py``.

A test asks for the ``scenario`` fixture, says what it injects and checks, and adds figures as it
goes. Loaded as a plugin (``pytest -p yts_pipeline_tests.reliability.recording --reliability-json
PATH``), this module also records each scenario's outcome and duration and writes them to PATH at
the end of the session; without the option the fixture just collects and nothing is written.
"""

from __future__ import annotations

import json
import platform
import subprocess
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

RELIABILITY_KEY = "reliability"


@dataclass
class Scenario:
    """What one scenario injected, what it checked, and the figures it observed."""

    group: str = ""
    title: str = ""
    injected: str = ""
    checked: str = ""
    figures: dict[str, Any] = field(default_factory=dict)

    def describe(self, group: str, title: str, *, injected: str, checked: str) -> Scenario:
        self.group, self.title, self.injected, self.checked = group, title, injected, checked
        return self

    def figure(self, name: str, value: Any) -> Any:
        """Record one figure (a count, seconds, ...); returns the value so it can be used inline."""
        self.figures[name] = value
        return value

    def add(self, name: str, amount: int = 1) -> None:
        self.figures[name] = self.figures.get(name, 0) + amount


@pytest.fixture
def scenario(request: pytest.FixtureRequest) -> Scenario:
    found = Scenario()
    request.node.user_properties.append((RELIABILITY_KEY, found))
    return found


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--reliability-json", metavar="PATH", help="write the facts and outcome of every reliability scenario to PATH"
    )


class Recorder:
    """Outcome, duration and facts per test id, from the reports of its setup, call and teardown."""

    def __init__(self, path: Path):
        self.path = path
        self.results: dict[str, dict[str, Any]] = {}
        self.started = time.time()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        facts = next((value for key, value in report.user_properties if key == RELIABILITY_KEY), None)
        entry = self.results.setdefault(
            report.nodeid, {"nodeid": report.nodeid, "outcome": "passed", "duration_seconds": 0.0, "error": ""}
        )
        entry["duration_seconds"] = round(entry["duration_seconds"] + report.duration, 1)
        if facts is not None:
            entry.update(asdict(facts))
        if report.failed:
            entry["outcome"] = "failed" if report.when == "call" or entry["outcome"] != "failed" else entry["outcome"]
            entry["error"] = entry["error"] or _first_line(report)
        elif report.skipped and entry["outcome"] == "passed":
            entry["outcome"] = "skipped"
            entry["error"] = _first_line(report)
        entry["markers"] = sorted({m for m in report.keywords if m in ("slow",)})

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        recorded = [r for r in self.results.values() if r.get("title")]
        if not recorded:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(
            json.dumps(
                {
                    "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "wall_seconds": round(time.time() - self.started, 1),
                    "machine": f"{platform.system()} {platform.machine()}, Python {platform.python_version()}, "
                    f"{_cpu_count()} CPUs",
                    "commit": _commit(),
                    "scenarios": recorded,
                },
                indent=2,
                default=str,
            )
            + "\n"
        )


def _first_line(report: pytest.TestReport) -> str:
    text = report.longreprtext or ""
    lines = [line for line in text.splitlines() if line.startswith("E ")]
    return (lines[0][2:].strip() if lines else text.strip().splitlines()[-1] if text.strip() else "")[:300]


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("--reliability-json", default=None)
    if path:
        config.pluginmanager.register(Recorder(Path(path)), "reliability-recorder")
