"""A page's figures (``mirror.PageReport``, and the sweep's ``SweepReport``) as asset metadata, and read back.

The UI and ``yts-pipeline sync`` see the same numbers because both go through this module: every
field of a report is written under its own name and read back by the same field list, so a figure
cannot reach one and miss the other.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

import dagster as dg

from yts_pipeline.defs.partitions import key_to_page
from yts_pipeline.mirror import PageError, PageReport

R = TypeVar("R")
FIGURES = tuple(field.name for field in dataclasses.fields(PageReport) if field.name != "page")  # what sums
PROGRESS_EVERY_SECONDS = 15.0  # a long step logs how far it got at most this often
LABELS = {
    "content_changed": "page(s) with new content",
    "settled": "page(s) settled (nothing to do)",
    "texts": "texts encoded",
    "skipped": "up to date",
}


def _metadata_value(value: Any) -> dg.MetadataValue:
    if isinstance(value, bool):
        return dg.MetadataValue.bool(value)
    if isinstance(value, int):
        return dg.MetadataValue.int(value)
    if isinstance(value, float):
        return dg.MetadataValue.float(round(value, 3))
    if isinstance(value, str):
        return dg.MetadataValue.text(value)
    return dg.MetadataValue.json({str(k): v for k, v in value.items()} if isinstance(value, dict) else value)


def _left_out(field: dataclasses.Field, value: Any) -> bool:
    """Unknown (``None``) values, and empty lists and maps that are the field's default, say nothing."""
    has_default = field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING
    return value is None or (has_default and value in ([], {}))


def report_metadata(report: Any) -> dict[str, dg.MetadataValue]:
    """A report dataclass, field by field (see ``_left_out`` for what is not written)."""
    return {
        field.name: _metadata_value(value)
        for field in dataclasses.fields(report)
        if not _left_out(field, value := getattr(report, field.name))
    }


def report_from_metadata(cls: type[R], metadata: Mapping[str, dg.MetadataValue]) -> R:
    """The report that ``report_metadata`` wrote; a field left out takes its default."""
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        if field.name not in metadata:
            continue
        value = metadata[field.name].value
        if isinstance(value, dict) and str(field.type).startswith("dict[int"):
            value = {int(k): v for k, v in value.items()}
        values[field.name] = value
    return cls(**values)


def _amount(value: Any) -> int | float:
    """A figure as a number: lists and maps count their items, a flag counts 1, unknown counts 0."""
    if isinstance(value, (list, dict)):
        return len(value)
    return value or 0


def figure_totals(reports: Iterable[PageReport]) -> dict[str, int | float]:
    """Every figure summed over pages (``content_changed``: how many pages changed)."""
    totals: dict[str, int | float] = dict.fromkeys(FIGURES, 0)
    for report in reports:
        for name in FIGURES:
            totals[name] += _amount(getattr(report, name))
    return totals


def describe_figures(totals: Mapping[str, int | float]) -> str:
    """``"50 listed, 2 new, 57 rows written, 0.05 s"``: the figures that are not zero, named after their field."""
    parts = [
        f"{value:.2f} s" if name == "seconds" else f"{value:g} {LABELS.get(name, name.replace('_', ' '))}"
        for name, value in totals.items()
        if value
    ]
    return ", ".join(parts) or "nothing to do"


def summary_line(step: str, reports: list[PageReport]) -> str:
    """``"save pages 1-25: 1250 listed, ..."``: a step's figures over its pages, for the run log."""
    pages = [report.page for report in reports]
    where = f"page {pages[0]}" if len(pages) == 1 else f"{len(pages)} pages {min(pages)}-{max(pages)}"
    return f"{step} {where}: {describe_figures(figure_totals(reports))}"


def latest_page_reports(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], PageReport]:
    """The last report per (asset, page key) that a run materialized: each page's own figures."""
    found = {}
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        if materialization.partition is not None and "page" in materialization.metadata:
            found[(materialization.asset_key.to_user_string(), materialization.partition)] = report_from_metadata(
                PageReport, materialization.metadata
            )
    return found


def materialize_pages(
    context: dg.AssetExecutionContext, step: str, work: Callable[[int], PageReport]
) -> Iterator[dg.MaterializeResult | dg.AssetMaterialization]:
    """Run ``work`` for every page of the run's partition range: one materialization per page.

    Each page's figures go onto its own partition's materialization (``add_asset_metadata``), so a
    range run records every page once, with that page's numbers. The run log says each thing once:
    the step's totals at the end, how far it got every ``PROGRESS_EVERY_SECONDS`` of a long step,
    and each failure (every log line is an event the instance stores, so not one per page). A page
    that fails (``PageError``) does not stop the others: the good pages are recorded as materialized
    and the step then fails naming the bad ones, so a retry redoes only those.
    """
    keys = context.partition_keys
    reports: dict[str, PageReport] = {}
    errors: dict[str, str] = {}
    started = last_progress = time.monotonic()
    for index, key in enumerate(keys, 1):
        try:
            reports[key] = work(key_to_page(key))
        except PageError as exc:
            errors[key] = str(exc)
            context.log.error(f"{step} page {key_to_page(key)} failed: {exc}")
        now = time.monotonic()
        if index < len(keys) and now - last_progress >= PROGRESS_EVERY_SECONDS:
            last_progress, eta = now, (now - started) / index * (len(keys) - index)
            context.log.info(f"{step}: {index}/{len(keys)} pages done, ETA {eta:.0f} s")
    if reports:
        context.log.info(summary_line(step, list(reports.values())))
    if errors:
        for key, report in reports.items():  # no output follows, so these are the pages' only events
            yield dg.AssetMaterialization(asset_key=context.asset_key, partition=key, metadata=report_metadata(report))
        raise dg.Failure(
            description=f"{step}: {len(errors)} of {len(keys)} page(s) failed: "
            + "; ".join(f"{k}: {v}" for k, v in errors.items()),
            metadata={"failed_pages": dg.MetadataValue.json(errors)},
        )
    for key, report in reports.items():
        context.add_asset_metadata(report_metadata(report), partition_key=key)
    yield dg.MaterializeResult()
