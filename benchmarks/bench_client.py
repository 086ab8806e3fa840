"""Sustained movie_details throughput: one request at a time versus the worker pool, same run, same server.

The replay API answers after 100 ms and the client is held to 10 requests/s, as a polite crawl of the
live API would be. One request at a time cannot beat 1 / latency; the pool should reach the limit.
The same three runs without the limit show what the pool could do, i.e. how much headroom it has.

    python benchmarks/bench_client.py [--requests 150] [--latency-ms 100] [--rate 10]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from yts_pipeline.settings import ApiSettings  # noqa: E402
from yts_pipeline.yts.client import YtsClient  # noqa: E402
from yts_pipeline.yts.replay import Catalog, ReplayServer  # noqa: E402


@dataclass
class Run:
    name: str
    limit: float
    requests: int
    seconds: float
    busiest_second: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def busiest_second(times: list[float]) -> int:
    """The most requests any sliding one-second window held, as the server saw them."""
    times = sorted(times)
    most, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] > 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


def measure(server: ReplayServer, settings: ApiSettings, ids: list[int], pooled: bool) -> Run:
    client = YtsClient(settings)
    client.movie_details(ids[0])  # connect and take the limiter's first slot before the clock starts
    server.reset_counters()
    started = time.monotonic()
    if pooled:
        results = client.movie_details_many(ids)
    else:
        results = [(movie_id, client.movie_details(movie_id)) for movie_id in ids]
    seconds = time.monotonic() - started
    if any(getattr(result, "movie", None) is None for _, result in results):
        raise SystemExit("a details call failed: the figures would not be comparable")
    name = f"worker pool, {settings.detail_workers} workers" if pooled else "one request at a time"
    return Run(name, settings.requests_per_second, len(ids), seconds,
               busiest_second([entry[0] for entry in server.request_log]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=150)
    parser.add_argument("--latency-ms", type=float, default=100)
    parser.add_argument("--rate", type=float, default=10.0)
    args = parser.parse_args()

    catalog = Catalog.synthetic(args.requests + 1, seed=1)
    ids = catalog.ids()[1:args.requests + 1]
    with ReplayServer(catalog, latency_ms=args.latency_ms) as server:
        runs = []
        for rate in (args.rate, 0.0):
            base = ApiSettings(base_urls=(server.base_url,), requests_per_second=rate)
            runs.append(measure(server, base, ids, pooled=False))
            runs += [measure(server, replace(base, detail_workers=n), ids, pooled=True) for n in (2, 4)]

    print(f"movie_details against the replay API: {args.latency_ms:g} ms latency, "
          f"{args.requests} requests per run; one worker cannot beat {1000 / args.latency_ms:.1f} req/s")
    print(f"{'mode':<28} {'limit':>6} {'requests':>8} {'seconds':>8} {'req/s':>7} {'busiest 1 s':>11}")
    for run in runs:
        limit = f"{run.limit:g}/s" if run.limit else "off"
        print(f"{run.name:<28} {limit:>6} {run.requests:>8} {run.seconds:>8.2f} {run.rate:>7.2f} "
              f"{run.busiest_second:>11}")


if __name__ == "__main__":
    main()
