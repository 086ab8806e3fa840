"""Incremental embedding with the real model on the shared samples: only changed text is encoded.

Each movie has a search vector (``movie_embeddings``) and a plot vector (``movie_plot_embeddings``),
each hashed on its own document.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select, text, update

from yts_pipeline.db.manager import DatabaseManager
from yts_pipeline.db.models import EMBEDDING_DIMENSIONS, Movie, MovieEmbedding, MoviePlotEmbedding
from yts_pipeline.search import model as model_module
from yts_pipeline.search.documents import MovieFields, content_hash, movie_document, plot_document
from yts_pipeline.search.embed import embed_movies, embedding_coverage_problems
from yts_pipeline.search.errors import EmbeddingModelError
from yts_pipeline.search.model import PACKAGED_MODEL_NAME, EmbeddingModel, get_model, model_location

SUBSET = 12  # movies of the sample page used here: enough to show what is and is not re-encoded


@pytest.fixture(scope="session")
def model() -> EmbeddingModel:
    """The packaged MiniLM, loaded once per process (``get_model`` caches it)."""
    return get_model()


@pytest.fixture
def movies(samples_dir: Path) -> list[dict]:
    page = json.loads((samples_dir / "list_movies_page1_limit50_2021-01-20.json").read_text())
    return page["data"]["movies"][:SUBSET]


def stored_embeddings(db: DatabaseManager, table: str = "movie_embeddings") -> dict[int, tuple[str, str, str]]:
    """YTS id -> (content hash, model, row version) of every vector stored in ``table``."""
    with db.get_session() as session:
        rows = session.execute(
            text(
                f"SELECT m.external_id, e.content_hash, e.model, e.xmin::text FROM {table} e "
                "JOIN movies m ON m.id = e.movie_id"
            )
        ).all()
    return {external_id: (digest, model, version) for external_id, digest, model, version in rows}


def stored_plots(db: DatabaseManager) -> dict[int, tuple[str, str, str]]:
    return stored_embeddings(db, "movie_plot_embeddings")


def test_first_run_embeds_every_movie_and_a_rerun_embeds_none(db, model, movies) -> None:
    db.save_movies(movies)
    first = embed_movies(db, model)
    assert (first.model, first.embedded, first.skipped, first.texts) == (PACKAGED_MODEL_NAME, SUBSET, 0, 2 * SUBSET)
    assert first.sentences_per_second > 0 and first.encode_seconds <= first.seconds
    for table in (MovieEmbedding, MoviePlotEmbedding):
        with db.get_session() as session:
            vectors = np.array([np.asarray(v) for v in session.scalars(select(table.embedding))])
        assert vectors.shape == (SUBSET, EMBEDDING_DIMENSIONS)
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)  # normalized, stored exactly

    before = stored_embeddings(db), stored_plots(db)
    again = embed_movies(db, model)
    assert (again.embedded, again.skipped, again.texts) == (0, SUBSET, 0)
    assert (stored_embeddings(db), stored_plots(db)) == before  # not even rewritten


def test_editing_one_summary_reembeds_exactly_that_movie(db, model, movies) -> None:
    db.save_movies(movies)
    embed_movies(db, model)
    before = stored_embeddings(db)
    edited = copy.deepcopy(movies[3])
    edited["summary"] = edited["description_full"] = "A retired lighthouse keeper adopts a stray octopus."
    db.save_movies([edited])

    plots_before = stored_plots(db)
    result = embed_movies(db, model)
    after, plots_after = stored_embeddings(db), stored_plots(db)
    assert (result.embedded, result.skipped, result.texts) == (1, SUBSET - 1, 2)
    assert after[edited["id"]][0] != before[edited["id"]][0]
    assert plots_after[edited["id"]][0] != plots_before[edited["id"]][0]
    assert {k: v for k, v in after.items() if k != edited["id"]} == {
        k: v for k, v in before.items() if k != edited["id"]
    }
    assert {k: v for k, v in plots_after.items() if k != edited["id"]} == {
        k: v for k, v in plots_before.items() if k != edited["id"]
    }


def test_a_new_title_reembeds_the_search_vector_only(db, model, movies) -> None:
    """The plot vector is made of the plot alone: a retitled movie keeps it."""
    db.save_movies(movies)
    embed_movies(db, model)
    before, plots_before = stored_embeddings(db), stored_plots(db)
    retitled = "A Title Nobody Used Before"
    db.save_movies([{**movies[2], "title": retitled, "title_english": retitled}])

    result = embed_movies(db, model)
    assert (result.embedded, result.texts) == (1, 1)
    assert stored_plots(db) == plots_before
    assert stored_embeddings(db)[movies[2]["id"]][0] != before[movies[2]["id"]][0]


def test_an_existing_database_gains_the_plot_vectors_each_encoded_once(db, model, movies, database_url) -> None:
    """A database from before plot vectors (no movie_plot_embeddings table) gets the table when a
    DatabaseManager starts on it, and the next embedding run encodes the plots alone, once."""
    db.save_movies(movies)
    embed_movies(db, model)
    with db.get_session() as session:
        session.execute(text("DROP TABLE movie_plot_embeddings"))
    search_vectors = stored_embeddings(db)

    upgraded = DatabaseManager(database_url)
    try:
        assert embedding_coverage_problems(upgraded, PACKAGED_MODEL_NAME).missing == SUBSET
        result = embed_movies(upgraded, model)
        assert (result.embedded, result.skipped, result.texts) == (SUBSET, 0, SUBSET)
        assert stored_embeddings(upgraded) == search_vectors  # not rewritten
        assert len(stored_plots(upgraded)) == SUBSET
        assert embedding_coverage_problems(upgraded, PACKAGED_MODEL_NAME).missing == 0
        assert embed_movies(upgraded, model).texts == 0
    finally:
        upgraded.close_all()


def test_only_the_given_movies_are_embedded(db, model, movies) -> None:
    db.save_movies(movies)
    chosen = [movies[0]["id"], movies[5]["id"]]
    result = embed_movies(db, model, external_ids=chosen)
    assert (result.embedded, result.skipped) == (2, 0)
    assert set(stored_embeddings(db)) == set(chosen)


def test_coverage_counts_movies_without_a_vector_of_the_current_model(db, model, movies) -> None:
    db.save_movies(movies)
    missing = embedding_coverage_problems(db, PACKAGED_MODEL_NAME)
    assert missing.missing == SUBSET
    assert missing.example_external_ids == sorted(m["id"] for m in movies)[:5]

    embed_movies(db, model)
    assert embedding_coverage_problems(db, PACKAGED_MODEL_NAME).missing == 0

    other = dataclasses.replace(model, name="another-model")
    assert embedding_coverage_problems(db, other.name).missing == SUBSET
    with db.get_session() as session:  # a removed movie needs no vector
        session.execute(update(Movie).where(Movie.external_id == movies[0]["id"]).values(removed_at=text("now()")))
    result = embed_movies(db, other)  # a new model name makes every stored vector stale
    assert (result.model, result.embedded, result.skipped) == ("another-model", SUBSET - 1, 0)
    assert embedding_coverage_problems(db, other.name).missing == 0
    gap = embedding_coverage_problems(db, PACKAGED_MODEL_NAME)
    assert gap.missing == SUBSET - 1 and movies[0]["id"] not in gap.example_external_ids


def test_the_document_falls_back_from_summary_and_caps_the_cast() -> None:
    movie = MovieFields(
        movie_id=1,
        title="Blocks",
        year=2006,
        summary="",
        description_full="  ",
        description_intro="A cop escorts a witness.",
        genres=["Action", "Crime"],
        cast=[f"Actor {i}" for i in range(8)],
    )
    document = movie_document(movie)
    assert document == (
        "Blocks (2006).\nGenres: Action, Crime.\nA cop escorts a witness.\n"
        "Starring Actor 0, Actor 1, Actor 2, Actor 3, Actor 4."
    )
    bare = MovieFields(
        movie_id=1,
        title="Blocks",
        year=None,
        summary=None,
        description_full=None,
        description_intro=None,
        genres=[],
        cast=[],
    )
    assert movie_document(bare) == "Blocks."
    assert content_hash("a", document) != content_hash("b", document)


def test_the_plot_document_is_the_plot_alone_else_title_and_genres() -> None:
    movie = MovieFields(
        movie_id=1,
        title="Blocks",
        year=2006,
        summary=" ",
        description_full="",
        description_intro="A cop escorts a witness. ",
        genres=["Action", "Crime"],
        cast=["Actor 0"],
    )
    assert plot_document(movie) == "A cop escorts a witness."
    assert (
        plot_document(
            MovieFields(
                movie_id=1,
                title="Blocks",
                year=2006,
                summary=None,
                description_full=None,
                description_intro=None,
                genres=["Action", "Crime"],
                cast=["Actor 0"],
            )
        )
        == "Blocks. Genres: Action, Crime."
    )
    assert (
        plot_document(
            MovieFields(
                movie_id=1,
                title="Blocks",
                year=None,
                summary=None,
                description_full=None,
                description_intro=None,
                genres=[],
                cast=[],
            )
        )
        == "Blocks."
    )


def test_a_model_with_other_dimensions_is_refused(tmp_path: Path, monkeypatch) -> None:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Dense

    folder = tmp_path / "minilm-128"
    minilm = SentenceTransformer(str(model_location()[1]), local_files_only=True)
    SentenceTransformer(modules=[*minilm, Dense(EMBEDDING_DIMENSIONS, 128)]).save(str(folder))
    monkeypatch.setenv("EMBEDDING_MODEL", str(folder))
    with pytest.raises(EmbeddingModelError, match=r"'minilm-128'.* 128-dimensional .* holds 384"):
        get_model()
    monkeypatch.setenv("EMBEDDING_MODEL", str(tmp_path / "nowhere"))
    with pytest.raises(EmbeddingModelError, match="is not a folder"):
        get_model()


def test_concurrent_first_calls_load_the_model_once(tmp_path: Path, monkeypatch) -> None:
    loads = []

    def slow_load(name: str, folder: Path, backend: str) -> EmbeddingModel:
        loads.append(folder)
        time.sleep(0.2)
        return EmbeddingModel(name=name, encoder=None)  # type: ignore[arg-type]

    monkeypatch.setattr(model_module, "_load", slow_load)
    monkeypatch.setattr(model_module, "_loaded", {})
    found = []
    threads = [threading.Thread(target=lambda: found.append(get_model(str(tmp_path)))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(loads) == 1 and len({id(m) for m in found}) == 1
    assert found[0].name == tmp_path.name
