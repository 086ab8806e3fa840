"""The OpenVINO backend against torch on the replay catalog, and how a backend is chosen and exported."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from yts_pipeline.search import model as model_module
from yts_pipeline.search.backends import MANIFEST, ONNX_FILE, agreement
from yts_pipeline.search.embed import embed_movies, pending_documents
from yts_pipeline.search.errors import EmbeddingModelError
from yts_pipeline.search.export import export_location
from yts_pipeline.search.model import PACKAGED_MODEL_NAME, EmbeddingModel, export_model, get_model, model_location
from yts_pipeline.settings import EmbeddingSettings, SettingsError
from yts_pipeline.yts.replay import Catalog

REPLAY_MOVIES = 200


def model_on(backend: str, model_path: str | None = None) -> EmbeddingModel:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EMBEDDING_BACKEND", backend)
        return get_model(model_path)


@pytest.fixture(scope="session")
def torch_model() -> EmbeddingModel:
    return model_on("torch")


@pytest.fixture(scope="session")
def openvino_model() -> EmbeddingModel:
    return model_on("openvino")


@pytest.fixture
def fresh_models(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No model loaded yet in this process, as in a new one (the session's stay cached for the others)."""
    monkeypatch.setattr(model_module, "_loaded", {})
    yield


def replay_documents(db, n_movies: int, seed: int = 5) -> list[str]:
    """The texts ``embed_movies`` would encode for a synthetic replay catalog saved into ``db`` (two per movie)."""
    catalog = Catalog.synthetic(n_movies, seed=seed)
    db.save_movies([catalog.movie(movie_id) for movie_id in catalog.ids()])
    return [doc.text for doc in pending_documents(db, PACKAGED_MODEL_NAME)[0]]


def run_python(code: str, **env: str) -> str:
    finished = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    return finished.stdout.strip().splitlines()[-1]


def test_openvino_gives_torchs_vectors_on_the_replay_catalog(db, torch_model, openvino_model) -> None:
    texts = replay_documents(db, REPLAY_MOVIES)
    assert len(texts) == 2 * REPLAY_MOVIES  # each movie's search document and its plot document
    expected, found = torch_model.encode(texts, batch_size=32), openvino_model.encode(texts, batch_size=32)
    assert (torch_model.backend, openvino_model.backend) == ("torch", "openvino")
    assert found.dtype == np.float32 and found.shape == expected.shape
    assert np.allclose(np.linalg.norm(found, axis=1), 1.0, atol=1e-5)
    figures = agreement(expected, found, k=10)
    assert figures.mean_cosine >= 0.999, figures
    assert figures.neighbour_overlap >= 0.98, figures


def test_switching_backends_reembeds_nothing(db, torch_model, openvino_model) -> None:
    replay_documents(db, 30, seed=8)
    assert openvino_model.name == torch_model.name == PACKAGED_MODEL_NAME
    assert embed_movies(db, torch_model).embedded == 30
    again = embed_movies(db, openvino_model)
    assert (again.embedded, again.skipped) == (0, 30)


def test_a_model_with_its_own_pooling_is_exported_with_it(tmp_path: Path, torch_model) -> None:
    """``EMBEDDING_MODEL`` runs on OpenVINO too: the export holds the model's own pooling, not MiniLM's mean."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Normalize, Pooling

    minilm = SentenceTransformer(str(model_location()[1]), local_files_only=True)
    folder = tmp_path / "minilm-cls"
    SentenceTransformer(modules=[minilm[0], Pooling(384, pooling_mode="cls"), Normalize()]).save(str(folder))
    texts = ["A jury holdout argues for a teenager's innocence.", "Two droids cross a desert.", "Heist. " * 200]
    cls_torch, cls_openvino = model_on("torch", str(folder)), model_on("openvino", str(folder))
    assert cls_openvino.name == "minilm-cls"
    expected, found = cls_torch.encode(texts), cls_openvino.encode(texts)
    assert agreement(expected, found).min_cosine >= 0.999
    assert agreement(torch_model.encode(texts), found).mean_cosine < 0.99  # not the packaged model's vectors


def test_concurrent_exports_write_once_byte_for_byte_the_same(tmp_path: Path, openvino_model) -> None:
    name, folder = model_location()
    target = export_location(name, folder, tmp_path)
    target.parent.mkdir()
    (target.parent / f".{target.name}.staging-1-killed").mkdir()  # what an export killed midway leaves
    code = (
        "import json; from yts_pipeline.search.model import export_model; e = export_model(); "
        "print(json.dumps({'created': e.created, 'folder': str(e.folder), 'summary': e.summary()}))"
    )
    exporters = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            env={**os.environ, "YTS_DATA_DIR": str(tmp_path)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = []
    for exporter in exporters:
        out, err = exporter.communicate(timeout=600)
        assert exporter.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    waited, wrote = sorted(results, key=lambda r: r["created"])
    assert (waited["created"], wrote["created"]) == (False, True)
    assert waited["folder"] == wrote["folder"] == str(target)
    assert waited["summary"] == f"{name} is already exported for OpenVINO: {target}"
    assert wrote["summary"].startswith(f"exported {name} for OpenVINO to {target} in ")
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name, f"{target.name}.lock"]

    session_export = export_model()  # the one the session's openvino_model loaded, in another data dir
    assert not session_export.created and session_export.folder != target
    assert sha256(target / ONNX_FILE) == sha256(session_export.folder / ONNX_FILE)  # deterministic
    assert json.loads((target / MANIFEST).read_text())["max_seq_length"] == 256


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_process_whose_model_is_exported_never_imports_torch(database_url, openvino_model) -> None:
    heavy = "[m for m in ('torch', 'sentence_transformers', 'openvino') if m in sys.modules]"
    keyword = (
        "import sys\nfrom yts_pipeline.db.manager import DatabaseManager\n"
        "from yts_pipeline.search import NothingToSearch, search\n"
        f"try:\n    search(DatabaseManager({database_url!r}), 'space station', mode='keyword')\n"
        f"except NothingToSearch:\n    pass\nprint({heavy})"
    )
    assert run_python(keyword) == "[]"
    semantic = (
        "import sys; from yts_pipeline.search.model import get_model; m = get_model(); m.encode(['a heist']); "
        f"print(m.backend, {heavy})"
    )
    assert run_python(semantic) == "openvino ['openvino']"


def test_auto_says_once_which_backend_it_took(fresh_models, caplog, openvino_model) -> None:
    with caplog.at_level(logging.INFO, logger="yts_pipeline.search.model"):
        first, second = get_model(), get_model()
    assert first is second and first.backend == "openvino"
    assert [r.getMessage() for r in caplog.records] == [
        "embedding with all-MiniLM-L6-v2 on OpenVINO (EMBEDDING_BACKEND=auto)"
    ]


def test_auto_falls_back_to_torch_once_when_openvino_is_missing(fresh_models, monkeypatch, caplog) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)  # what an interpreter without the package sees
    with caplog.at_level(logging.INFO, logger="yts_pipeline.search.model"):
        first, second = get_model(), get_model()
    assert first is second and (first.backend, first.name) == ("torch", PACKAGED_MODEL_NAME)
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith(
        "EMBEDDING_BACKEND=auto: OpenVINO cannot load all-MiniLM-L6-v2 (the OpenVINO runtime is not installed"
    )


def test_an_explicit_backend_that_cannot_load_is_a_one_line_error(fresh_models, monkeypatch, tmp_path) -> None:
    not_a_folder = tmp_path / "data"
    not_a_folder.write_text("")
    monkeypatch.setenv("YTS_DATA_DIR", str(not_a_folder))
    monkeypatch.setenv("EMBEDDING_BACKEND", "openvino")
    with pytest.raises(EmbeddingModelError) as raised:
        get_model()
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(
        f"EMBEDDING_BACKEND=openvino cannot load all-MiniLM-L6-v2: cannot write the "
        f"exported model under {not_a_folder / 'models'}"
    )
    assert message.endswith("set EMBEDDING_BACKEND=torch (or auto)")


def test_the_backend_setting_is_checked(monkeypatch) -> None:
    assert EmbeddingSettings.from_env().backend == "auto"
    monkeypatch.setenv("EMBEDDING_BACKEND", " OpenVINO ")
    assert EmbeddingSettings.from_env().backend == "openvino"
    monkeypatch.setenv("EMBEDDING_BACKEND", "cuda")
    with pytest.raises(SettingsError, match=r"^EMBEDDING_BACKEND='cuda' is not one of auto, torch, openvino$"):
        EmbeddingSettings.from_env()
