"""Per-page metadata and logs: how a user follows a backfill in the UI."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import dagster as dg

from yts_pipeline.assets.partitions import key_page
from yts_pipeline.mirror import PageError, PageReport

COLUMNS = ("page", "listed", "new", "changed", "unchanged", "details_calls", "failures", "rows_written",
           "api_retries", "seconds")


def _row(report: PageReport) -> dict[str, float | int]:
    return {**{k: getattr(report, k) for k in COLUMNS if hasattr(report, k)},
            "failures": len(report.details_failed) + len(report.rejected), "seconds": round(report.seconds, 2)}


def _table(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(str(row[c]) for c in COLUMNS) + " |" for row in rows[:50]]
    if len(rows) > 50:
        lines.append(f"| ... {len(rows) - 50} more pages | |")
    return "\n".join(lines)


def page_metadata(reports: list[PageReport]) -> dict[str, dg.MetadataValue]:
    """Totals of one or more pages, the failures by name, and a markdown preview table."""
    rows = [_row(r) for r in reports]
    totals = {c: sum(row[c] for row in rows) for c in COLUMNS if c != "page"}
    failed = {str(k): v for r in reports for k, v in r.details_failed.items()}
    rejected = [m for r in reports for m in r.rejected]
    metadata: dict[str, dg.MetadataValue] = {
        "pages": dg.MetadataValue.text(", ".join(str(r.page) for r in reports)),
        "movies_listed": dg.MetadataValue.int(int(totals["listed"])),
        "new": dg.MetadataValue.int(int(totals["new"])),
        "changed": dg.MetadataValue.int(int(totals["changed"])),
        "unchanged": dg.MetadataValue.int(int(totals["unchanged"])),
        "details_calls": dg.MetadataValue.int(int(totals["details_calls"])),
        "failures": dg.MetadataValue.int(int(totals["failures"])),
        "rows_written": dg.MetadataValue.int(int(totals["rows_written"])),
        "api_retries": dg.MetadataValue.int(int(totals["api_retries"])),
        "duration_seconds": dg.MetadataValue.float(round(float(totals["seconds"]), 2)),
        "preview": dg.MetadataValue.md(_table(rows)),
    }
    if len(reports) == 1:
        metadata["page"] = dg.MetadataValue.int(reports[0].page)
    if failed:
        metadata["failed_details"] = dg.MetadataValue.json(failed)
    if rejected:
        metadata["rejected_movies"] = dg.MetadataValue.json(rejected)
    return metadata


def summary_line(step: str, report: PageReport) -> str:
    text = (f"{step} page {report.page}: {report.listed} listed, {report.new} new, {report.changed} changed, "
            f"{report.unchanged} unchanged")
    if report.details_calls:
        text += f", {report.details_calls} details calls"
    if report.details_failed or report.rejected:
        text += f", {len(report.details_failed) + len(report.rejected)} failures"
    if report.api_retries:
        text += f", {report.api_retries} API retries"
    return text + f", {report.rows_written} rows written ({report.seconds:.2f} s)"


def materialize_pages(context: dg.AssetExecutionContext, step: str,
                      work: Callable[[int], PageReport]) -> Iterator[dg.MaterializeResult | dg.AssetMaterialization]:
    """Run ``work`` for every page of the run's partition range, reporting each page on its own.

    A page that fails (``PageError``) does not stop the others: the good pages are recorded as
    materialized and the step then fails naming the bad ones, so a retry redoes only those.
    """
    keys = context.partition_keys
    reports: dict[str, PageReport] = {}
    errors: dict[str, str] = {}
    started = time.monotonic()
    context.log.info(f"{step}: {len(keys)} page(s), {keys[0]}..{keys[-1]}" if keys else f"{step}: no pages")
    for index, key in enumerate(keys, 1):
        try:
            report = work(key_page(key))
        except PageError as exc:
            errors[key] = str(exc)
            context.log.error(f"{step} page {key_page(key)} failed: {exc}")
            continue
        reports[key] = report
        elapsed = time.monotonic() - started
        eta = elapsed / index * (len(keys) - index)
        context.log.info(f"[{index}/{len(keys)}, ETA {eta:.0f} s] " + summary_line(step, report))
    if errors:
        for key, report in reports.items():
            yield dg.AssetMaterialization(asset_key=context.asset_key, partition=key, metadata=page_metadata([report]))
        raise dg.Failure(
            description=f"{step}: {len(errors)} of {len(keys)} page(s) failed: "
                        + "; ".join(f"{k}: {v}" for k, v in errors.items()),
            metadata={"failed_pages": dg.MetadataValue.json(errors)},
        )
    yield dg.MaterializeResult(metadata=page_metadata(list(reports.values())))
    if len(keys) > 1:
        for key, report in reports.items():
            yield dg.AssetMaterialization(asset_key=context.asset_key, partition=key, metadata=page_metadata([report]))
