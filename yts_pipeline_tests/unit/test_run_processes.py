"""What a run costs before its first step: the executor every job uses, and what loading the code imports."""

from __future__ import annotations

import json
import subprocess
import sys

from yts_pipeline.definitions import defs

HEAVY_MODULES = ("torch", "sentence_transformers", "openvino", "onnx", "transformers", "fastapi", "uvicorn")


def test_every_job_runs_its_steps_in_the_runs_own_process() -> None:
    """The multiprocess default would start a Python process per step (~3 s each on two cores)."""
    definitions = defs()
    jobs = [job.name for job in definitions.resolve_all_job_defs()]
    assert "__ASSET_JOB" in jobs and "sync_pages" in jobs  # the Materialize dialog's job, and the schedules'
    assert {name: definitions.resolve_job_def(name).executor_def.name for name in jobs} == dict.fromkeys(
        jobs, "in_process"
    )


def test_loading_the_code_location_imports_no_model_or_web_framework() -> None:
    """Every run worker and code server loads the definitions; only an embedding step needs the model."""
    script = (
        "import sys, json; from yts_pipeline.definitions import defs; defs().resolve_all_job_defs(); "
        f"print(json.dumps(sorted(m for m in {HEAVY_MODULES!r} if m in sys.modules)))"
    )
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert json.loads(loaded.stdout.splitlines()[-1]) == []
