"""Tombstones: movies the API no longer lists are marked ``removed_at``, never deleted."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import BigInteger, any_, bindparam, func, not_, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from yts_pipeline.db.models import Movie


class Unlisted(NamedTuple):
    """A stored movie that no stored page lists, with what the API can be asked about it by."""

    external_id: int
    imdb_code: str | None
    title: str


def _among(ids: set[int] | list[int]):
    return Movie.external_id == any_(bindparam("ids", sorted(ids), type_=ARRAY(BigInteger)))


def unlisted_movies(session: Session, listed: set[int]) -> list[Unlisted]:
    """Stored movies not marked removed that are not in ``listed`` (YTS ids), by YTS id."""
    rows = session.execute(
        select(Movie.external_id, Movie.imdb_code, Movie.title)
        .where(Movie.removed_at.is_(None), not_(_among(listed)))
        .order_by(Movie.external_id)
    )
    return [Unlisted(*row) for row in rows]


def mark_removed(session: Session, gone: list[int]) -> list[int]:
    """Mark these movies (YTS ids) removed; returns the ones that were not marked yet."""
    return sorted(
        session.scalars(
            update(Movie)
            .where(Movie.removed_at.is_(None), _among(gone))
            .values(removed_at=func.now(), updated_at=func.now())
            .returning(Movie.external_id)
        )
    )


def revive(session: Session, listed: set[int]) -> list[int]:
    """Clear the mark on movies the API lists again; returns their YTS ids."""
    return sorted(
        session.scalars(
            update(Movie)
            .where(Movie.removed_at.isnot(None), _among(listed))
            .values(removed_at=None, updated_at=func.now())
            .returning(Movie.external_id)
        )
    )
