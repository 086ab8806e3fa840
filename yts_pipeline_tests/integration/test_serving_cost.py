"""What keeps search and pages cheap at 75,000 movies: the search vector kept in its row, the hybrid
statement's shape, the query vectors the server remembers, a movie read in one statement."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from yts_pipeline.db.manager import DatabaseManager
from yts_pipeline.search import EmbeddingModel, Filters, get_model, queries, search
from yts_pipeline.search.sql import filter_sql
from yts_pipeline.serve import create_app
from yts_pipeline.serve.routes.html import SIMILAR_ON_PAGE
from yts_pipeline.settings import ServeSettings
from yts_pipeline.yts.replay import Catalog
from yts_pipeline_tests.conftest import TEMPLATE
from yts_pipeline_tests.support.counting import CountingEncoder, statements
from yts_pipeline_tests.support.postgres import ScratchPostgres
from yts_pipeline_tests.support.serving import catalog_payloads, fill

MANY_MATCHES = "war or love or family or secret or life"  # about half the movies
STORAGE = "SELECT attstorage FROM pg_attribute WHERE attrelid = 'movies'::regclass AND attname = 'search_vector'"


@pytest.fixture(scope="session")
def model() -> EmbeddingModel:
    return get_model()


def test_a_wide_movie_keeps_its_search_vector_in_the_row(db: DatabaseManager) -> None:
    """Rows of ~3 kB (summary, full description and synopsis) moved the search vector to TOAST."""
    catalog = Catalog.synthetic(20, seed=5)
    db.save_movies([catalog.movie(movie_id) for movie_id in catalog.ids()])
    with db.engine.connect() as conn:
        widths = conn.execute(
            text(
                "SELECT min(pg_column_size(m.*)), "
                "count(*) FILTER (WHERE pg_column_toast_chunk_id(search_vector) IS NOT NULL) "
                "FROM movies m"
            )
        ).one()
    assert widths[0] > 2000, "the synthetic rows are no longer wide enough to be toasted: make them wider"
    assert widths[1] == 0


def test_an_older_mirror_keeps_its_search_vectors_in_the_row_from_its_next_start(database_url: str) -> None:
    db = DatabaseManager(database_url)
    try:
        with db.engine.begin() as conn:
            conn.execute(text("ALTER TABLE movies ALTER COLUMN search_vector SET STORAGE EXTENDED"))
        db.ensure_schema()
        with db.engine.connect() as conn:
            assert conn.scalar(text(STORAGE)) == "m"
    finally:
        db.close_all()


def hybrid_before(where: str) -> str:
    """The hybrid statement as it was: every keyword match numbered (sorted and windowed), then cut."""
    return f"""
        WITH semantic AS MATERIALIZED ({queries._nearest_sql(where, ":candidates")}),
        semantic_ranked AS (
            SELECT id, row_number() OVER (ORDER BY distance) AS rank FROM semantic
        ),
        keyword AS (
            SELECT m.id, row_number() OVER (ORDER BY ts_rank_cd(m.search_vector, query) DESC, m.id) AS rank
            FROM movies m, websearch_to_tsquery('english', :text) query
            WHERE m.search_vector @@ query AND {where}
            ORDER BY rank
            LIMIT :candidates
        )
        SELECT COALESCE(s.id, kw.id) AS id,
               COALESCE(1.0 / ({queries.RRF_K} + s.rank), 0.0) + COALESCE(1.0 / ({queries.RRF_K} + kw.rank), 0.0)
               AS score
        FROM semantic_ranked s FULL OUTER JOIN keyword kw ON s.id = kw.id
        ORDER BY score DESC, id
        LIMIT :k"""


@pytest.fixture(scope="module")
def replayed(postgres: ScratchPostgres, model: EmbeddingModel) -> Iterator[DatabaseManager]:
    """240 movies of the replay catalog, embedded: common words match far more movies than a side's candidates."""
    name = postgres.create_database(TEMPLATE)
    db = DatabaseManager(postgres.url(name))
    fill(db, model, catalog_payloads(240, seed=22))
    yield db
    db.close_all()
    postgres.drop_database(name)


@pytest.mark.parametrize(
    "filters",
    [Filters(), Filters(genre="Drama"), Filters(year_from=1990, min_rating=5)],
    ids=["all", "genre", "years and rating"],
)
@pytest.mark.parametrize("k", [1, 10, 25])
def test_the_hybrid_ranking_is_the_one_before_the_rewrite(replayed, model, filters, k) -> None:
    with replayed.engine.connect() as conn:
        matches = conn.scalar(
            text("SELECT count(*) FROM movies WHERE search_vector @@ websearch_to_tsquery('english', :query)"),
            {"query": MANY_MATCHES},
        )
    assert matches > 40, "the keyword side is no longer cut to its candidates: ask for a more common word"
    for query in (MANY_MATCHES, "war", "a heist that goes wrong", "a family drama", "treasure", "the"):
        found = search(replayed, query, "hybrid", k, filters, model)
        params = {"text": query, "k": k, "vector": model.encode([query])[0], "model": model.name}
        with replayed.get_session() as session:
            before = queries._ranked_results(session, hybrid_before(filter_sql(session, filters, params)), params)
        assert found == before, query
        assert found or query == "the"  # a stop word alone matches nothing by keyword, yet finds by meaning


@pytest.mark.parametrize("query_cache", [16, 0])
def test_the_server_encodes_a_repeated_search_text_once(replayed, model, query_cache) -> None:
    counter = CountingEncoder(model.encoder)
    app = create_app(
        ServeSettings(query_cache=query_cache), database_url=replayed.url, model=replace(model, encoder=counter)
    )
    with TestClient(app) as client:
        answers = [
            client.get("/api/search", params={"q": "treasure map", "k": 5}),
            client.get("/api/search", params={"q": "treasure  map", "k": 5}),
            client.get("/", params={"q": "treasure map", "page": 2}),
        ]
    assert [answer.status_code for answer in answers] == [200] * 3
    assert answers[0].json()["results"] == answers[1].json()["results"]
    assert counter.texts == (["treasure map"] if query_cache else ["treasure map", "treasure  map", "treasure map"])


def test_a_movie_is_read_in_one_statement_and_its_page_adds_only_the_similar_movies(replayed, model) -> None:
    movie_id = catalog_payloads(240, seed=22)[7]["id"]
    app = create_app(ServeSettings(), database_url=replayed.url, model=model)
    with TestClient(app) as client:
        engine = app.state.database.get().engine
        sent = {}
        for name, path in (
            ("movie", f"/api/movies/{movie_id}"),
            ("page", f"/movies/{movie_id}"),
            ("similar", f"/api/movies/{movie_id}/similar?k={SIMILAR_ON_PAGE}"),
        ):
            with statements(engine) as sent[name]:
                assert client.get(path).status_code == 200, path
    assert len(sent["movie"]) == 1, sent["movie"]  # four before: the movie, its torrents, its cast, its genres
    assert len(sent["page"]) == 1 + len(sent["similar"]), sent["page"]
