"""Embedding speed: torch and OpenVINO side by side on the same texts, then embed_movies on the fast one.

    python benchmarks/bench_embed.py [N]      (default N = 1000; `make bench` runs it)

Movies come from the replay server's synthetic catalog, saved into a fresh embedded Postgres;
the texts are the documents ``embed_movies`` would encode. The model is exported into a scratch
data dir first (so the export time is measured too). Then each backend encodes all the texts in a
fresh process (load time and peak memory are its own), torch and OpenVINO alternating, three times
each; the best run of each counts, so that a noisy neighbour on the machine does not decide the
ratio. Targets: OpenVINO at least 3x torch's sentences/s, mean cosine with torch >= 0.999, top-10
neighbour overlap >= 0.98. Last, as before: ``embed_movies`` against the bare ``model.encode`` of
the same backend on the same texts (target: at least 90%), and a no-change rerun (0 encodes).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from _pg import ScratchPostgres  # noqa: E402

from yts_pipeline.db.manager import DatabaseManager  # noqa: E402
from yts_pipeline.search.backends import agreement  # noqa: E402
from yts_pipeline.search.embed import EmbedResult, embed_movies, pending_documents  # noqa: E402
from yts_pipeline.search.model import export_model, get_model, model_location  # noqa: E402
from yts_pipeline.settings import EmbeddingSettings  # noqa: E402
from yts_pipeline.yts.replay import Catalog  # noqa: E402

ROUNDS = 3
BACKENDS = ("torch", "openvino")


def main() -> None:
    if sys.argv[1:2] == ["--worker"]:
        return worker(*sys.argv[2:])
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    scratch = Path(tempfile.mkdtemp(prefix="yts-bench-embed-", dir="/tmp"))
    os.environ["YTS_DATA_DIR"] = str(scratch / "data")
    batch_size = EmbeddingSettings.from_env().batch_size
    catalog = Catalog.synthetic(n, seed=11)
    payloads = [catalog.movie(movie_id) for movie_id in catalog.ids()]
    print(f"bench_embed: {n} synthetic movies, batch {batch_size}, load average {load_average()}")
    print(f"command: python benchmarks/bench_embed.py {' '.join(sys.argv[1:])}".rstrip())
    try:
        with ScratchPostgres() as pg:
            db = DatabaseManager(pg.fresh_database())
            db.save_movies(payloads)
            texts = [doc.text for doc in pending_documents(db, model_location()[0])[0]]
            db.close_all()
            (scratch / "texts.json").write_text(json.dumps(texts))
            exported = export_model()
            print(
                f"export for OpenVINO: {exported.seconds:.1f} s (loading torch, tracing, checking against "
                f"torch), model.onnx {(exported.folder / 'model.onnx').stat().st_size / 2**20:.0f} MiB"
            )

            runs: dict[str, list[dict]] = {backend: [] for backend in BACKENDS}
            for _ in range(ROUNDS):
                for backend in BACKENDS:
                    runs[backend].append(run_worker(backend, scratch, batch_size))
            print_side_by_side(runs, scratch, len(texts))

            model = get_model()  # EMBEDDING_BACKEND as set (auto: OpenVINO)
            model.encode(texts[:batch_size], batch_size=batch_size)
            bare_seconds, embeds = [], []
            for _ in range(ROUNDS):
                db = DatabaseManager(pg.fresh_database())
                db.save_movies(payloads)
                started = time.perf_counter()
                model.encode(texts, batch_size=batch_size)
                bare_seconds.append(time.perf_counter() - started)
                embeds.append(embed_movies(db, model, batch_size=batch_size))
                rerun = embed_movies(db, model, batch_size=batch_size)
                db.close_all()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    bare = min(bare_seconds)
    best: EmbedResult = min(embeds, key=lambda r: r.seconds)
    print()
    print(f"embed_movies on {model.backend} against its bare model.encode, same texts:")
    print(f"  {'run':<34} {'encoded':>8} {'seconds':>8} {'sentences/s':>12} {'of bare':>8}")
    print(f"  {'bare model.encode':<34} {len(texts):>8} {bare:>8.2f} {len(texts) / bare:>12.1f} {'100%':>8}")
    print(
        f"  {'embed_movies (all new)':<34} {best.embedded:>8} {best.seconds:>8.2f} "
        f"{best.sentences_per_second:>12.1f} {bare / best.seconds:>8.1%}"
    )
    overhead = best.seconds - best.encode_seconds
    print(f"  {'  of which model.encode':<34} {'':>8} {best.encode_seconds:>8.2f}")
    print(
        f"  {'  of which the rest (SQL, writes)':<34} {'':>8} {overhead:>8.2f} {'':>12} "
        f"{overhead / best.seconds:>8.1%} of the call"
    )
    print(
        f"  {'embed_movies rerun (nothing changed)':<34} {rerun.embedded:>8} {rerun.seconds:>8.2f} "
        f"{'-':>12} {'':>8}  ({rerun.skipped} skipped)"
    )
    print(
        f"  best of {ROUNDS} alternating rounds; every round: bare "
        + ", ".join(f"{s:.2f}" for s in bare_seconds)
        + " s, embed_movies "
        + ", ".join(f"{r.seconds:.2f}" for r in embeds)
        + " s"
    )
    print(f"load average at the end {load_average()}")


def run_worker(backend: str, scratch: Path, batch_size: int) -> dict:
    """One backend in a fresh process: its load time, encode time and peak memory are its own."""
    vectors = scratch / f"{backend}.npy"
    finished = subprocess.run(
        [sys.executable, __file__, "--worker", str(scratch / "texts.json"), str(vectors), str(batch_size)],
        env={**os.environ, "EMBEDDING_BACKEND": backend},
        capture_output=True,
        text=True,
        check=False,
    )
    if finished.returncode != 0:
        sys.exit(f"bench_embed: the {backend} worker failed:\n{finished.stderr}")
    return json.loads(finished.stdout.strip().splitlines()[-1]) | {"vectors": vectors}


def worker(texts_file: str, vectors_file: str, batch_size: str) -> None:
    started = time.perf_counter()
    model = get_model()
    load_seconds = time.perf_counter() - started
    texts, batch = json.loads(Path(texts_file).read_text()), int(batch_size)
    model.encode(texts[:batch], batch_size=batch)  # warm-up: first-call allocations and kernel choices
    started = time.perf_counter()
    vectors = model.encode(texts, batch_size=batch)
    encode_seconds = time.perf_counter() - started
    np.save(vectors_file, vectors)
    print(
        json.dumps(
            {
                "backend": model.backend,
                "load_seconds": load_seconds,
                "encode_seconds": encode_seconds,
                "peak_rss_mib": peak_rss_mib(),
            }
        )
    )


def peak_rss_mib() -> float:
    """This process's own peak (``ru_maxrss`` would include the parent's: Linux keeps it across exec)."""
    status = Path("/proc/self/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]) / 1024


def print_side_by_side(runs: dict[str, list[dict]], scratch: Path, n_texts: int) -> None:
    reference = np.load(scratch / "torch.npy")
    torch_best = min(r["encode_seconds"] for r in runs["torch"])
    print()
    print(f"torch and OpenVINO on the same {n_texts} texts, each in a fresh process:")
    print(
        f"  {'backend':<10} {'sentences/s':>12} {'vs torch':>9} {'mean cos':>9} {'min cos':>9} {'top-10':>7} "
        f"{'peak RSS':>9} {'load':>7}"
    )
    for backend, backend_runs in runs.items():
        best = min(backend_runs, key=lambda r: r["encode_seconds"])
        assert best["backend"] == backend, best
        figures = agreement(reference, np.load(scratch / f"{backend}.npy"), k=10)
        print(
            f"  {backend:<10} {n_texts / best['encode_seconds']:>12.1f} "
            f"{torch_best / best['encode_seconds']:>8.2f}x {figures.mean_cosine:>9.5f} {figures.min_cosine:>9.5f} "
            f"{figures.neighbour_overlap:>7.3f} {max(r['peak_rss_mib'] for r in backend_runs):>5.0f} MiB "
            f"{min(r['load_seconds'] for r in backend_runs):>5.1f} s"
        )
    print(
        f"  best of {ROUNDS} alternating rounds; every round's sentences/s: "
        + "; ".join(
            f"{backend} " + ", ".join(f"{n_texts / r['encode_seconds']:.0f}" for r in backend_runs)
            for backend, backend_runs in runs.items()
        )
    )
    print("  targets: >= 3x torch, mean cos >= 0.999, top-10 >= 0.98")


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
