"""``yts-pipeline sync``: the page jobs the UI and the schedules launch, run headless on ``DAGSTER_HOME``.

Pages are discovered first, then run as ``defs/page_runs.py`` defines a run over a range of pages
(the ranges a backfill would cut, settled pages skipped, fetch first, a failed range redone around
its bad pages), executed in this process; this module adds the progress line and the summary. The
runs land in the instance, so the UI shows them afterwards.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import dagster as dg

from yts_pipeline import mirror
from yts_pipeline.cli.abandoned_runs import process_tags, release_abandoned_runs
from yts_pipeline.cli.instance import open_instance, prepare_local_instance
from yts_pipeline.cli.sqlite_tuning import cheap_sqlite_writes
from yts_pipeline.definitions import defs as load_definitions
from yts_pipeline.defs.automation import (
    CHECKS_JOB,
    NEIGHBOURS_JOB,
    SWEEP_JOB,
    SYNC_JOB,
    SYNC_STEPS,
    WITHOUT_EMBEDDINGS_JOB,
)
from yts_pipeline.defs.embedding_assets import EmbeddingReport, movie_embeddings
from yts_pipeline.defs.page_assets import catalog_sweep
from yts_pipeline.defs.page_reports import describe_figures, figure_totals, report_from_metadata
from yts_pipeline.defs.page_runs import PageRuns, Reports, run_pages
from yts_pipeline.defs.partitions import instance_lock, key_to_page, page_to_key, register_pages
from yts_pipeline.defs.resources import DatabaseResource, EmbeddingModelResource, YtsApiResource
from yts_pipeline.mirror import PageReport, SweepReport
from yts_pipeline.settings import pages_per_run as default_pages_per_run


@dataclass
class SyncTotals:
    """What a sync did: every page report per asset, and the outcome of the sweep and the checks."""

    pages_done: int = 0
    reports: dict[str, list[PageReport]] = field(default_factory=dict)  # asset name -> one report per page
    embeddings: list[EmbeddingReport] = field(default_factory=list)  # one per run that embedded
    settled: list[PageReport] = field(default_factory=list)  # fetch reports of pages whose later steps were skipped
    failed_pages: list[int] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    swept: bool = False
    removed: int = 0
    revived: int = 0
    checks_passed: int = 0
    check_warnings: list[str] = field(default_factory=list)
    failed_checks: list[str] = field(default_factory=list)

    def step_totals(self) -> dict[str, dict[str, int | float]]:
        """Each step's own figures summed, in step order: ``PageReport``'s per page, the embeddings' per run."""
        totals = {asset: figure_totals(reports) for asset, reports in self.reports.items()}
        if movie_embeddings.key.to_user_string() in totals:
            totals[movie_embeddings.key.to_user_string()] = {
                name: sum(getattr(report, name) for report in self.embeddings)
                for name in ("embedded", "texts", "skipped", "seconds")
            }
        return totals

    def _figure(self, asset: str, name: str) -> int | float:
        return figure_totals(self.reports.get(asset, []))[name]

    @property
    def new(self) -> int:
        return self._figure("movies", "new")

    @property
    def changed(self) -> int:
        return self._figure("movies", "changed")

    @property
    def unchanged(self) -> int:
        """Movies a save found unchanged, and those of settled pages, which were not even looked at."""
        return self._figure("movies", "unchanged") + figure_totals(self.settled)["listed"]

    @property
    def details_calls(self) -> int:
        return self._figure("movie_details", "details_calls")

    @property
    def failures(self) -> int:
        """Movies rejected or whose details failed, on any step."""
        return sum(
            self._figure(asset, name)
            for asset in ("movies", "movie_details")
            for name in ("rejected", "details_failed")
        )


def parse_page_range(text: str) -> tuple[int, int]:
    """``"3-7"`` or ``"5"`` to (first, last); both at least 1 and in order."""
    first, _, last = text.partition("-")
    try:
        start, end = int(first), int(last or first)
    except ValueError:
        raise ValueError(f"--pages {text!r}: expected A-B, e.g. 1-20") from None
    if start < 1 or end < start:
        raise ValueError(f"--pages {text!r}: pages start at 1 and A must not exceed B")
    return start, end


def select_pages(discovered: list[int], pages: tuple[int, int] | None, max_pages: int | None) -> list[int]:
    selected = discovered
    if pages is not None:
        start, end = pages
        if start > discovered[-1]:
            raise ValueError(f"--pages {start}-{end}: the catalog has only {discovered[-1]} pages")
        selected = [p for p in discovered if start <= p <= end]
    return selected[:max_pages] if max_pages is not None else selected


QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}  # the UI keeps every log line


class Progress:
    """One status line: pages done, movies new/changed/skipped, speed and ETA."""

    def __init__(self, total_pages: int, out: TextIO):
        self.total, self.out, self.started = total_pages, out, time.monotonic()
        self.interactive = out.isatty()

    def show(self, totals: SyncTotals) -> None:
        elapsed = time.monotonic() - self.started
        rate = totals.pages_done / elapsed if elapsed else 0.0
        eta = (self.total - totals.pages_done) / rate if rate else 0.0
        width = 24
        filled = int(width * totals.pages_done / self.total) if self.total else width
        line = (
            f"[{'#' * filled}{'.' * (width - filled)}] pages {totals.pages_done}/{self.total} | "
            f"new {totals.new} changed {totals.changed} skipped {totals.unchanged} | "
            f"details {totals.details_calls} failed {totals.failures} | {elapsed:.0f}s, ETA {eta:.0f}s"
        )
        self.out.write(("\r" + line) if self.interactive else line + "\n")
        self.out.flush()

    def done(self) -> None:
        if self.interactive:
            self.out.write("\n")


def run_sync(
    *,
    home: Path | None = None,
    pages: tuple[int, int] | None = None,
    max_pages: int | None = None,
    refresh: bool = False,
    skip_embeddings: bool = False,
    pages_per_run: int | None = None,
    out: TextIO = sys.stderr,
) -> SyncTotals:
    """Discover pages, sync the selection run by run, then check integrity (and sweep tombstones when every
    page was synced). ``home``: the Dagster instance (default: the local one, created if new);
    ``pages_per_run``: ``YTS_PAGES_PER_RUN`` when not given."""
    home = home or prepare_local_instance()
    run_size = pages_per_run or default_pages_per_run()
    DatabaseResource().manager()  # a database that cannot be used fails here, in one line, not in every run
    with cheap_sqlite_writes(home):
        with instance_lock(home):
            instance = open_instance(home)  # creating a new instance's storages is check-then-act
            released = release_abandoned_runs(instance)
        if released:
            out.write(f"marked {len(released)} run(s) of a killed sync as failed and freed their slots\n")
        with instance:  # also what Dagster reads while it resolves the jobs
            definitions = load_definitions()
            yts_api = YtsApiResource()  # settings from the environment, as the runs' own resources read them
            discovered = mirror.discover_pages(yts_api.client(), yts_api.page_limit)
            new_keys = register_pages(instance, [page_to_key(p) for p in discovered])
            selected = select_pages(discovered, pages, max_pages)
            out.write(
                f"catalog: {len(discovered)} pages ({len(new_keys)} new); syncing {len(selected)} "
                f"(DAGSTER_HOME={home})\n"
            )
            job = definitions.resolve_job_def(WITHOUT_EMBEDDINGS_JOB if skip_embeddings else SYNC_JOB)
            run_config = {**QUIET, "ops": {"movie_details": {"config": {"refresh": True}}}} if refresh else QUIET
            totals = _sync_pages(
                instance, job, [page_to_key(p) for p in selected], run_config, run_size, out, refresh=refresh
            )
            full_sync = pages is None and max_pages is None and not totals.failed_pages
            after = definitions.resolve_job_def(SWEEP_JOB if full_sync else CHECKS_JOB)
            result = after.execute_in_process(
                instance=instance, run_config=QUIET, tags=process_tags(), raise_on_error=False
            )
            # The neighbour lists (defs/neighbour_assets.py): once, after the page runs and the sweep.
            lists = (
                None
                if skip_embeddings
                else definitions.resolve_job_def(NEIGHBOURS_JOB).execute_in_process(
                    instance=instance, run_config=QUIET, tags=process_tags(), raise_on_error=False
                )
            )
    totals.run_ids.append(result.run_id)
    if full_sync:
        swept = result.asset_materializations_for_node(catalog_sweep.op.name)
        if swept:
            sweep = report_from_metadata(SweepReport, swept[-1].metadata)
            totals.removed, totals.revived = len(sweep.removed), len(sweep.revived)
            totals.swept = sweep.skipped_reason is None
    _tally_checks(result, totals, skip_embeddings=skip_embeddings)
    if lists is not None:
        totals.run_ids.append(lists.run_id)
        _tally_checks(lists, totals, skip_embeddings=False)
    return totals


def _sync_pages(
    instance: dg.DagsterInstance,
    job: dg.JobDefinition,
    keys: list[str],
    run_config: dict,
    pages_per_run: int,
    out: TextIO,
    *,
    refresh: bool = False,
) -> SyncTotals:
    """Sync ``keys`` as every page run goes (``page_runs``), with a progress line and each page's figures."""
    assets = SYNC_STEPS[job.name]
    steps = [asset.key for asset in assets]
    names = [key.to_user_string() for key in steps]
    totals, progress = SyncTotals(reports={name: [] for name in names}), Progress(len(keys), out)

    def on_run(result: dg.ExecuteInProcessResult) -> None:
        totals.run_ids.append(result.run_id)
        embedded = result.asset_materializations_for_node(movie_embeddings.op.name)
        if embedded:  # each page of the run carries the step's one report
            totals.embeddings.append(report_from_metadata(EmbeddingReport, embedded[-1].metadata))

    def tally(chunk: list[str], reports: Reports, finished: set[str], settled: list[str]) -> None:
        for key in chunk:
            if key not in finished:
                totals.failed_pages.append(key_to_page(key))
            for name in names:
                if (name, key) in reports:
                    totals.reports[name].append(reports[(name, key)])
        totals.settled += [reports[(names[0], key)] for key in settled if (names[0], key) in reports]
        totals.pages_done += len(chunk)
        progress.show(totals)

    runs = PageRuns(instance, job, run_config, process_tags(), on_run)
    model = EmbeddingModelResource().model_name() if movie_embeddings in assets else None
    run_pages(
        runs, DatabaseResource().manager(), keys, steps, pages_per_run, tally, embedding_model=model, refresh=refresh
    )
    progress.done()
    totals.failed_pages.sort()
    return totals


def _tally_checks(result: dg.ExecuteInProcessResult, totals: SyncTotals, *, skip_embeddings: bool) -> None:
    """Passed, warned and failed checks of the after-sync run; a check step that raised counts as failed."""
    for evaluation in result.get_asset_check_evaluations():
        if skip_embeddings and evaluation.asset_key == movie_embeddings.key:
            continue  # embeddings were skipped on purpose: their check speaks for the next run that embeds
        if evaluation.passed:
            totals.checks_passed += 1
        elif evaluation.severity == dg.AssetCheckSeverity.WARN:
            totals.check_warnings.append(evaluation.check_name)
        else:
            totals.failed_checks.append(evaluation.check_name)
    totals.failed_checks += [
        f"{event.step_key} (raised an error)" for event in result.all_events if event.is_step_failure
    ]


def print_summary(totals: SyncTotals, seconds: float) -> None:
    """The outcome on stdout (every figure of every step), failures named on stderr."""
    print(
        f"synced {totals.pages_done - len(totals.failed_pages)}/{totals.pages_done} pages in {seconds:.1f} s: "
        f"{totals.new} new, {totals.changed} changed, {totals.unchanged} unchanged movies; "
        f"{totals.details_calls} details calls, {totals.failures} failures"
    )
    width = max((len(step) for step in totals.reports), default=0)
    for step, figures in totals.step_totals().items():
        print(f"  {step + ':':<{width + 1}} {describe_figures(figures)}")
    if totals.settled:
        print(
            f"  {len(totals.settled)} page(s) settled ({figure_totals(totals.settled)['listed']:g} movies): "
            "unchanged since they were last saved and nothing pending, so their later steps were skipped"
        )
    if totals.swept:
        print(f"full sweep: {totals.removed} movies newly marked removed, {totals.revived} back again")
    print(
        f"integrity checks: {totals.checks_passed} passed"
        + "".join(f", {name} warned" for name in totals.check_warnings)
        + "".join(f", {name} FAILED" for name in totals.failed_checks)
    )
    if totals.failed_pages:
        print(
            f"FAILED pages: {', '.join(map(str, totals.failed_pages))} (see the runs in the UI; "
            f"rerun with --pages to retry)",
            file=sys.stderr,
        )
    if totals.failed_checks:
        print(
            f"FAILED integrity checks: {', '.join(totals.failed_checks)} (their results in the UI, on the "
            f"movies asset's Checks tab, name the rows)",
            file=sys.stderr,
        )
