"""The stored neighbour lists (``movie_neighbours``): equal to the live ranking, kept fresh incrementally,
read by ``similar`` and ``recommend`` with the live ranking behind them; the asset materializes in Dagster.

A replay catalog of 260 movies embedded with the real model: more movies than the ranking's 200
candidates, so each list has a candidate floor and a new movie enters some lists and not others.
"""

from __future__ import annotations

import copy
import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace

import dagster as dg
import numpy as np
import pytest
from sqlalchemy import text

from yts_pipeline.cli.sync import run_sync
from yts_pipeline.db.manager import DatabaseManager
from yts_pipeline.defs.neighbour_assets import lists_match_live_ranking, movie_neighbours
from yts_pipeline.defs.resources import DatabaseResource, EmbeddingModelResource
from yts_pipeline.search import EmbeddingModel, Filters, Result, embed_movies, get_model, recommend, similar
from yts_pipeline.search.neighbour_lists import neighbour_lists
from yts_pipeline.search.neighbour_store import read_catalog
from yts_pipeline.search.neighbour_update import update_neighbour_lists
from yts_pipeline.search.queries import recommend_live, similar_live
from yts_pipeline.yts.replay import Catalog
from yts_pipeline_tests.conftest import TEMPLATE
from yts_pipeline_tests.support.postgres import ScratchPostgres

MOVIES = 260


@pytest.fixture(scope="module")
def model() -> EmbeddingModel:
    return get_model()


@pytest.fixture(scope="module")
def payloads() -> list[dict]:
    catalog = Catalog.synthetic(MOVIES, seed=21)
    return [catalog.movie(i) for i in catalog.ids()]


@pytest.fixture(scope="module")
def embedded_template(postgres: ScratchPostgres, model: EmbeddingModel, payloads: list[dict]) -> Iterator[str]:
    """A database with the catalog saved and embedded once; each test gets a copy."""
    name = postgres.create_database(TEMPLATE)
    db = DatabaseManager(postgres.url(name))
    db.save_movies(payloads)
    embed_movies(db, model)
    db.close_all()
    yield name
    postgres.drop_database(name)


@pytest.fixture
def db(postgres: ScratchPostgres, embedded_template: str) -> Iterator[DatabaseManager]:
    name = postgres.create_database(embedded_template)
    manager = DatabaseManager(postgres.url(name))
    yield manager
    manager.close_all()
    postgres.drop_database(name)


def ids(results) -> list[int]:
    return [r.external_id for r in results]


def same_results(found: list[Result], expected: list[Result]) -> bool:
    """Equal results, scores to 1e-5: the lists' plot cosines come from numpy, the live ones from pgvector."""
    return [replace(r, score=0.0) for r in found] == [replace(r, score=0.0) for r in expected] and [
        r.score for r in found
    ] == pytest.approx([r.score for r in expected], abs=1e-5)


def stored(db: DatabaseManager) -> dict[int, tuple[list[int], list[float]]]:
    """Every stored list by YTS id: neighbours' YTS ids and scores."""
    with db.get_session() as session:
        rows = session.execute(
            text(
                "SELECT m.external_id, ARRAY(SELECT n.external_id "
                "FROM unnest(l.neighbour_ids) WITH ORDINALITY AS u(id, i) "
                "JOIN movies n ON n.id = u.id ORDER BY u.i) AS neighbours, l.scores "
                "FROM movie_neighbours l JOIN movies m ON m.id = l.movie_id"
            )
        ).all()
    return {row.external_id: (list(row.neighbours), list(row.scores)) for row in rows}


def rebuilt(db: DatabaseManager, model_name: str) -> dict[int, tuple[list[int], list[float]]]:
    """The lists a full rebuild would write now, computed aside (nothing written)."""
    with db.get_session() as session:
        catalog, _ = read_catalog(session, model_name)
    return {
        int(catalog.external_ids[found.row]): (catalog.external_ids[found.neighbours].tolist(), found.scores)
        for found in neighbour_lists(catalog, np.arange(len(catalog)))
    }


def assert_same_lists(found: dict, expected: dict) -> None:
    assert found.keys() == expected.keys()
    for external_id, (neighbours, scores) in expected.items():
        assert found[external_id][0] == neighbours, external_id
        assert found[external_id][1] == pytest.approx(scores, abs=1e-5), external_id


def new_movie(payloads: list[dict], like: int, external_id: int) -> dict:
    """A new upload (new id and IMDb code) telling the story of ``payloads[like]``."""
    movie = copy.deepcopy(payloads[like])
    movie.update(
        id=external_id, imdb_code=f"tt77{external_id}", title=f"{movie['title']} Returns", slug=f"returns-{external_id}"
    )
    return movie


def test_a_full_build_stores_for_every_movie_the_live_top_10_with_its_scores_and_reasons(db, model) -> None:
    report = update_neighbour_lists(db, model.name)
    lists = stored(db)
    assert report.mode == "full" and report.lists_written == len(lists) == MOVIES
    assert all(len(neighbours) == 50 for neighbours, _ in lists.values())
    for external_id in sorted(lists)[::13]:
        live = similar_live(db, external_id, k=10)
        assert lists[external_id][0][:10] == ids(live)
        assert lists[external_id][1][:10] == pytest.approx([r.score for r in live], abs=1e-5)
        assert same_results(similar(db, external_id, k=10), live)  # reasons included


def test_similar_reads_the_stored_list(db, model) -> None:
    update_neighbour_lists(db, model.name)
    target = sorted(stored(db))[0]
    with db.get_session() as session:  # the list turned around: similar follows it, the live ranking does not
        session.execute(
            text(
                "UPDATE movie_neighbours SET neighbour_ids = ARRAY(SELECT unnest(neighbour_ids) "
                "ORDER BY 1 DESC) WHERE movie_id = "
                "(SELECT id FROM movies WHERE external_id = :id)"
            ),
            {"id": target},
        )
    assert ids(similar(db, target, k=5)) == stored(db)[target][0][:5] != ids(similar_live(db, target, k=5))


def test_a_new_movie_gets_its_list_and_enters_the_lists_it_belongs_to_without_a_rebuild(db, model, payloads) -> None:
    update_neighbour_lists(db, model.name)
    added = new_movie(payloads, like=3, external_id=990001)
    db.save_movies([added])
    embed_movies(db, model, [added["id"]])
    assert similar(db, added["id"], k=10) == similar_live(db, added["id"], k=10)  # no list yet: live
    report = update_neighbour_lists(db, model.name)
    assert report.mode == "incremental" and report.changed == 1 and 1 < report.lists_written < MOVIES
    lists = stored(db)
    assert_same_lists(lists, rebuilt(db, model.name))
    entered = [external_id for external_id, (neighbours, _) in lists.items() if added["id"] in neighbours]
    assert payloads[3]["id"] in entered and len(entered) < MOVIES
    assert ids(similar(db, payloads[3]["id"], k=1)) == [added["id"]]


def test_a_changed_and_a_removed_movie_update_the_lists_they_touch(db, model, payloads) -> None:
    update_neighbour_lists(db, model.name)
    changed, removed = payloads[10], payloads[20]
    db.save_movies([{**changed, "genres": ["Documentary"], "rating": 2.0}])
    embed_movies(db, model, [changed["id"]])
    with db.get_session() as session:
        session.execute(text("UPDATE movies SET removed_at = now() WHERE external_id = :id"), {"id": removed["id"]})
    report = update_neighbour_lists(db, model.name)
    assert report.mode == "incremental" and (report.changed, report.removed) == (1, 1)
    assert report.lists_written < MOVIES
    lists = stored(db)
    assert removed["id"] not in lists and all(removed["id"] not in n for n, _ in lists.values())
    assert_same_lists(lists, rebuilt(db, model.name))
    assert update_neighbour_lists(db, model.name).mode == "none"


def test_another_ranking_version_rebuilds_every_list(db, model) -> None:
    update_neighbour_lists(db, model.name)
    with db.get_session() as session:
        session.execute(text("UPDATE movie_neighbours SET version = 'weights of last year'"))
    target = sorted(stored(db))[0]
    with db.get_session() as session:  # lists of another version are never read
        session.execute(text("UPDATE movie_neighbours SET neighbour_ids = '{}', scores = '{}', reasons = '[]'"))
    assert similar(db, target, k=10) == similar_live(db, target, k=10)
    report = update_neighbour_lists(db, model.name)
    assert report.mode == "full" and report.lists_written == MOVIES


def test_filters_apply_to_the_list_and_fall_back_to_the_live_ranking_when_too_few_remain(db, model) -> None:
    update_neighbour_lists(db, model.name)
    target = sorted(stored(db))[5]
    neighbours = stored(db)[target][0]
    with db.get_session() as session:
        genre = session.execute(
            text(
                "SELECT g.name FROM movie_genres mg JOIN genres g ON g.id = mg.genre_id "
                "JOIN movies m ON m.id = mg.movie_id WHERE m.external_id = :id ORDER BY g.name LIMIT 1"
            ),
            {"id": neighbours[0]},
        ).scalar_one()
        listed = Counter(
            session.execute(text("SELECT year FROM movies WHERE external_id = ANY(:ids)"), {"ids": neighbours})
            .scalars()
            .all()
        )
        in_catalog = dict(
            session.execute(
                text("SELECT year, count(*) FROM movies WHERE external_id <> :id GROUP BY year"), {"id": target}
            ).all()
        )
    common = Filters(genre=genre)
    assert same_results(similar(db, target, k=5, filters=common), similar_live(db, target, k=5, filters=common))
    year = next(y for y in sorted(listed, key=listed.get) if in_catalog[y] > listed[y])
    rare, k = Filters(year_from=year, year_to=year), listed[year] + 1  # one more than the list holds
    live = similar_live(db, target, k=k, filters=rare)
    assert len(live) == k and similar(db, target, k=k, filters=rare) == live


def test_a_filtered_list_answers_when_nothing_beyond_its_candidates_could_rank_higher(db, model) -> None:
    """Answers from a list carry its stored reasons (marked here); each equals the live answer."""
    update_neighbour_lists(db, model.name)
    with db.get_session() as session:
        session.execute(
            text(
                "UPDATE movie_neighbours SET reasons = "
                "(SELECT jsonb_agg('[\"stored\"]'::jsonb) FROM generate_series(1, 50))"
            )
        )
    well_rated, from_lists = Filters(min_rating=6.0), 0
    for target in sorted(stored(db))[:20]:
        found = similar(db, target, k=3, filters=well_rated)
        assert ids(found) == ids(similar_live(db, target, k=3, filters=well_rated))
        from_lists += all(r.reasons == ["stored"] for r in found)
    assert from_lists > 0


def test_recommend_takes_its_candidates_from_the_liked_lists(db, model) -> None:
    update_neighbour_lists(db, model.name)
    lists = stored(db)
    liked, other, disliked = sorted(lists)[:3]
    one = recommend(db, [liked], k=10)
    assert same_results(one, recommend_live(db, [liked], k=10))
    assert all(r.reasons[0].startswith("like ") for r in one)
    chosen = sorted(lists)[-12:]  # both pools made of the same 12 movies: recommend ranks those
    with db.get_session() as session:
        session.execute(
            text(
                "UPDATE movie_neighbours SET candidate_ids = ARRAY(SELECT id FROM movies "
                "WHERE external_id = ANY(:chosen)) WHERE movie_id IN (SELECT id FROM movies "
                "WHERE external_id IN (:liked, :other))"
            ),
            {"chosen": chosen, "liked": liked, "other": other},
        )
    found = recommend(db, [liked, other], [disliked], k=10)
    assert len(found) == 10 and set(ids(found)) <= set(chosen)
    assert all(r.reasons[0].startswith("like ") for r in found)
    with db.get_session() as session:  # a liked movie without a list: the live ranking
        session.execute(
            text("DELETE FROM movie_neighbours WHERE movie_id = (SELECT id FROM movies WHERE external_id = :id)"),
            {"id": other},
        )
    assert recommend(db, [liked, other], [disliked], k=10) == recommend_live(db, [liked, other], [disliked], k=10)


def test_the_asset_materializes_in_dagster_and_its_check_compares_with_the_live_ranking(db, model) -> None:
    resources = {
        "database": DatabaseResource(database_url=db.url),
        "embedding_model": EmbeddingModelResource(model_path=None),
    }
    result = dg.materialize([movie_neighbours, lists_match_live_ranking], resources=resources)
    assert result.success
    metadata = result.asset_materializations_for_node("movie_neighbours")[0].metadata
    assert metadata["mode"].value == "full" and metadata["lists_written"].value == MOVIES
    [evaluation] = result.get_asset_check_evaluations()
    assert evaluation.passed and evaluation.metadata["checked"].value == 20
    with db.get_session() as session:  # lists gone wrong: the check fails
        session.execute(
            text("UPDATE movie_neighbours SET neighbour_ids = ARRAY(SELECT unnest(neighbour_ids) ORDER BY 1 DESC)")
        )
    again = dg.materialize(
        [movie_neighbours, lists_match_live_ranking],
        resources=resources,
        selection=dg.AssetSelection.checks(lists_match_live_ranking),
    )
    [evaluation] = again.get_asset_check_evaluations()
    assert not evaluation.passed and evaluation.metadata["unlike"].value == 20


def test_sync_makes_the_lists_once_after_its_page_runs_and_not_without_embeddings(pipeline_env) -> None:
    def materializations() -> list[dict]:
        with dg.DagsterInstance.get() as instance:
            records = instance.fetch_materializations(movie_neighbours.key, limit=10).records
        return [{k: v.value for k, v in r.asset_materialization.metadata.items()} for r in records]

    run_sync(out=io.StringIO(), pages=(1, 1), skip_embeddings=True)
    assert materializations() == []
    totals = run_sync(out=io.StringIO(), pages=(1, 2))
    [made] = materializations()
    assert (made["mode"], made["lists_written"]) == ("full", 100) and totals.failed_checks == []
    assert "lists_match_live_ranking" not in totals.check_warnings
