"""embed_movies versus bare ``model.encode`` on the same texts, in the same run; then a no-change rerun.

    python benchmarks/bench_embed.py [N]      (default N = 300; `make bench` runs it)

Movies come from the replay server's synthetic catalog, saved into a fresh embedded Postgres.
The bare baseline is SentenceTransformer.encode on exactly the documents embed_movies encodes
(same batch size, normalized). The two alternate, three times each, and the best of each counts, so
that a noisy neighbour on the machine does not decide the ratio. Target: embed_movies at least
90% of bare throughput; the rerun encodes nothing. On a busy machine the encode times swing more
than the whole difference, so the time spent outside ``model.encode`` is printed too: it is the
part embed_movies adds.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _pg import ScratchPostgres  # noqa: E402

from yts_pipeline.db.manager import DatabaseManager  # noqa: E402
from yts_pipeline.search.embed import EmbedResult, embed_movies, pending_documents  # noqa: E402
from yts_pipeline.search.model import get_model  # noqa: E402
from yts_pipeline.settings import EmbeddingSettings  # noqa: E402
from yts_pipeline.yts.replay import Catalog  # noqa: E402

ROUNDS = 3


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    batch_size = EmbeddingSettings.from_env().batch_size
    catalog = Catalog.synthetic(n, seed=11)
    payloads = [catalog.movie(movie_id) for movie_id in catalog.ids()]
    model = get_model()
    model.encode(["warm up the model"] * batch_size, batch_size=batch_size)
    print(f"bench_embed: {n} synthetic movies, {model.name}, batch {batch_size}")
    print(f"command: python benchmarks/bench_embed.py {' '.join(sys.argv[1:])}".rstrip())

    bare_seconds, runs = [], []
    with ScratchPostgres() as pg:
        for _ in range(ROUNDS):
            db = DatabaseManager(pg.fresh_database())
            db.save_movies(payloads)
            texts = [doc.text for doc in pending_documents(db, model.name)[0]]
            started = time.perf_counter()
            model.transformer.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                                     convert_to_numpy=True, show_progress_bar=False)
            bare_seconds.append(time.perf_counter() - started)
            runs.append(embed_movies(db, model, batch_size=batch_size))
            rerun = embed_movies(db, model, batch_size=batch_size)
            db.close_all()

    bare = min(bare_seconds)
    best: EmbedResult = min(runs, key=lambda r: r.seconds)
    print()
    print(f"  {'run':<34} {'encoded':>8} {'seconds':>8} {'sentences/s':>12} {'of bare':>8}")
    print(f"  {'bare model.encode':<34} {len(texts):>8} {bare:>8.2f} {len(texts) / bare:>12.1f} {'100%':>8}")
    print(f"  {'embed_movies (all new)':<34} {best.embedded:>8} {best.seconds:>8.2f} "
          f"{best.sentences_per_second:>12.1f} {bare / best.seconds:>8.1%}")
    overhead = best.seconds - best.encode_seconds
    print(f"  {'  of which model.encode':<34} {'':>8} {best.encode_seconds:>8.2f}")
    print(f"  {'  of which the rest (SQL, writes)':<34} {'':>8} {overhead:>8.2f} {'':>12} "
          f"{overhead / best.seconds:>8.1%} of the call")
    print(f"  {'embed_movies rerun (nothing changed)':<34} {rerun.embedded:>8} {rerun.seconds:>8.2f} "
          f"{'-':>12} {'':>8}  ({rerun.skipped} skipped)")
    print(f"  best of {ROUNDS} alternating rounds; every round: bare "
          + ", ".join(f"{s:.2f}" for s in bare_seconds) + " s, embed_movies "
          + ", ".join(f"{r.seconds:.2f}" for r in runs) + " s")


if __name__ == "__main__":
    main()
