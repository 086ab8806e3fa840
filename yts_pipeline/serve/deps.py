"""Dependencies the routes declare: the read-only database, a read-only session, the embedding model."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from yts_pipeline.db.manager import DatabaseManager
from yts_pipeline.serve.embedding import BackgroundModel


def database(request: Request) -> DatabaseManager:
    return request.app.state.database.get()


def read_session(db: Annotated[DatabaseManager, Depends(database)]) -> Iterator[Session]:
    with db.get_session() as session:
        yield session


def background_model(request: Request) -> BackgroundModel:
    return request.app.state.model


Database = Annotated[DatabaseManager, Depends(database)]
ReadSession = Annotated[Session, Depends(read_session)]
Model = Annotated[BackgroundModel, Depends(background_model)]
