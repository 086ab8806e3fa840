"""Fixtures of the reliability scenarios: the scenario recorder, subprocesses, clean reference syncs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from yts_pipeline.yts.replay import Catalog, ReplayServer
from yts_pipeline_tests.reliability.recording import Scenario, scenario  # noqa: F401  (fixture)
from yts_pipeline_tests.reliability.support import Processes, cli_env, comparable_dump, processes


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    """Subprocesses of one scenario; whatever still runs at its end is killed."""
    folder = tmp_path / "processes"
    folder.mkdir()
    with processes(folder) as group:
        yield group


class References:
    """Canonical dumps of fault-free syncs, one per synthetic catalog, computed once per session."""

    def __init__(self, postgres, folder: Path):
        self.postgres, self.folder = postgres, folder
        self.dumps: dict[tuple[int, int], dict] = {}
        self.seconds: dict[tuple[int, int], float] = {}

    def dump(self, movies: int, seed: int) -> dict:
        key = (movies, seed)
        if key not in self.dumps:
            self.dumps[key] = self._clean_sync(movies, seed)
        return self.dumps[key]

    def _clean_sync(self, movies: int, seed: int) -> dict:
        from yts_pipeline_tests.conftest import TEMPLATE

        name = self.postgres.create_database(TEMPLATE)
        url = self.postgres.url(name)
        folder = self.folder / f"clean-{movies}-{seed}"
        folder.mkdir(parents=True)
        try:
            with (
                ReplayServer(Catalog.synthetic(movies, seed=seed), retry_after_seconds=0) as server,
                processes(folder) as group,
            ):
                started = time.monotonic()
                env = cli_env(server.base_url, database_url=url, dagster_home=folder / "dagster_home")
                proc = group.run("clean-sync", ["sync", "--skip-embeddings"], env)
                assert proc.popen.returncode == 0, proc.describe()
                self.seconds[(movies, seed)] = round(time.monotonic() - started, 1)
            return comparable_dump(url)
        finally:
            self.postgres.drop_database(name)


@pytest.fixture(scope="session")
def references(postgres, tmp_path_factory: pytest.TempPathFactory) -> References:
    return References(postgres, tmp_path_factory.mktemp("references"))


@pytest.fixture
def fresh_database(postgres) -> Iterator[str]:
    """Another empty mirror database (schema only) on the test server, dropped afterwards."""
    from yts_pipeline_tests.conftest import TEMPLATE

    name = postgres.create_database(TEMPLATE)
    yield postgres.url(name)
    postgres.drop_database(name)


__all__ = ["Scenario", "References"]
