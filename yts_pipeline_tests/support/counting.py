"""Counting what the serving path costs: texts given to the model's encoder, statements sent to Postgres."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
from sqlalchemy import event
from sqlalchemy.engine import Engine

from yts_pipeline.search.backends import Encoder


class CountingEncoder:
    """The real encoder, counting the texts it is asked to encode."""

    def __init__(self, encoder: Encoder):
        self.backend, self.encoder, self.texts = encoder.backend, encoder, []

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        self.texts.extend(texts)
        return self.encoder.encode(texts, batch_size=batch_size)


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements ``engine`` sends while the block runs (BEGIN and COMMIT are not statements here)."""
    sent: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)
