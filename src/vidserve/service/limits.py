"""Request rate limits per project: a token bucket per project in this API process.

``rate_limit_requests_per_minute`` tokens, refilled continuously; a request without a token
gets 429 with ``Retry-After`` / ``retry-after-ms`` (the SDK waits that long and retries). With
several API replicas each enforces the limit on its own share of the traffic. The active-jobs
quota (queued + running per project) is checked against the database at create time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from vidserve.errors import RateLimited


class RateLimiter:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # project -> (tokens, at)

    def check(self, project: str) -> None:
        if self.per_minute <= 0:
            return
        now = self.clock()
        rate = self.per_minute / 60.0
        tokens, at = self._buckets.get(project, (float(self.per_minute), now))
        tokens = min(float(self.per_minute), tokens + (now - at) * rate)
        if tokens < 1.0:
            self._buckets[project] = (tokens, now)
            wait = (1.0 - tokens) / rate
            raise RateLimited(
                f"Rate limit reached for requests: {self.per_minute} per minute for this "
                f"project. Please try again in {math.ceil(wait * 1000)}ms.",
                retry_after=wait,
            )
        self._buckets[project] = (tokens - 1.0, now)
