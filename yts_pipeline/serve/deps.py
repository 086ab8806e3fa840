"""Dependencies the routes declare: the read-only database, a read-only session, the embedding model.

Lookups are ``async`` so they run on the event loop: a sync dependency costs a worker-thread hop.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from yts_pipeline.db.manager import DatabaseManager
from yts_pipeline.serve.query_model import BackgroundModel


async def database(request: Request) -> DatabaseManager:
    """The read-only manager; connecting (the first time, or after an outage) runs in a worker thread."""
    serving = request.app.state.database
    return serving.current or await run_in_threadpool(serving.get)


def read_session(db: Annotated[DatabaseManager, Depends(database)]) -> Iterator[Session]:
    with db.get_session() as session:
        yield session


async def background_model(request: Request) -> BackgroundModel:
    return request.app.state.model


Database = Annotated[DatabaseManager, Depends(database)]
ReadSession = Annotated[Session, Depends(read_session)]
Model = Annotated[BackgroundModel, Depends(background_model)]
