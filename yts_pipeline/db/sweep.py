"""Tombstones: movies the API no longer lists are marked ``removed_at``, never deleted."""

from __future__ import annotations

from sqlalchemy import BigInteger, any_, bindparam, func, not_, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from yts_pipeline.db.models import Movie


def mark_removed(session: Session, listed: set[int]) -> tuple[list[int], list[int]]:
    """Mark every stored movie not in ``listed`` (YTS ids) removed and clear the mark on listed ones.

    Returns the YTS ids newly removed and the ones revived.
    """
    is_listed = Movie.external_id == any_(bindparam("listed", sorted(listed), type_=ARRAY(BigInteger)))
    removed = session.scalars(
        update(Movie).where(Movie.removed_at.is_(None), not_(is_listed))
        .values(removed_at=func.now(), updated_at=func.now()).returning(Movie.external_id)).all()
    revived = session.scalars(
        update(Movie).where(Movie.removed_at.isnot(None), is_listed)
        .values(removed_at=None, updated_at=func.now()).returning(Movie.external_id)).all()
    return sorted(removed), sorted(revived)
