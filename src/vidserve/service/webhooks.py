"""Webhook delivery: ``video.completed`` / ``video.failed`` events, signed per Standard Webhooks.

The payload is OpenAI's event shape; the headers are ``webhook-id`` (the event id, the same on
every retry, so receivers can drop duplicates), ``webhook-timestamp`` and ``webhook-signature``
(``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, made by the ``standardwebhooks`` library),
which the OpenAI SDK's ``client.webhooks.unwrap()`` verifies. Delivery URLs pass the same SSRF
checks as image URLs unless the operator allows private targets. Failed deliveries are retried
with exponential backoff up to ``webhook_max_attempts`` times.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

from vidserve.net.fetch import FetchPolicy, FetchRefused, fetch
from vidserve.settings import Settings
from vidserve.store.webhooks import Delivery, WebhookStore

log = logging.getLogger("vidserve.webhooks")

MAX_BACKOFF = 10 * 3600.0


def event_body(d: Delivery) -> str:
    return json.dumps(
        {
            "id": d.event_id,
            "object": "event",
            "created_at": d.created_at,
            "type": d.type,
            "data": {"id": d.video_id},
        },
        separators=(",", ":"),
    )


def signed_headers(secret: str, event_id: str, body: str, now: float) -> dict[str, str]:
    timestamp = datetime.fromtimestamp(int(now), tz=UTC)
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(now)),
        "webhook-signature": Webhook(secret).sign(event_id, timestamp, body),
        "content-type": "application/json",
        "user-agent": "vidserve-webhooks",
    }


def endpoint_policy(settings: Settings) -> FetchPolicy:
    allow = settings.webhook_allow_private_urls
    return FetchPolicy(
        allow_http=allow,
        allow_private=allow,
        max_redirects=0,
        timeout_seconds=settings.webhook_timeout_seconds,
        max_bytes=64 * 1024,
    )


class WebhookDispatcher:
    def __init__(
        self, settings: Settings, store: WebhookStore, clock: Callable[[], float]
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.policy = endpoint_policy(settings)

    def backoff(self, attempts_done: int) -> float:
        delay = self.settings.webhook_retry_base_seconds * 6.0 ** (attempts_done - 1)
        return float(min(delay, MAX_BACKOFF))

    async def deliver(self, d: Delivery) -> bool:
        body = event_body(d)
        headers = signed_headers(d.secret, d.event_id, body, self.clock())
        try:
            response = await fetch(
                d.url, self.policy, method="POST", content=body.encode(), headers=headers
            )
            ok = 200 <= response.status_code < 300
            error = None if ok else f"HTTP {response.status_code}"
        except FetchRefused as exc:
            ok, error = False, str(exc)
        if ok:
            await self.store.delivered(d, self.clock())
            log.info("webhook %s %s delivered to %s", d.type, d.event_id, d.endpoint_id)
            return True
        retry_at = self.clock() + self.backoff(d.attempts + 1)
        await self.store.failed(d, error or "failed", retry_at)
        log.warning(
            "webhook %s to %s failed (attempt %d): %s", d.event_id, d.endpoint_id,
            d.attempts + 1, error,
        )
        return False

    async def run_once(self) -> int:
        due = await self.store.claim_due(
            self.clock(),
            lease=self.settings.webhook_timeout_seconds * 3,
            max_attempts=self.settings.webhook_max_attempts,
        )
        if due:
            await asyncio.gather(*(self.deliver(d) for d in due))
        return len(due)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                sent = await self.run_once()
            except Exception:
                log.exception("webhook dispatch round failed")
                sent = 0
            if sent:
                continue
            try:
                await asyncio.wait_for(
                    stop.wait(), timeout=self.settings.webhook_poll_interval_seconds
                )
            except TimeoutError:
                pass
