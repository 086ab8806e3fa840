"""``yts-pipeline sync``: the same assets, run in-process on the instance at ``DAGSTER_HOME``.

Pages are discovered first, then synced in runs of a few consecutive pages (BackfillPolicy is not
applied in-process, so the range is chunked here), so progress shows per run and a failure costs
only its own pages. The runs land in the instance, so the UI shows them afterwards.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TextIO

import dagster as dg

from yts_pipeline import mirror
from yts_pipeline.assets.automation import CHECKS_JOB, SWEEP_JOB, SYNC_JOB, SYNC_STEPS, WITHOUT_EMBEDDINGS_JOB
from yts_pipeline.assets.embeddings import movie_embeddings
from yts_pipeline.assets.partitions import PAGES, PAGES_PER_RUN, key_page, missing_page_keys, page_key, range_tags
from yts_pipeline.instance import dagster_home, process_tags, release_abandoned_runs, startup_lock
from yts_pipeline.resources import YtsApiResource

@dataclass
class SyncTotals:
    pages_done: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    details_calls: int = 0
    failures: int = 0
    failed_pages: list[int] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    swept: bool = False
    removed: int = 0
    revived: int = 0
    checks_passed: int = 0
    check_warnings: list[str] = field(default_factory=list)
    failed_checks: list[str] = field(default_factory=list)


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


def _latest_metadata(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], dict]:
    """The last materialization's metadata per (asset, page key): per-page figures."""
    found = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_MATERIALIZATION":
            materialization = event.event_specific_data.materialization
            found[(materialization.asset_key.to_user_string(), materialization.partition)] = {
                k: v.value for k, v in materialization.metadata.items()}
    return found


def _count(meta: dict[tuple[str, str], dict], asset: str, key: str, name: str) -> int:
    return int(meta.get((asset, key), {}).get(name, 0) or 0)


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
        line = (f"[{'#' * filled}{'.' * (width - filled)}] pages {totals.pages_done}/{self.total} | "
                f"new {totals.new} changed {totals.changed} skipped {totals.unchanged} | "
                f"details {totals.details_calls} failed {totals.failures} | {elapsed:.0f}s, ETA {eta:.0f}s")
        self.out.write(("\r" + line) if self.interactive else line + "\n")
        self.out.flush()

    def done(self) -> None:
        if self.interactive:
            self.out.write("\n")


def run_sync(*, pages: tuple[int, int] | None = None, max_pages: int | None = None, refresh: bool = False,
             skip_embeddings: bool = False, pages_per_run: int = PAGES_PER_RUN, out: TextIO = sys.stderr) -> SyncTotals:
    """Discover pages, sync the selection run by run, then check integrity (and sweep tombstones when every
    page was synced)."""
    home = dagster_home()
    from yts_pipeline.definitions import defs

    with startup_lock(home):
        instance = dg.DagsterInstance.get()
        released = release_abandoned_runs(instance)
    if released:
        out.write(f"marked {len(released)} run(s) of a killed sync as failed and freed their slots\n")
    yts_api = YtsApiResource()  # settings from the environment, as the runs' own resources read them
    discovered = mirror.discover_pages(yts_api.client(), yts_api.page_limit)
    with startup_lock(home):
        new_keys = missing_page_keys(instance, discovered)
        if new_keys:
            instance.add_dynamic_partitions(PAGES.name, new_keys)
    selected = select_pages(discovered, pages, max_pages)
    out.write(f"catalog: {len(discovered)} pages ({len(new_keys)} new); syncing {len(selected)} "
              f"(DAGSTER_HOME={instance.root_directory})\n")
    job = defs.resolve_job_def(WITHOUT_EMBEDDINGS_JOB if skip_embeddings else SYNC_JOB)
    final_step = SYNC_STEPS[job.name][-1].key.to_user_string()
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}  # the UI keeps every log line
    run_config = {**quiet, "ops": {"movie_details": {"config": {"refresh": True}}}} if refresh else quiet
    totals, progress = SyncTotals(), Progress(len(selected), out)

    def run(keys: list[str]) -> dict[tuple[str, str], dict]:
        result = job.execute_in_process(instance=instance, tags={**range_tags(keys[0], keys[-1]), **process_tags()},
                                        run_config=run_config, raise_on_error=False)
        totals.run_ids.append(result.run_id)
        return _latest_metadata(result)

    for start in range(0, len(selected), pages_per_run):
        chunk = [page_key(p) for p in selected[start:start + pages_per_run]]
        meta = run(chunk)
        unfinished = [key for key in chunk if (final_step, key) not in meta]
        if len(chunk) > 1 and unfinished:
            # One bad page stops the later steps of its whole run: redo those pages one by one.
            for key in unfinished:
                meta.update(run([key]))
        for key in chunk:
            if (final_step, key) not in meta:
                totals.failed_pages.append(key_page(key))
            totals.new += _count(meta, "movies", key, "new")
            totals.changed += _count(meta, "movies", key, "changed")
            totals.unchanged += _count(meta, "movies", key, "unchanged")
            totals.details_calls += _count(meta, "movie_details", key, "details_calls")
            totals.failures += _count(meta, "movie_details", key, "failures") + _count(meta, "movies", key, "failures")
        totals.pages_done += len(chunk)
        progress.show(totals)
    progress.done()
    full_sync = pages is None and max_pages is None and not totals.failed_pages
    after = defs.resolve_job_def(SWEEP_JOB if full_sync else CHECKS_JOB)
    result = after.execute_in_process(instance=instance, run_config=quiet, tags=process_tags(),
                                      raise_on_error=False)
    totals.run_ids.append(result.run_id)
    if full_sync:
        sweep = _latest_metadata(result).get(("catalog_sweep", None), {})
        totals.removed, totals.revived = int(sweep.get("removed", 0)), int(sweep.get("revived", 0))
        totals.swept = not sweep.get("skipped_reason")
    _tally_checks(result, totals, skip_embeddings=skip_embeddings)
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
    totals.failed_checks += [f"{event.step_key} (raised an error)" for event in result.all_events
                             if event.is_step_failure]
