"""One contract for a page's figures: what the assets write as metadata is what ``sync`` reads back and prints."""

from __future__ import annotations

import dataclasses
import io
from contextlib import redirect_stdout

import dagster as dg

from yts_pipeline.cli.sync import SyncTotals, print_summary
from yts_pipeline.defs.page_reports import FIGURES, figure_totals, report_from_metadata, report_metadata
from yts_pipeline.mirror import PageReport, SweepReport


def every_field_set(cls: type, seed: int):
    """An instance whose every field holds a value of its type that is not the default, different per field."""
    values = {}
    for index, field in enumerate(dataclasses.fields(cls), start=seed):
        kind = str(field.type)
        if kind.startswith("dict[int"):
            values[field.name] = {1000 + index: f"failure {index}"}
        elif kind.startswith("list[str"):
            values[field.name] = [f"movie {index}"]
        elif kind.startswith("list[int"):
            values[field.name] = [index, index + 1]
        elif kind.startswith("bool"):
            values[field.name] = True
        elif kind.startswith("float"):
            values[field.name] = index + 0.25
        elif kind.startswith("str"):
            values[field.name] = f"reason {index}"
        else:
            assert kind.startswith("int"), f"{cls.__name__}.{field.name}: no test value for {kind}"
            values[field.name] = index
    return cls(**values)


def test_every_page_figure_survives_the_metadata_round_trip() -> None:
    report = every_field_set(PageReport, seed=3)
    metadata = report_metadata(report)
    assert all(isinstance(value, dg.MetadataValue) for value in metadata.values())
    assert report_from_metadata(PageReport, metadata) == report


def test_the_sweep_report_survives_the_round_trip_too() -> None:
    report = every_field_set(SweepReport, seed=1)
    assert report_from_metadata(SweepReport, report_metadata(report)) == report
    nothing_removed = SweepReport(pages=3, listed=120, removed=[], revived=[])
    assert report_from_metadata(SweepReport, report_metadata(nothing_removed)) == nothing_removed


def test_defaults_left_out_of_the_metadata_come_back_as_defaults() -> None:
    quiet = PageReport(page=7, listed=50, unchanged=50)
    metadata = report_metadata(quiet)
    assert "rejected" not in metadata and "details_failed" not in metadata and "content_changed" not in metadata
    assert metadata["new"].value == 0  # a zero is a figure, shown in the UI
    assert report_from_metadata(PageReport, metadata) == quiet


def test_every_figure_reaches_the_sync_summary() -> None:
    steps = ["raw_list_pages", "movies", "movie_details"]
    reports = {
        step: [every_field_set(PageReport, seed=10 * i), every_field_set(PageReport, seed=10 * i + 1)]
        for i, step in enumerate(steps, start=1)
    }
    totals = SyncTotals(pages_done=2, reports=reports)
    for step in steps:
        assert set(totals.step_totals()[step]) == set(FIGURES)
        assert all(totals.step_totals()[step][name] for name in FIGURES)  # nothing summed to zero
    assert totals.new == sum(r.new for r in reports["movies"])
    assert totals.details_calls == sum(r.details_calls for r in reports["movie_details"])
    assert totals.failures == sum(
        len(r.rejected) + len(r.details_failed) for step in ("movies", "movie_details") for r in reports[step]
    )
    out = io.StringIO()
    with redirect_stdout(out):
        print_summary(totals, seconds=1.0)
    printed = out.getvalue()
    for step in steps:
        line = next(line for line in printed.splitlines() if line.strip().startswith(step + ":"))
        for name, value in figure_totals(reports[step]).items():
            shown = f"{value:.2f} s" if name == "seconds" else f"{value:g} "
            assert shown in line, f"{step}: figure {name} ({value}) missing from {line!r}"
