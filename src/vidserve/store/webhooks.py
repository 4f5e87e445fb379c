"""Webhook endpoints and the delivery outbox.

:func:`record_event` writes an event and its delivery rows inside the transaction of the status
change it reports (the outbox pattern: the queue calls it from ``complete``, ``fail`` and
``reap``), so an event exists if and only if the change committed. Dispatchers (one per API
process, any number of replicas) claim due rows with a short lease, so a row is being sent by
at most one dispatcher at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, delete, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from vidserve import ids
from vidserve.store.database import Database
from vidserve.store.tables import webhook_deliveries, webhook_endpoints, webhook_events


@dataclass(frozen=True, slots=True)
class Endpoint:
    id: str
    project: str
    url: str
    secret: str
    created_at: int


@dataclass(frozen=True, slots=True)
class Delivery:
    event_id: str
    endpoint_id: str
    attempts: int
    claimed_until: float
    url: str
    secret: str
    type: str
    video_id: str
    created_at: int


async def record_event(
    conn: AsyncConnection, project: str, video_id: str, type_: str, now: float
) -> str:
    """Inside the caller's transaction: record an event and queue its delivery to each active
    endpoint of the project; returns the event's id."""
    event_id = ids.new_event_id()
    await conn.execute(
        insert(webhook_events).values(
            id=event_id, project=project, type=type_, video_id=video_id, created_at=int(now)
        )
    )
    await conn.execute(
        insert(webhook_deliveries).from_select(
            ["event_id", "endpoint_id", "attempts", "next_attempt_at"],
            select(
                literal(event_id), webhook_endpoints.c.id, literal(0), literal(float(now))
            ).where(
                webhook_endpoints.c.project == project, webhook_endpoints.c.disabled_at.is_(None)
            ),
        )
    )
    return event_id


class WebhookStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create_endpoint(self, project: str, url: str, now: int) -> Endpoint:
        endpoint = Endpoint(ids.new_webhook_id(), project, url, ids.new_webhook_secret(), now)
        async with self.db.write() as conn:
            await conn.execute(
                insert(webhook_endpoints).values(
                    id=endpoint.id,
                    project=project,
                    url=url,
                    secret=endpoint.secret,
                    created_at=now,
                )
            )
        return endpoint

    async def endpoints(self, project: str | None = None) -> list[Endpoint]:
        query = select(webhook_endpoints).where(webhook_endpoints.c.disabled_at.is_(None))
        if project is not None:
            query = query.where(webhook_endpoints.c.project == project)
        rows = await self.db.fetch_all(query.order_by(webhook_endpoints.c.created_at))
        return [Endpoint(r.id, r.project, r.url, r.secret, r.created_at) for r in rows]

    async def disable(self, endpoint_id: str, now: int) -> bool:
        async with self.db.write() as conn:
            result = await conn.execute(
                update(webhook_endpoints)
                .where(
                    webhook_endpoints.c.id == endpoint_id,
                    webhook_endpoints.c.disabled_at.is_(None),
                )
                .values(disabled_at=now)
            )
        return result.rowcount == 1

    async def claim_due(
        self, now: float, lease: float, max_attempts: int, limit: int = 20
    ) -> list[Delivery]:
        """Due deliveries, each pushed ``lease`` seconds into the future while it is sent."""
        joined = webhook_deliveries.join(
            webhook_events, webhook_events.c.id == webhook_deliveries.c.event_id
        ).join(webhook_endpoints, webhook_endpoints.c.id == webhook_deliveries.c.endpoint_id)
        query = (
            select(
                webhook_deliveries.c.event_id,
                webhook_deliveries.c.endpoint_id,
                webhook_deliveries.c.attempts,
                webhook_deliveries.c.next_attempt_at,
                webhook_endpoints.c.url,
                webhook_endpoints.c.secret,
                webhook_events.c.type,
                webhook_events.c.video_id,
                webhook_events.c.created_at,
            )
            .select_from(joined)
            .where(
                webhook_deliveries.c.delivered_at.is_(None),
                webhook_deliveries.c.next_attempt_at <= now,
                webhook_deliveries.c.attempts < max_attempts,
                webhook_endpoints.c.disabled_at.is_(None),
            )
            .order_by(webhook_deliveries.c.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True, of=webhook_deliveries)
        )
        claimed: list[Delivery] = []
        async with self.db.write() as conn:
            for row in (await conn.execute(query)).all():
                result = await conn.execute(
                    update(webhook_deliveries)
                    .where(
                        webhook_deliveries.c.event_id == row.event_id,
                        webhook_deliveries.c.endpoint_id == row.endpoint_id,
                        webhook_deliveries.c.next_attempt_at == row.next_attempt_at,
                    )
                    .values(next_attempt_at=now + lease)
                )
                if result.rowcount == 1:
                    claimed.append(
                        Delivery(
                            row.event_id, row.endpoint_id, row.attempts, now + lease, row.url,
                            row.secret, row.type, row.video_id, row.created_at,
                        )
                    )
        return claimed

    def _key(self, d: Delivery) -> object:
        return and_(
            webhook_deliveries.c.event_id == d.event_id,
            webhook_deliveries.c.endpoint_id == d.endpoint_id,
            webhook_deliveries.c.delivered_at.is_(None),
        )

    async def delivered(self, d: Delivery, now: float) -> None:
        async with self.db.write() as conn:
            await conn.execute(
                update(webhook_deliveries)
                .where(self._key(d))  # type: ignore[arg-type]
                .values(delivered_at=now, attempts=d.attempts + 1, last_error=None)
            )

    async def failed(self, d: Delivery, error: str, retry_at: float) -> None:
        async with self.db.write() as conn:
            await conn.execute(
                update(webhook_deliveries)
                .where(self._key(d))  # type: ignore[arg-type]
                .values(attempts=d.attempts + 1, last_error=error[:500], next_attempt_at=retry_at)
            )

    async def prune_delivered(self, before: float) -> int:
        async with self.db.write() as conn:
            result = await conn.execute(
                delete(webhook_deliveries).where(webhook_deliveries.c.delivered_at < before)
            )
        return int(result.rowcount or 0)
