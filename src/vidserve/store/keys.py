"""API keys kept in the database, hashed (SHA-256); the plaintext is shown once at creation."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import func, insert, select, update

from vidserve.ids import new_api_key
from vidserve.store.database import Database
from vidserve.store.tables import api_keys


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    prefix: str
    project: str
    created_at: int
    revoked_at: int | None


class KeyStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, project: str, now: int) -> tuple[ApiKey, str]:
        plaintext = new_api_key()
        key = ApiKey(
            id="key_" + secrets.token_hex(8),
            prefix=plaintext[:10],
            project=project,
            created_at=now,
            revoked_at=None,
        )
        async with self.db.write() as conn:
            await conn.execute(
                insert(api_keys).values(
                    id=key.id,
                    key_hash=hash_key(plaintext),
                    prefix=key.prefix,
                    project=project,
                    created_at=now,
                )
            )
        return key, plaintext

    async def project_for(self, plaintext: str) -> str | None:
        """The project of an active key. The lookup is by hash, so timing reveals nothing."""
        project: str | None = await self.db.scalar(
            select(api_keys.c.project).where(
                api_keys.c.key_hash == hash_key(plaintext), api_keys.c.revoked_at.is_(None)
            )
        )
        return project

    async def count_active(self) -> int:
        return int(
            await self.db.scalar(select(func.count()).where(api_keys.c.revoked_at.is_(None)))
        )

    async def list(self) -> list[ApiKey]:
        rows = await self.db.fetch_all(select(api_keys).order_by(api_keys.c.created_at))
        return [
            ApiKey(r.id, r.prefix, r.project, r.created_at, r.revoked_at) for r in rows
        ]

    async def revoke(self, key_id: str, now: int) -> bool:
        async with self.db.write() as conn:
            result = await conn.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        return result.rowcount == 1
