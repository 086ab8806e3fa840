"""The OpenVINO backend's files: a model exported once to ONNX in the data dir, keyed by its content.

``<data dir>/models/<name>-<fingerprint>/`` holds ``model.onnx`` (the whole sentence-transformers
pipeline after the tokenizer: transformer, pooling, normalization), ``tokenizer.json`` (set to the
model's ``max_seq_length`` and to pad to the longest text, which the shipped file is not) and
``export.json``. The fingerprint hashes the model's weights and configs, so a different or edited
model never reuses an export. An export is written in a staging folder and renamed into place under
an exclusive lock, so concurrent processes wait for one export and never read half of one. It is
checked against torch before it is kept: an export that would change vectors is refused.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import secrets
import shutil
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from yts_pipeline.search.backends import (
    ENCODING_FIELDS,
    MANIFEST,
    ONNX_FILE,
    TOKENIZER_FILE,
    OpenVinoEncoder,
    TorchEncoder,
    agreement,
    load_sentence_transformer,
    require_table_dimensions,
    sentence_dimensions,
)
from yts_pipeline.search.errors import BackendUnavailable

EXPORT_FORMAT = 1  # part of the fingerprint: a change to what is exported makes new folders
ONNX_OPSET = 17
MODEL_FILE_SUFFIXES = (".json", ".txt", ".safetensors", ".bin", ".model")
OTHER_RUNTIME_FOLDERS = {"onnx", "openvino"}  # exports some hub models carry; not what torch loads
# an export must reproduce torch on these (short, accented, empty, truncated, padded in one batch)
MIN_PROBE_COSINE = 0.999
PROBE_TEXTS = (
    "Twelve Angry Men (1957).\nGenres: Crime, Drama.\nA jury holdout argues for a teenager's innocence.",
    "Amélie (2001). Une serveuse timide décide de changer la vie des autres. 東京物語.",
    "",
    "A heist. " * 300,
)


@dataclass(frozen=True)
class ExportedModel:
    """Where a model's export is, and whether this call wrote it (and how long that took)."""

    name: str
    folder: Path
    created: bool
    seconds: float

    def summary(self) -> str:
        """The line ``yts-pipeline export-model`` prints."""
        if self.created:
            return f"exported {self.name} for OpenVINO to {self.folder} in {self.seconds:.1f} s"
        return f"{self.name} is already exported for OpenVINO: {self.folder}"


def export_location(name: str, model_folder: Path, data_dir: Path) -> Path:
    return data_dir / "models" / f"{name}-{model_fingerprint(model_folder)[:16]}"


def model_fingerprint(model_folder: Path) -> str:
    """sha256 of every weight and config file of the model (their paths too), and of ``EXPORT_FORMAT``."""
    digest = hashlib.sha256(f"export format {EXPORT_FORMAT}\n".encode())
    files = sorted(
        path
        for path in model_folder.rglob("*")
        if path.is_file()
        and path.suffix in MODEL_FILE_SUFFIXES
        and not OTHER_RUNTIME_FOLDERS & set(path.relative_to(model_folder).parts[:-1])
    )
    for path in files:
        digest.update(f"{path.relative_to(model_folder).as_posix()}\0".encode())
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def is_exported(folder: Path) -> bool:
    return (folder / MANIFEST).is_file()


def ensure_exported(name: str, model_folder: Path, data_dir: Path) -> ExportedModel:
    """The export of the model in ``model_folder``, written first if there is none (~6 s, loads torch)."""
    started = time.perf_counter()
    target = export_location(name, model_folder, data_dir)
    if not is_exported(target):
        with _exclusive(target.parent / f"{target.name}.lock"):
            if not is_exported(target):  # else another process exported it while this one waited
                _export_into(name, model_folder, target)
                return ExportedModel(name, target, created=True, seconds=round(time.perf_counter() - started, 3))
    return ExportedModel(name, target, created=False, seconds=round(time.perf_counter() - started, 3))


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``lock_path`` (released when closed): one exporter at a time."""
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = lock_path.open("a")
    except OSError as exc:
        raise BackendUnavailable(
            f"cannot write the exported model under {lock_path.parent} ({exc.strerror}): "
            "set YTS_DATA_DIR to a writable folder"
        ) from exc
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _export_into(name: str, model_folder: Path, target: Path) -> None:
    """Export into a staging folder, then rename it to ``target``: readers see all of it or nothing."""
    for leftover in target.parent.glob(f".{target.name}.staging-*"):  # from an export that was killed
        shutil.rmtree(leftover, ignore_errors=True)
    shutil.rmtree(target, ignore_errors=True)  # a folder without its manifest is not an export
    staging = target.parent / f".{target.name}.staging-{os.getpid()}-{secrets.token_hex(4)}"
    staging.mkdir()
    try:
        _write_export(name, model_folder, staging)
        _fsync(staging)
        staging.rename(target)
        _fsync(target.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _write_export(name: str, model_folder: Path, staging: Path) -> None:
    import torch
    from tokenizers import Tokenizer

    transformer = load_sentence_transformer(model_folder)
    dimensions = sentence_dimensions(transformer)
    require_table_dimensions(name, model_folder, dimensions)
    hf_tokenizer = transformer.tokenizer
    inputs = list(hf_tokenizer.model_input_names)
    if not getattr(hf_tokenizer, "is_fast", False) or not set(inputs) <= ENCODING_FIELDS.keys():
        raise BackendUnavailable(
            f"the model in {model_folder} has no fast tokenizer with the usual inputs "
            f"(it takes {inputs}): it can only run on torch"
        )
    tokenizer = Tokenizer.from_str(hf_tokenizer.backend_tokenizer.to_str())
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=transformer.max_seq_length)
    tokenizer.enable_padding(pad_id=hf_tokenizer.pad_token_id, pad_token=hf_tokenizer.pad_token)

    class SentenceEmbedding(torch.nn.Module):
        """Token ids in, the model's sentence embedding out: every module after the tokenizer."""

        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            return self.transformer(dict(zip(inputs, tensors, strict=True)))["sentence_embedding"]

    example = tokenizer.encode_batch(["an example to trace", "a second, longer example to trace with"])
    example_tensors = tuple(torch.tensor([getattr(e, ENCODING_FIELDS[n]) for e in example]) for n in inputs)
    onnx = io.BytesIO()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes on branches that are constant for inference
            torch.onnx.export(
                SentenceEmbedding().eval(),
                example_tensors,
                onnx,
                dynamo=False,
                opset_version=ONNX_OPSET,
                input_names=inputs,
                output_names=["sentence_embedding"],
                dynamic_axes={**{n: {0: "batch", 1: "sequence"} for n in inputs}, "sentence_embedding": {0: "batch"}},
            )
    except Exception as exc:
        raise BackendUnavailable(f"torch cannot export it to ONNX ({exc})") from exc
    _write(staging / ONNX_FILE, onnx.getvalue())
    _write(staging / TOKENIZER_FILE, tokenizer.to_str().encode())
    manifest = {
        "format": EXPORT_FORMAT,
        "model": name,
        "source": str(model_folder),
        "dimensions": dimensions,
        "max_seq_length": transformer.max_seq_length,
        "inputs": inputs,
        "torch": torch.__version__,
    }
    _write(staging / MANIFEST, json.dumps(manifest, indent=2).encode())
    _check_against_torch(name, staging, TorchEncoder(transformer))


def _check_against_torch(name: str, staging: Path, reference: TorchEncoder) -> None:
    """Refuse an export whose vectors on ``PROBE_TEXTS`` are not torch's (a model the trace got wrong)."""
    expected = reference.encode(PROBE_TEXTS, batch_size=len(PROBE_TEXTS))
    worst = agreement(expected, OpenVinoEncoder(staging).encode(PROBE_TEXTS, batch_size=len(PROBE_TEXTS))).min_cosine
    if worst < MIN_PROBE_COSINE:
        raise BackendUnavailable(
            f"the OpenVINO export of {name} gives other vectors than torch "
            f"(cosine {worst:.4f} < {MIN_PROBE_COSINE}): it can only run on torch"
        )


def _write(path: Path, data: bytes) -> None:
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
