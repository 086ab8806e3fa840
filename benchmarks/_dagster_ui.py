"""What the benchmarks do through the Dagster UI's GraphQL API, beyond what the e2e tests already do
(``yts_pipeline_tests/e2e/services.py``): one partition launched as the Materialize dialog launches it,
a run or a backfill awaited, and where a run's time went, read from its event log; and the start both UI
benchmarks' ``main`` share."""

from __future__ import annotations

import signal
import sys
import time
from dataclasses import dataclass

import _pg  # noqa: F401  (puts the checkout on sys.path, for yts_pipeline_tests)
import dagster as dg

from yts_pipeline_tests.e2e.services import FINISHED, graphql

# The dialog's queries (ui-core LaunchAssetExecutionButton, ConfigFetch), trimmed to the fields it uses here.
ASSET_NODES = """
query LaunchAssetLoaderQuery($assetKeys: [AssetKeyInput!]!) {
  assetNodes(assetKeys: $assetKeys) {
    jobNames
    assetKey { path }
    assetChecksOrError { ... on AssetChecks { checks { name jobNames } } }
    repository { name location { name } }
  }
}
"""
PARTITION_CONFIG = """
query ConfigPartitionForAssetJobQuery($repositoryName: String!, $repositoryLocationName: String!,
    $jobName: String!, $partitionName: String!, $assetKeys: [AssetKeyInput!]!) {
  pipelineOrError(params: {pipelineName: $jobName, repositoryName: $repositoryName,
                           repositoryLocationName: $repositoryLocationName}) {
    ... on Pipeline {
      partition(partitionName: $partitionName, selectedAssetKeys: $assetKeys) {
        runConfigOrError { ... on PartitionRunConfig { yaml } }
        tagsOrError { ... on PartitionTags { results { key value } } }
      }
    }
  }
}
"""
LAUNCH_RUN = """
mutation LaunchPipelineExecution($executionParams: ExecutionParams!) {
  launchPipelineExecution(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on Error { message }
    ... on PythonError { stack }
  }
}
"""
RUN_STATUS = "query RunStatus($runId: ID!) { runOrError(runId: $runId) { ... on Run { status } } }"
BACKFILL_END = """
query BackfillEnd($backfillId: String!) { partitionBackfillOrError(backfillId: $backfillId) {
  ... on PartitionBackfill { status endTimestamp } } }
"""
DAEMONS = "{ instance { daemonHealth { allDaemonStatuses { daemonType required healthy } } } }"
RUN_FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}
MOVIES_PER_PAGE = 50
E = dg.DagsterEventType


def start_benchmark(default_movies: int) -> tuple[int, int]:
    """SIGTERM exits (so ``finally`` cleans up); the replay movies (``sys.argv[1]``, else the default) and pages."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    movies = int(sys.argv[1]) if len(sys.argv) > 1 else default_movies
    return movies, -(-movies // MOVIES_PER_PAGE)


@dataclass
class Dialog:
    """What the dialog knows once it has loaded the selected assets: their code location and common job."""

    location: str
    repository: str
    job: str
    assets: list[dict]
    checks: list[dict]


def open_dialog(port: int, assets: list[str]) -> Dialog:
    """The selected assets as the dialog loads them; the job: the first one they all share (getCommonJob)."""
    nodes = graphql(port, ASSET_NODES, {"assetKeys": [{"path": [name]} for name in assets]})["assetNodes"]
    common = [job for job in nodes[0]["jobNames"] if all(job in node["jobNames"] for node in nodes)]
    job = common[0]
    checks = [
        {"name": check["name"], "assetKey": {"path": node["assetKey"]["path"]}}
        for node in nodes
        for check in node["assetChecksOrError"].get("checks", [])
        if not check["jobNames"] or job in check["jobNames"]
    ]
    repository = nodes[0]["repository"]
    return Dialog(
        repository["location"]["name"],
        repository["name"],
        job,
        [{"path": node["assetKey"]["path"]} for node in nodes],
        checks,
    )


def launch_partition(port: int, dialog: Dialog, partition: str) -> str:
    """One run of one partition, as the dialog's Launch button does: the partition's tags and config, then
    launchPipelineExecution of the common job over the selected assets (and their checks)."""
    partition_config = graphql(
        port,
        PARTITION_CONFIG,
        {
            "repositoryName": dialog.repository,
            "repositoryLocationName": dialog.location,
            "jobName": dialog.job,
            "partitionName": partition,
            "assetKeys": dialog.assets,
        },
    )["pipelineOrError"]["partition"]
    tags = [{"key": t["key"], "value": t["value"]} for t in partition_config["tagsOrError"]["results"]]
    return _launch(
        port,
        dialog,
        dialog.job,
        tags,
        partition_config["runConfigOrError"]["yaml"] or "{}",
        assetSelection=dialog.assets,
        assetCheckSelection=dialog.checks,
    )


def launch_range(port: int, dialog: Dialog, job: str, start: str, end: str) -> str:
    """A range of pages as one run, as the Launchpad of ``job`` launches it with the two range tags added
    (*Edit tags*): no backfill, so the backfill daemon's 30-s look is not waited for."""
    tags = [
        {"key": "dagster/asset_partition_range_start", "value": start},
        {"key": "dagster/asset_partition_range_end", "value": end},
    ]
    return _launch(port, dialog, job, tags, "{}")


def _launch(port: int, dialog: Dialog, job: str, tags: list[dict], run_config: str, **selection: list[dict]) -> str:
    """launchPipelineExecution of ``job`` in the dialog's code location (over ``selection``, if given); the run id."""
    launched = graphql(
        port,
        LAUNCH_RUN,
        {
            "executionParams": {
                "mode": "default",
                "executionMetadata": {"tags": tags},
                "runConfigData": run_config,
                "selector": {
                    "repositoryLocationName": dialog.location,
                    "repositoryName": dialog.repository,
                    "pipelineName": job,
                    **selection,
                },
            }
        },
    )["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def wait_for_run(port: int, run_id: str, timeout: float, poll: float = 0.1) -> str:
    """The run's status once it has finished (polled as often as a watching UI would, or more)."""
    deadline = time.monotonic() + timeout
    while True:
        status = graphql(port, RUN_STATUS, {"runId": run_id})["runOrError"]["status"]
        if status in RUN_FINISHED or time.monotonic() > deadline:
            return status
        time.sleep(poll)


def backfill_end(port: int, backfill_id: str) -> tuple[str, float | None]:
    """The backfill's status and when the daemon marked it finished (epoch seconds)."""
    backfill = graphql(port, BACKFILL_END, {"backfillId": backfill_id})["partitionBackfillOrError"]
    return backfill["status"], backfill["endTimestamp"] if backfill["status"] in FINISHED else None


def wait_for_daemons(port: int, timeout: float = 300) -> None:
    """Until every required daemon has sent a healthy heartbeat, as the UI's daemon page shows them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        daemons = graphql(port, DAEMONS)["instance"]["daemonHealth"]["allDaemonStatuses"]
        if all(d["healthy"] for d in daemons if d["required"]):
            return
        time.sleep(0.5)
    raise TimeoutError(f"the Dagster daemons were not healthy within {timeout} s: {daemons}")


@dataclass
class RunPhases:
    """Where one run's time went, each phase in seconds, in the order they happen."""

    phases: list[tuple[str, float]]
    steps: list[tuple[str, float]]  # step key, its work (STEP_START -> its end), in the order they ran
    created: float  # epoch seconds of RUN_ENQUEUED (or the run's creation)
    ended: float  # epoch seconds of RUN_SUCCESS / RUN_FAILURE


def run_phases(instance: dg.DagsterInstance, run_id: str) -> RunPhases:
    """The run's phases from its event log: the queue, the run worker's start (interpreter, Dagster, the
    instance: until it logs "Started process for run"), the code load (the project's imports and
    definitions, until RUN_START), the steps' own work and what lies between and around them."""
    first: dict[dg.DagsterEventType, float] = {}
    step_start, step_end = {}, {}
    worker_started = None
    for record in instance.all_logs(run_id):
        event, at = record.dagster_event, record.timestamp
        if event is None:
            continue
        first.setdefault(event.event_type, at)
        if event.event_type == E.ENGINE_EVENT and (event.message or "").startswith("Started process for run"):
            worker_started = worker_started or at
        elif event.event_type == E.STEP_START:
            step_start[event.step_key] = at
        elif event.event_type in (E.STEP_SUCCESS, E.STEP_FAILURE):
            step_end[event.step_key] = at
    created = first.get(E.RUN_ENQUEUED) or instance.get_run_record_by_id(run_id).create_timestamp.timestamp()
    starting, started = first[E.RUN_STARTING], first[E.RUN_START]
    ended = first.get(E.RUN_SUCCESS) or first[E.RUN_FAILURE]
    worker_started = worker_started or starting
    in_order = sorted(step_start.items(), key=lambda item: item[1])
    steps = [(key, step_end.get(key, at) - at) for key, at in in_order]
    steps_begin = min(step_start.values(), default=started)
    steps_end = max(step_end.values(), default=started)
    work = sum(seconds for _, seconds in steps)
    phases = [
        ("queue wait and launch (enqueued -> starting)", starting - created),
        ("run worker start: interpreter, Dagster, instance", worker_started - starting),
        ("code load: project imports, definitions", started - worker_started),
        ("run start -> first step (executor, resources)", steps_begin - started),
        ("steps: their own work", work),
        ("steps: between them (step processes, events)", steps_end - steps_begin - work),
        ("last step -> run end", ended - steps_end),
    ]
    return RunPhases(phases, steps, created, ended)
