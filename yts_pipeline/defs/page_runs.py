"""A run over a range of pages, defined once for every way pages are run: the UI's backfills and
Materialize clicks, the schedules, the sensor, ``dg launch`` and ``yts-pipeline sync``.

- The job: a page job over the page assets, its steps one after another in the run's process
  (``executor.py``); ``sync`` executes the very jobs the schedules launch.
- The ranges: consecutive pages, at most ``YTS_PAGES_PER_RUN`` a run. The assets' backfill policy cuts a
  UI backfill so; ``run_requests`` cuts the schedules' and the sensor's runs, and ``sync``'s, the same way.
- What a run skips: each step asks the mirror what each page of its range still needs, and a settled
  page (unchanged since it was applied, nothing pending) skips that step at once, whoever launched it.
- A failed range (``PageRuns``) is redone around the pages that failed, so one bad page costs itself.
- Fetch first (``run_pages``): pages saved before are fetched in runs ``FETCH_RUN_FACTOR`` times as
  long, and only the pages with something to do run the later steps: the skip above, across runs.
"""

from __future__ import annotations

from collections.abc import Callable

import dagster as dg

from yts_pipeline.db.manager import DatabaseManager
from yts_pipeline.db.page_store import page_states, saved_pages
from yts_pipeline.defs.page_reports import latest_page_reports
from yts_pipeline.defs.partitions import key_to_page
from yts_pipeline.mirror import PageReport
from yts_pipeline.settings import pages_per_run

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
# A run that only fetches pages saved before takes this many times the pages of a run of the whole chain:
# on a rerun most pages are settled after the fetch, so the runs' fixed cost is most of the time.
FETCH_RUN_FACTOR = 4

Reports = dict[tuple[str, str], PageReport]  # (asset name, page key) -> that page's figures


def range_tags(start: str, end: str) -> dict[str, str]:
    return {RANGE_START_TAG: start, RANGE_END_TAG: end}


def contiguous_ranges(keys: list[str], max_size: int) -> list[tuple[str, str]]:
    """Sorted keys grouped into runs of consecutive pages, each at most ``max_size`` long."""
    ranges: list[tuple[str, str]] = []
    start = previous = None
    size = 0
    for key in sorted(set(keys), key=key_to_page):
        if start is not None and key_to_page(key) == key_to_page(previous) + 1 and size < max_size:
            previous, size = key, size + 1
            continue
        if start is not None:
            ranges.append((start, previous))
        start = previous = key
        size = 1
    if start is not None:
        ranges.append((start, previous))
    return ranges


def run_requests(keys: list[str], reason: str) -> list[dg.RunRequest]:
    """One run per stretch of consecutive pages (at most ``YTS_PAGES_PER_RUN`` each), as the schedules
    launch them."""
    ranges = contiguous_ranges(keys, pages_per_run())
    return [dg.RunRequest(tags={**range_tags(start, end), "yts/reason": reason}) for start, end in ranges]


class PageRuns:
    """Runs steps of ``job`` over page ranges in-process; a range a page failed in is redone around that page.

    The redo runs each page a step failed for alone (every unfinished page, when a step failed without
    naming its pages), and the pages only held back by it as ranges again, so one bad page costs
    itself and a second try, not its neighbours' isolation. ``on_run`` sees every run's result.
    """

    def __init__(
        self,
        instance: dg.DagsterInstance,
        job: dg.JobDefinition,
        run_config: dict,
        tags: dict[str, str],
        on_run: Callable[[dg.ExecuteInProcessResult], None],
    ):
        self.instance, self.job, self.run_config, self.tags, self.on_run = instance, job, run_config, tags, on_run
        self.all_steps = len(job.asset_layer.selected_asset_keys)

    def run(self, keys: list[str], steps: list[dg.AssetKey]) -> tuple[Reports, set[str]]:
        """Each page's reports, and the pages the last of ``steps`` materialized."""
        reports: Reports = {}
        finished: set[str] = set()
        for start, end in contiguous_ranges(keys, max_size=max(1, len(keys))):
            chunk = [k for k in keys if key_to_page(start) <= key_to_page(k) <= key_to_page(end)]
            result, done, failed = self._execute(chunk, steps)
            reports.update(result)
            finished |= done
            unfinished = [k for k in chunk if k not in done]
            if len(chunk) == 1 or not unfinished:
                continue
            alone = [k for k in unfinished if failed is None or k in failed] or unfinished
            for key in alone:
                result, done, _ = self._execute([key], steps)
                reports.update(result)
                finished |= done
            held_back = [k for k in unfinished if k not in alone]
            if held_back:
                result, done = self.run(held_back, steps)
                reports.update(result)
                finished |= done
        return reports, finished

    def _execute(self, chunk: list[str], steps: list[dg.AssetKey]) -> tuple[Reports, set[str], set[str] | None]:
        """One run: reports, the pages its last step materialized, and the pages its steps failed for
        (``None`` when a step failed without naming them)."""
        result = self.job.execute_in_process(
            instance=self.instance,
            tags={**range_tags(chunk[0], chunk[-1]), **self.tags},
            run_config=self.run_config,
            raise_on_error=False,
            asset_selection=None if len(steps) == self.all_steps else steps,
        )
        self.on_run(result)
        finished = {
            event.partition for event in result.get_asset_materialization_events() if event.asset_key == steps[-1]
        }
        failed: set[str] = set()
        for event in result.all_events:
            if event.is_step_failure:
                data = event.step_failure_data.user_failure_data
                named = data.metadata.get("failed_pages") if data else None
                if named is None:
                    return latest_page_reports(result), finished, None
                failed |= set(named.value)
        return latest_page_reports(result), finished, failed or None


def run_pages(
    runs: PageRuns,
    db: DatabaseManager,
    keys: list[str],
    steps: list[dg.AssetKey],
    pages_per_run: int,
    tally: Callable[[list[str], Reports, set[str], list[str]], None],
    *,
    embedding_model: str | None,
    refresh: bool = False,
) -> None:
    """Run ``steps`` for ``keys`` in runs of up to ``pages_per_run`` consecutive pages, fetching first.

    A stretch of pages none of which was ever saved runs the whole chain, a run per ``pages_per_run``.
    Otherwise the stretch's pages are fetched first, in one run of up to ``FETCH_RUN_FACTOR`` times as
    many pages, and only those with something to do (a changed answer, rows changed behind the
    mirror's back, details missing or failed, stale embeddings, ``refresh``) run the later steps, a
    run per ``pages_per_run``: the others are settled, and their later steps skipped at once.
    ``tally(pages, reports, finished, settled)`` hears of every group of pages as it is done.
    """
    for stretch in _chunks(keys, pages_per_run * FETCH_RUN_FACTOR):
        with db.get_session() as session:
            seen_before = saved_pages(session, [key_to_page(k) for k in stretch])
        if not seen_before:
            for chunk in _chunks(stretch, pages_per_run):
                tally(chunk, *runs.run(chunk, steps), [])
            continue
        fetches, fetched = runs.run(stretch, steps[:1])
        with db.get_session() as session:
            states = page_states(session, [key_to_page(k) for k in fetched], embedding_model)
        todo = [
            k
            for k in stretch
            if k in fetched
            and (
                key_to_page(k) not in states
                or not states[key_to_page(k)].settled(embeddings=embedding_model is not None, refresh=refresh)
            )
        ]
        for chunk in _chunks(todo, pages_per_run):
            later, finished = runs.run(chunk, steps[1:])
            tally(chunk, {**fetches, **later}, finished, [])  # tally reads only the chunk's pages
        settled = [k for k in stretch if k in fetched and k not in todo]
        tally([k for k in stretch if k not in todo], fetches, set(settled), settled)


def _chunks(keys: list[str], size: int) -> list[list[str]]:
    return [keys[start : start + size] for start in range(0, len(keys), size)]
