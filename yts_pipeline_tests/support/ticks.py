"""Sensor and schedule evaluation contexts as the daemon makes them, on a real instance, to close after use.

A schedule context opens its own instance from the one it is given, and that instance sets Dagster's
current defs-state storage until the context is closed. Left open, the context is closed whenever the
garbage collector gets to it, which puts back a storage whose instance may be gone by then: a later
``resolve_job_def`` anywhere in the process then fails on a dead instance weakref.
"""

from __future__ import annotations

from functools import cache

import dagster as dg

from yts_pipeline.definitions import defs as load_definitions
from yts_pipeline.defs.resources import DatabaseResource, YtsApiResource

definitions = cache(load_definitions)  # built once, on the first sensor tick


def resources() -> dict[str, dg.ConfigurableResource]:
    """The resources the runs get, with settings from the environment."""
    return {"yts_api": YtsApiResource(), "database": DatabaseResource()}


def sensor_context(instance: dg.DagsterInstance) -> dg.SensorEvaluationContext:
    """Use it in a ``with`` block."""
    return dg.build_sensor_context(instance=instance, definitions=definitions(), resources=resources())


def schedule_context(instance: dg.DagsterInstance) -> dg.ScheduleEvaluationContext:
    """Use it in a ``with`` block."""
    return dg.build_schedule_context(instance=instance, resources=resources())
