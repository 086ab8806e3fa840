"""Peak memory of every process a benchmark starts, sampled while it runs.

The Dagster processes (webserver, daemon, their code servers, a run worker per run) and the browser
are all descendants of the benchmark, wherever their sessions are; Postgres daemonizes, so its
postmaster is named by its pid. Resident memory is sampled every half second: a peak shorter than
that can be missed, which the report says.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Self

import psutil

INTERVAL = 0.5
ROLES = (  # the first match in the command line names the process
    ("execute_run", "run worker"),
    ("spawn_main", "run worker"),  # a code server starts each run as a multiprocessing child
    ("resource_tracker", "multiprocessing resource tracker"),
    ("api grpc", "code server"),
    ("code-server", "code server"),
    ("dagster-webserver", "dagster-webserver"),
    ("dagster-daemon", "dagster-daemon"),
    ("replay-api", "replay API"),
    ("yts-pipeline", "yts-pipeline"),
    ("chrom", "chromium"),
    ("postgres", "postgres"),
    ("playwright", "playwright driver"),
    ("tail", "tail (Dagster's log capture)"),
)


def role(process: psutil.Process) -> str:
    command = " ".join(process.cmdline())
    return next((name for needle, name in ROLES if needle in command), process.name())


@dataclass
class Peaks:
    """Per role: the largest single process, the largest sum at one moment, how many processes there were."""

    single: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    together: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    pids: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))


class MemorySampler:
    """Samples this process's descendants (and ``extra_roots``' trees) in a thread until stopped."""

    def __init__(self) -> None:
        self.peaks, self.extra_roots = Peaks(), set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _processes(self) -> list[psutil.Process]:
        found = psutil.Process().children(recursive=True)
        for pid in list(self.extra_roots):
            try:
                root = psutil.Process(pid)
                found += [root, *root.children(recursive=True)]
            except psutil.Error:
                pass
        return found

    def _run(self) -> None:
        while not self._stop.wait(INTERVAL):
            moment: dict[str, int] = defaultdict(int)
            for process in self._processes():
                try:
                    name, rss = role(process), process.memory_info().rss
                except psutil.Error:
                    continue
                moment[name] += rss
                self.peaks.pids[name].add(process.pid)
                self.peaks.single[name] = max(self.peaks.single[name], rss)
            for name, rss in moment.items():
                self.peaks.together[name] = max(self.peaks.together[name], rss)
