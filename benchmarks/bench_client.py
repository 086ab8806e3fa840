"""movie_details throughput: the pool sized from the rate limit and the latency versus today's fixed 2 workers.

Each scenario runs twice against the same replay API (answering after a fixed latency), once with the
pool capped at 2 workers (what ``YTS_DETAIL_WORKERS=2`` always gave before the pool was sized) and once
with the default cap, so the client sizes its pool to ``ceil(rate x median latency) + 1``. Rates are
measured at the server, from the arrival times in its request log: ``(n - 1) / (last - first)``. The
busiest one-second window is counted twice: as the rate limiter let requests go (it must never hold more
than the limit allows) and as they arrived (the same, unless the machine delays some by more than the
limiter's 30 ms margin).

    python benchmarks/bench_client.py [--quick]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from yts_pipeline.settings import ApiSettings  # noqa: E402
from yts_pipeline.yts.client import YtsClient  # noqa: E402
from yts_pipeline.yts.ratelimit import shared_limiter  # noqa: E402
from yts_pipeline.yts.replay import Catalog, ReplayServer  # noqa: E402
from yts_pipeline.yts.replay.server import busiest_window  # noqa: E402

FIXED_POOL = 2


@dataclass(frozen=True)
class Scenario:
    rate: float  # requests per second; 0 = no limit
    latency_ms: float
    requests: int


@dataclass
class Run:
    scenario: Scenario
    label: str
    workers: int
    seconds: float
    server_rate: float
    busiest_sent: int
    busiest_arrived: int


SCENARIOS = (Scenario(1, 2000, 12), Scenario(1, 3000, 12), Scenario(10, 500, 80), Scenario(0, 100, 160))


def measure(scenario: Scenario, settings: ApiSettings, label: str) -> Run:
    catalog = Catalog.synthetic(scenario.requests + 1, seed=1)
    ids = catalog.ids()
    limiter = shared_limiter(settings.requests_per_second)
    departures: list[float] = []
    let_go = limiter.acquire
    limiter.acquire = lambda: departures.append(let_go()) or departures[-1]  # type: ignore[method-assign]
    try:
        with ReplayServer(catalog, latency_ms=scenario.latency_ms) as server:
            client = YtsClient(replace(settings, base_urls=(server.base_url,)))
            client.movie_details(ids[0])  # connect and take the limiter's first slot before the clock starts
            server.reset_counters()
            departures.clear()
            started = time.monotonic()
            results = client.movie_details_many(ids[1:])
            seconds = time.monotonic() - started
            arrivals = sorted(entry[0] for entry in server.request_log)
            busiest_arrived = server.busiest_window(1.0)
    finally:
        del limiter.acquire
    if any(getattr(result, "movie", None) is None for _, result in results):
        raise SystemExit("a details call failed: the figures would not be comparable")
    server_rate = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
    return Run(
        scenario, label, client.detail_workers, seconds, server_rate, busiest_window(departures, 1.0), busiest_arrived
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a quarter of the requests per scenario")
    args = parser.parse_args()
    scenarios = [replace(s, requests=max(8, s.requests // 4)) if args.quick else s for s in SCENARIOS]

    runs = []
    for scenario in scenarios:
        sized = ApiSettings(requests_per_second=scenario.rate)
        runs.append(measure(scenario, replace(sized, detail_workers=FIXED_POOL), f"fixed {FIXED_POOL} workers"))
        runs.append(measure(scenario, sized, f"sized (cap {sized.detail_workers})"))

    print("movie_details against the replay API; rates as the server saw them")
    print(
        f"{'limit':>6} {'latency':>8} {'requests':>8}  {'pool':<16} {'workers':>7} {'seconds':>8} {'req/s':>7}"
        f" {'of limit':>8}  {'busiest 1 s: sent, arrived':<26}"
    )
    for run in runs:
        s = run.scenario
        limit = f"{s.rate:g}/s" if s.rate else "off"
        share = f"{run.server_rate / s.rate:8.0%}" if s.rate else f"{'-':>8}"
        allowed = math.ceil(s.rate) if s.rate else None
        verdict = "" if allowed is None else "  within the limit" if run.busiest_sent <= allowed else "  OVER THE LIMIT"
        print(
            f"{limit:>6} {s.latency_ms:>6g}ms {s.requests:>8}  {run.label:<16} {run.workers:>7} {run.seconds:>8.2f}"
            f" {run.server_rate:>7.2f} {share}  {run.busiest_sent:>5}, {run.busiest_arrived:<5}{verdict}"
        )


if __name__ == "__main__":
    main()
