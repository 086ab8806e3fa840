"""The Dagster pipeline in-process against the replay API and a real Postgres."""

from __future__ import annotations

import io
import re
from contextlib import redirect_stdout

import dagster as dg
import pytest
from sqlalchemy import select, text

from yts_pipeline.cli.sync import print_summary, run_sync
from yts_pipeline.db.manager import DatabaseManager
from yts_pipeline.db.models import Cast, Movie, MovieCast, Torrent
from yts_pipeline_tests.support.canonical import canonical_dump, dump_differences


def sync(**kwargs):
    return run_sync(out=io.StringIO(), skip_embeddings=True, **kwargs)


def test_three_page_sync_stores_every_movie_as_served(pipeline_env, database_url, replay_server) -> None:
    totals = sync()
    catalog = replay_server.catalog
    assert totals.failed_pages == [] and totals.pages_done == 3
    assert totals.new == 120 and totals.details_calls == 120
    assert (totals.checks_passed, totals.check_warnings, totals.failed_checks) == (4, [], [])
    db = DatabaseManager(database_url)
    try:
        with db.get_session() as session:
            stored = {m.external_id: m for m in session.scalars(select(Movie))}
            assert set(stored) == set(catalog.ids())
            for movie_id in catalog.ids():
                served = catalog.movie(movie_id)
                movie = stored[movie_id]
                assert movie.title == served["title"] and movie.year == served["year"]
                assert movie.details_fetched_at is not None and movie.removed_at is None
                assert sorted(g.name for g in movie.genres) == sorted(served.get("genres", []))
                assert {t.hash for t in movie.torrents} == {t["hash"] for t in served.get("torrents", [])}
                cast = session.execute(
                    select(Cast.name, MovieCast.character_name)
                    .join(MovieCast, MovieCast.cast_id == Cast.id)
                    .where(MovieCast.movie_id == movie.id)
                ).all()
                assert sorted(name for name, _ in cast) == sorted({c["name"] for c in served.get("cast", [])})
    finally:
        db.close_all()


def test_rerun_makes_no_details_calls_and_writes_nothing(pipeline_env, database_url, replay_server) -> None:
    sync()
    before = canonical_dump(database_url)
    replay_server.reset_counters()
    totals = sync()
    assert replay_server.calls["movie_details"] == 0
    assert replay_server.calls["list_movies"] == 1 + 3  # discovery + one call per page
    assert (totals.new, totals.changed, totals.unchanged, totals.details_calls) == (0, 0, 120, 0)
    assert canonical_dump(database_url) == before


def test_a_rerun_fetches_saved_pages_in_longer_runs(pipeline_env, replay_server) -> None:
    """Pages saved before are fetched in runs of FETCH_RUN_FACTOR times --pages-per-run, so a rerun
    pays a run's fixed cost once for these 3 pages, not once per page."""
    first = sync(pages_per_run=1)
    again = sync(pages_per_run=1)
    assert len(first.run_ids) == 3 + 1  # a run of the whole chain per page, then the sweep
    assert len(again.run_ids) == 1 + 1 and [r.page for r in again.settled] == [1, 2, 3]


def test_a_rerun_skips_settled_pages_but_not_what_is_pending(pipeline_env, database_url, replay_server) -> None:
    """The skip's boundaries: rows deleted or edited behind the mirror's back, a failed details call,
    ``--refresh`` and embeddings never made all keep a page from being skipped; nothing else does."""
    sync()
    catalog, db = replay_server.catalog, DatabaseManager(database_url)
    page_one, page_two, page_three = catalog.ids()[:50], catalog.ids()[50:100], catalog.ids()[100:]
    try:
        clean = canonical_dump(database_url)
        with db.get_session() as session:
            session.execute(text("DELETE FROM movies WHERE external_id = :id"), {"id": page_one[0]})
            session.execute(
                text(
                    "UPDATE torrents SET seeds = seeds + 1 WHERE movie_id = "
                    "(SELECT id FROM movies WHERE external_id = :id)"
                ),
                {"id": page_two[0]},
            )
        replay_server.reset_counters()
        totals = sync()
        assert [r.page for r in totals.settled] == [3]
        assert list(replay_server.details_calls) == [page_one[0]]  # the deleted movie is back, with its details
        assert canonical_dump(database_url) == clean

        with db.get_session() as session:
            session.execute(
                text("UPDATE movies SET details_error = 'timeout' WHERE external_id = :id"), {"id": page_three[0]}
            )
        replay_server.reset_counters()
        totals = sync()
        assert [r.page for r in totals.settled] == [1, 2] and list(replay_server.details_calls) == [page_three[0]]

        replay_server.reset_counters()
        totals = sync(refresh=True)
        assert totals.settled == [] and replay_server.calls["movie_details"] == 120

        with db.get_session() as session:
            session.execute(text("TRUNCATE movies CASCADE"))
        totals = sync()
        assert totals.settled == [] and totals.new == 120
        assert canonical_dump(database_url) == clean

        unembedded = run_sync(out=io.StringIO(), pages=(1, 1))  # embeddings were skipped so far
        assert unembedded.settled == [] and db.get_stats()["embeddings"] == 50
    finally:
        db.close_all()


def test_a_page_where_one_torrents_seeds_changed_is_applied(pipeline_env, database_url, replay_server) -> None:
    """The smallest change the API makes (one torrent's seeds) un-settles its page, and only that page."""
    sync()
    catalog = replay_server.catalog
    movie_id = next(i for i in catalog.ids()[50:100] if len(catalog.movie(i).get("torrents", [])) == 1)  # page 2
    catalog.set_seeds(movie_id, seeds=4321, peers=99)
    replay_server.reset_counters()
    totals = sync()
    assert [r.page for r in totals.settled] == [1, 3]
    assert (totals.changed, totals.new, replay_server.calls["movie_details"]) == (1, 0, 0)
    db = DatabaseManager(database_url)
    try:
        with db.get_session() as session:
            seeds = session.execute(
                select(Torrent.seeds, Torrent.peers).join(Movie).where(Movie.external_id == movie_id)
            ).all()
        assert seeds == [(4321, 99)]
    finally:
        db.close_all()


def test_catalog_changes_are_discovered_and_applied(pipeline_env, database_url, replay_server) -> None:
    sync()
    catalog = replay_server.catalog
    ids = catalog.ids()
    with_torrents = [i for i in ids if catalog.movie(i).get("torrents")]
    catalog.set_seeds(with_torrents[0], seeds=4321, peers=99)
    new_hash = catalog.add_torrent(with_torrents[1])
    added = catalog.add_movies(40)  # 160 movies: a fourth page appears
    replay_server.reset_counters()
    totals = sync()
    assert totals.pages_done == 4 and totals.new == 40 and totals.changed == 2
    assert sorted(replay_server.details_calls) == sorted(added)
    db = DatabaseManager(database_url)
    try:
        with db.get_session() as session:
            seeds = session.scalars(
                select(Torrent.seeds).join(Movie).where(Movie.external_id == with_torrents[0])
            ).all()
            assert seeds and set(seeds) == {4321}
            assert session.scalar(select(Torrent.id).where(Torrent.hash == new_hash)) is not None
    finally:
        db.close_all()


def test_full_sweep_marks_removed_movies_and_revives_them(pipeline_env, database_url, replay_server) -> None:
    sync()
    catalog = replay_server.catalog
    gone = catalog.ids()[10]
    removed_movie = catalog.movie(gone)
    catalog.remove_movie(gone)
    partial = sync(pages=(1, 1))
    assert not partial.swept  # a partial sync never tombstones
    assert partial.check_warnings == ["count_matches_api"]  # 120 stored, the API now lists 119
    totals = sync()
    assert totals.swept and totals.removed == 1
    db = DatabaseManager(database_url)
    try:
        with db.get_session() as session:
            assert session.scalar(select(Movie.removed_at).where(Movie.external_id == gone)) is not None
            assert session.scalar(select(Movie.title).where(Movie.external_id == gone)) == removed_movie["title"]
    finally:
        db.close_all()


def test_integrity_checks_after_a_sync_name_what_is_lost(pipeline_env, database_url, replay_server, capsys) -> None:
    from yts_pipeline.cli.main import main

    sync()
    lost = replay_server.catalog.ids()[0]  # listed on page 1
    db = DatabaseManager(database_url)
    try:
        with db.get_session() as session:
            session.delete(session.scalars(select(Movie).where(Movie.external_id == lost)).one())
    finally:
        db.close_all()
    assert main(["sync", "--pages", "3", "--skip-embeddings"]) == 1  # page 1 is not rewritten
    err = capsys.readouterr().err
    assert "FAILED integrity checks: listed_movies_are_stored" in err


def test_a_check_that_raises_is_reported_as_failed(pipeline_env, database_url, replay_server) -> None:
    db = DatabaseManager(database_url)
    try:
        with db.get_session() as session:
            session.execute(text("ALTER TABLE movie_embeddings RENAME COLUMN model TO model_renamed"))
    finally:
        db.close_all()
    totals = sync(pages=(1, 1))
    assert totals.failed_pages == []
    assert [name for name in totals.failed_checks if "every_movie_embedded" in name and "raised" in name]


def test_faults_leave_the_database_identical_to_a_clean_sync(
    pipeline_env, database_url, replay_server, postgres, monkeypatch
) -> None:
    sync()
    clean = canonical_dump(database_url)
    faulty_url = postgres.url(postgres.create_database("yts_template"))
    monkeypatch.setenv("DATABASE_URL", faulty_url)
    replay_server.fault_kinds = ("429", "503", "truncated", "reset")
    replay_server.fault_rate = 0.2
    monkeypatch.setenv("YTS_HTTP_ATTEMPTS", "10")
    totals = sync()
    replay_server.fault_rate = 0.0
    assert totals.failed_pages == [] and totals.failures == 0
    faulty = canonical_dump(faulty_url)
    assert faulty == clean, dump_differences(clean, faulty)


def test_details_failures_do_not_fail_the_page_and_are_retried(
    pipeline_env, database_url, replay_server, monkeypatch
) -> None:
    monkeypatch.setenv("YTS_HTTP_ATTEMPTS", "2")
    victim = replay_server.catalog.ids()[5]
    replay_server.script_faults(["503"] * 2, endpoint="movie_details", movie_id=victim)  # both attempts
    totals = sync(pages=(1, 1))
    assert totals.failed_pages == [] and totals.failures == 1
    instance = dg.DagsterInstance.get()
    record = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("movie_details"), asset_partitions=["00001"]), limit=1
    ).records[0]
    assert str(victim) in record.asset_materialization.metadata["details_failed"].value
    db = DatabaseManager(database_url)
    try:
        assert db.movie_exists(victim)
        replay_server.reset_counters()
        sync(pages=(1, 1))
        assert list(replay_server.details_calls) == [victim]
        with db.get_session() as session:
            movie = session.scalars(select(Movie).where(Movie.external_id == victim)).one()
            assert movie.details_error is None and movie.details_fetched_at is not None
    finally:
        db.close_all()


def test_a_page_that_cannot_be_fetched_fails_only_its_partition(
    pipeline_env, database_url, replay_server, monkeypatch
) -> None:
    monkeypatch.setenv("YTS_HTTP_ATTEMPTS", "2")
    replay_server.script_faults(["503"] * 4, endpoint="list_movies", page=2)  # the range run and the retry
    totals = sync()
    assert totals.failed_pages == [2]
    instance = dg.DagsterInstance.get()
    assert sorted(instance.get_materialized_partitions(dg.AssetKey("movies"))) == ["00001", "00003"]
    db = DatabaseManager(database_url)
    try:
        assert db.get_stats()["movies"] == 50 + 20  # pages 1 and 3
    finally:
        db.close_all()


def test_refresh_fetches_details_again(pipeline_env, replay_server) -> None:
    sync(pages=(1, 1))
    replay_server.reset_counters()
    totals = sync(pages=(1, 1), refresh=True)
    assert totals.details_calls == 50 and replay_server.calls["movie_details"] == 50
    with pytest.raises(ValueError):
        sync(pages=(9, 12))


def test_sync_with_embeddings_embeds_each_movie_once(pipeline_env, database_url, replay_server) -> None:
    totals = run_sync(out=io.StringIO(), pages=(1, 1))
    assert totals.failed_pages == []
    instance = dg.DagsterInstance.get()

    def latest_embedding_metadata() -> dict:
        record = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("movie_embeddings"), asset_partitions=["00001"]), limit=1
        ).records[0]
        return {k: v.value for k, v in record.asset_materialization.metadata.items()}

    def embedding_runs() -> int:
        return len(
            instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey("movie_embeddings"), asset_partitions=["00001"]), limit=100
            ).records
        )

    assert latest_embedding_metadata()["embedded"] == 50
    assert totals.step_totals()["movie_embeddings"]["embedded"] == 50  # the step's own figures, not PageReport's
    out = io.StringIO()
    with redirect_stdout(out):
        print_summary(totals, seconds=1.0)
    assert re.search(r"movie_embeddings: 50 embedded, 100 texts encoded, \S+ s$", out.getvalue(), re.M), out.getvalue()
    again = run_sync(out=io.StringIO(), pages=(1, 1))
    assert [r.page for r in again.settled] == [1] and embedding_runs() == 1  # nothing pending: not even looked at
    changed = replay_server.catalog.ids()[3]
    replay_server.catalog.update_movie(changed, summary="A new summary, so a new embedding document.")
    run_sync(out=io.StringIO(), pages=(1, 1))
    assert (latest_embedding_metadata()["embedded"], latest_embedding_metadata()["skipped"]) == (1, 49)
    db = DatabaseManager(database_url)
    try:
        assert db.get_stats()["embeddings"] == 50
    finally:
        db.close_all()
