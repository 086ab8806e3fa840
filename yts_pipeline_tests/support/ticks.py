"""Sensor and schedule evaluation contexts as the daemon makes them, on a real instance, closed after use.

A schedule context opens its own instance from the one it is given, and that instance sets Dagster's
current defs-state storage until the context is closed. Left open, the context is closed whenever the
garbage collector gets to it, which puts back a storage whose instance may be gone by then: a later
``resolve_job_def`` anywhere in the process then fails on a dead instance weakref.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from yts_pipeline.definitions import defs as load_definitions
from yts_pipeline.defs.resources import DatabaseResource, YtsApiResource


def resources() -> dict[str, dg.ConfigurableResource]:
    """The resources the runs get, with settings from the environment."""
    return {"yts_api": YtsApiResource(), "database": DatabaseResource()}


@contextmanager
def sensor_context(instance: dg.DagsterInstance) -> Iterator[dg.SensorEvaluationContext]:
    with dg.build_sensor_context(instance=instance, definitions=load_definitions(),
                                 resources=resources()) as context:
        yield context


@contextmanager
def schedule_context(instance: dg.DagsterInstance) -> Iterator[dg.ScheduleEvaluationContext]:
    with dg.build_schedule_context(instance=instance, resources=resources()) as context:
        yield context
