"""Shared instances behind the Dagster resources: one per whole settings value, closed on demand (and at exit)."""

from __future__ import annotations

import pytest

from yts_pipeline.defs.resources import API_CLIENTS, DATABASES, DatabaseResource, YtsApiResource


@pytest.fixture(autouse=True)
def _fresh_registries():
    yield
    DATABASES.close_all()
    API_CLIENTS.close_all()


def test_a_database_manager_per_whole_setting(monkeypatch: pytest.MonkeyPatch, database_url: str) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    first = DatabaseResource().manager()
    assert DatabaseResource().manager() is first  # steps and runs of a process share one pool
    assert DatabaseResource(database_url=database_url).manager() is first  # the same settings, spelt out
    monkeypatch.setenv("DB_POOL_SIZE", "2")
    resized = DatabaseResource().manager()
    assert resized is not first and resized.engine.pool.size() == 2


def test_closing_the_shared_databases_gives_fresh_ones(monkeypatch: pytest.MonkeyPatch, database_url: str) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    first = DatabaseResource().manager()
    with first.engine.connect():
        pass
    assert first.engine.pool.checkedin() == 1
    DATABASES.close_all()
    assert first.engine.pool.checkedin() == 0  # its pooled connection was closed
    assert DatabaseResource().manager() is not first


def test_an_api_client_per_whole_setting(monkeypatch: pytest.MonkeyPatch, replay_server) -> None:
    monkeypatch.setenv("YTS_API_URL", replay_server.base_url)
    client = YtsApiResource().client()
    assert YtsApiResource().client() is client
    monkeypatch.setenv("YTS_HTTP_TIMEOUT", "3")
    slower = YtsApiResource().client()
    assert slower is not client and slower.settings.timeout_seconds == 3.0
    assert YtsApiResource(requests_per_second=5).client().settings.requests_per_second == 5


def test_a_resources_database_url_is_read_as_database_url_is(monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``postgres://`` URL given to the resource (an EnvVar in the UI) means what DATABASE_URL means."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    url = "postgres://yts:secret@db.example:5432/yts"
    monkeypatch.setenv("DATABASE_URL", url)
    from_env = DatabaseResource().settings().url
    assert DatabaseResource(database_url=url).settings().url == from_env
    assert from_env.startswith("postgresql://")


def test_a_resources_fields_are_read_as_their_variables_are(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each field given to a resource (an EnvVar in the UI) is parsed as its variable is: the same settings."""
    monkeypatch.setenv("YTS_DATA_DIR", "~/yts-data")
    monkeypatch.setenv("YTS_API_URL", "http://a.example/api/v2, http://b.example/api/v2/")
    assert DatabaseResource(data_dir="~/yts-data").settings() == DatabaseResource().settings()
    assert DatabaseResource().settings().data_dir.is_absolute()
    given = YtsApiResource(base_urls="http://a.example/api/v2, http://b.example/api/v2/")
    assert given.settings() == YtsApiResource().settings()
    assert given.settings().base_urls == ("http://a.example/api/v2/", "http://b.example/api/v2/")
