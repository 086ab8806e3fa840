"""The checkout's ``.env``, which tells ``dg dev`` and ``dg launch`` where the local instance is."""

from __future__ import annotations

from pathlib import Path

from yts_pipeline.settings import DagsterSettings


def project_checkout() -> Path | None:
    """The dg project folder this package runs from (an editable install of the checkout), if any."""
    root = Path(__file__).resolve().parents[2]
    pyproject = root / "pyproject.toml"
    return root if pyproject.is_file() and "[tool.dg]" in pyproject.read_text() else None


def point_dg_at_default_instance(home: Path, checkout: Path | None = None) -> Path | None:
    """Write ``DAGSTER_HOME`` into the checkout's ``.env``, so ``dg dev`` / ``dg launch`` run on this instance.

    dg reads ``.env`` from the folder it runs in before it opens the instance, and the default home is
    an absolute path per user, so it cannot be committed. Only the default (neither ``DAGSTER_HOME``
    nor ``YTS_DATA_DIR`` set) is written, as ``${DAGSTER_HOME:-...}`` so an exported one still wins;
    a ``.env`` that already names DAGSTER_HOME is left alone. Returns the file when it was written.
    """
    checkout = checkout or project_checkout()
    if checkout is None or DagsterSettings.from_env().chosen_by is not None:
        return None
    env_file = checkout / ".env"
    lines = env_file.read_text().splitlines() if env_file.exists() else []
    if any(line.split("=", 1)[0].strip().removeprefix("export ").strip() == "DAGSTER_HOME" for line in lines):
        return None
    lines += [
        "# The Dagster instance of `yts-pipeline sync` / `ui`, for dg commands (written by yts-pipeline).",
        f"DAGSTER_HOME=${{DAGSTER_HOME:-{home}}}",
    ]
    try:
        env_file.write_text("\n".join(lines) + "\n")
    except OSError:
        return None  # a read-only checkout: dg then needs DAGSTER_HOME exported
    return env_file
