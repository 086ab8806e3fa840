-- yts_pipeline schema as plain, idempotent DDL. Kept equal to yts_pipeline/db/models.py by
-- yts_pipeline_tests/integration/test_schema.py. Apply with: psql "$DATABASE_URL" -f database.sql

CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE IF NOT EXISTS casts (
    id BIGSERIAL NOT NULL,
    name TEXT NOT NULL,
    imdb_code TEXT,
    url_small_image TEXT,
    PRIMARY KEY (id)
);
CREATE UNIQUE INDEX IF NOT EXISTS uq_casts_imdb_code ON casts (imdb_code) WHERE imdb_code IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS uq_casts_name_without_imdb_code ON casts (name) WHERE imdb_code IS NULL;

CREATE TABLE IF NOT EXISTS genres (
    id SERIAL NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (id),
    UNIQUE (name)
);

CREATE TABLE IF NOT EXISTS movies (
    id BIGSERIAL NOT NULL,
    external_id BIGINT NOT NULL,
    imdb_code TEXT,
    title TEXT NOT NULL,
    title_english TEXT,
    title_long TEXT,
    slug TEXT,
    year INTEGER,
    rating NUMERIC(3, 1),
    runtime INTEGER,
    summary TEXT,
    description_full TEXT,
    description_intro TEXT,
    synopsis TEXT,
    yt_trailer_code TEXT,
    language TEXT,
    mpa_rating TEXT,
    like_count BIGINT,
    download_count BIGINT,
    url TEXT,
    background_image TEXT,
    background_image_original TEXT,
    small_cover_image TEXT,
    medium_cover_image TEXT,
    large_cover_image TEXT,
    medium_screenshot_image1 TEXT,
    medium_screenshot_image2 TEXT,
    medium_screenshot_image3 TEXT,
    large_screenshot_image1 TEXT,
    large_screenshot_image2 TEXT,
    large_screenshot_image3 TEXT,
    date_uploaded TIMESTAMP WITH TIME ZONE,
    date_uploaded_unix BIGINT,
    details_fetched_at TIMESTAMP WITH TIME ZONE,
    details_error TEXT,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    last_seen_at TIMESTAMP WITH TIME ZONE,
    removed_at TIMESTAMP WITH TIME ZONE,
    search_vector TSVECTOR GENERATED ALWAYS AS (setweight(to_tsvector('english'::regconfig, COALESCE(title, '')), 'A') || setweight(to_tsvector('english'::regconfig, COALESCE(summary, description_full, '')), 'B')) STORED NOT NULL,
    PRIMARY KEY (id),
    UNIQUE (external_id)
);
CREATE INDEX IF NOT EXISTS ix_movies_imdb_code ON movies (imdb_code);
CREATE INDEX IF NOT EXISTS ix_movies_search_vector ON movies USING gin (search_vector);
ALTER TABLE movies ALTER COLUMN search_vector SET STORAGE MAIN;  -- kept in the row, not in TOAST

CREATE TABLE IF NOT EXISTS raw_list_pages (
    page INTEGER NOT NULL,
    payload JSONB NOT NULL,
    content_hash TEXT NOT NULL,
    fetched_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    PRIMARY KEY (page)
);

CREATE TABLE IF NOT EXISTS raw_movie_details (
    external_id BIGINT NOT NULL,
    payload JSONB NOT NULL,
    content_hash TEXT NOT NULL,
    fetched_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    PRIMARY KEY (external_id)
);

CREATE TABLE IF NOT EXISTS synced_pages (
    page INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    rows_hash TEXT NOT NULL,
    embedded_rows_hash TEXT,
    embedding_model TEXT,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    PRIMARY KEY (page)
);

CREATE TABLE IF NOT EXISTS movie_casts (
    movie_id BIGINT NOT NULL,
    cast_id BIGINT NOT NULL,
    character_name TEXT,
    PRIMARY KEY (movie_id, cast_id),
    FOREIGN KEY(movie_id) REFERENCES movies (id) ON DELETE CASCADE,
    FOREIGN KEY(cast_id) REFERENCES casts (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS ix_movie_casts_cast_id ON movie_casts (cast_id);

CREATE TABLE IF NOT EXISTS movie_embeddings (
    movie_id BIGINT NOT NULL,
    embedding VECTOR(384) NOT NULL,
    model TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    PRIMARY KEY (movie_id),
    FOREIGN KEY(movie_id) REFERENCES movies (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS ix_movie_embeddings_embedding_hnsw ON movie_embeddings USING hnsw (embedding vector_cosine_ops);

CREATE TABLE IF NOT EXISTS movie_plot_embeddings (
    movie_id BIGINT NOT NULL,
    embedding VECTOR(384) NOT NULL,
    model TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    PRIMARY KEY (movie_id),
    FOREIGN KEY(movie_id) REFERENCES movies (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS ix_movie_plot_embeddings_embedding_hnsw ON movie_plot_embeddings USING hnsw (embedding vector_cosine_ops);

CREATE TABLE IF NOT EXISTS movie_neighbours (
    movie_id BIGINT NOT NULL,
    version TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    candidate_floor DOUBLE PRECISION,
    neighbour_ids BIGINT[] NOT NULL,
    candidate_ids BIGINT[] NOT NULL,
    scores DOUBLE PRECISION[] NOT NULL,
    reasons JSONB NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    PRIMARY KEY (movie_id),
    FOREIGN KEY(movie_id) REFERENCES movies (id) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS movie_genres (
    movie_id BIGINT NOT NULL,
    genre_id INTEGER NOT NULL,
    PRIMARY KEY (movie_id, genre_id),
    FOREIGN KEY(movie_id) REFERENCES movies (id) ON DELETE CASCADE,
    FOREIGN KEY(genre_id) REFERENCES genres (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS ix_movie_genres_genre_id ON movie_genres (genre_id);

CREATE TABLE IF NOT EXISTS torrents (
    id BIGSERIAL NOT NULL,
    movie_id BIGINT NOT NULL,
    hash TEXT NOT NULL,
    quality TEXT,
    type TEXT,
    is_repack BOOLEAN,
    video_codec TEXT,
    bit_depth TEXT,
    audio_channels TEXT,
    seeds BIGINT,
    peers BIGINT,
    size TEXT,
    size_bytes BIGINT,
    url TEXT,
    date_uploaded TIMESTAMP WITH TIME ZONE,
    date_uploaded_unix BIGINT,
    PRIMARY KEY (id),
    CONSTRAINT uq_torrents_movie_id_hash UNIQUE (movie_id, hash),
    FOREIGN KEY(movie_id) REFERENCES movies (id) ON DELETE CASCADE
);
