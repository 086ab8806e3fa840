"""How every job's steps execute: one after another, inside the run's own process.

A page run's steps (fetch, save, details, embeddings) depend on one another, so they never run side by
side, and the integrity checks are short queries. Dagster's default multiprocess executor would start a
Python process per step (each importing Dagster and the project, ~3 s on two cores) to gain nothing; with
the in-process executor a UI run costs what ``yts-pipeline sync`` pays, which runs the same jobs
in-process. Runs still go side by side (each its own process), and the in-process executor claims pool
slots too, so the ``yts_api`` pool keeps one API-calling step at a time across all runs.
"""

import dagster as dg


@dg.definitions
def executor() -> dg.Definitions:
    return dg.Definitions(executor=dg.in_process_executor)
