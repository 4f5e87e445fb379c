"""Character rows: a name and a short clip (blob ``ids.character_key(id)``), per project."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select

from vidserve.store.database import Database
from vidserve.store.tables import characters


@dataclass(frozen=True, slots=True)
class Character:
    id: str
    project: str
    name: str
    created_at: int
    width: int  # of the stored clip
    height: int
    frames: int


def _row(row: Any) -> Character:
    m = row._mapping
    return Character(
        id=m["id"],
        project=m["project"],
        name=m["name"],
        created_at=m["created_at"],
        width=m["width"],
        height=m["height"],
        frames=m["frames"],
    )


class CharacterStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert(self, character: Character) -> None:
        async with self.db.write() as conn:
            await conn.execute(
                insert(characters).values(
                    id=character.id,
                    project=character.project,
                    name=character.name,
                    created_at=character.created_at,
                    width=character.width,
                    height=character.height,
                    frames=character.frames,
                )
            )

    async def get(self, project: str, character_id: str) -> Character | None:
        row = await self.db.fetch_first(
            select(characters).where(
                characters.c.id == character_id, characters.c.project == project
            )
        )
        return _row(row) if row is not None else None

    async def get_many(self, ids: Sequence[str]) -> list[Character]:
        """Any project: for workers, which got the ids from a validated job row."""
        if not ids:
            return []
        rows = await self.db.fetch_all(select(characters).where(characters.c.id.in_(list(ids))))
        by_id = {c.id: c for c in map(_row, rows)}
        return [by_id[i] for i in ids if i in by_id]
