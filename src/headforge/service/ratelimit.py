"""Per-client rate limit: a token bucket per client key (API key or address), in memory.

Each bucket holds up to ``burst`` tokens and refills at ``per_min`` tokens a minute; a request
takes one. With several gateways each keeps its own buckets (put a shared limiter in front of
them if the limit must hold across gateways).
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

MAX_CLIENTS = 100_000  # buckets kept; the fullest (idlest) are forgotten first


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, per_min: int, burst: int, clock=time.monotonic):
        self.rate = per_min / 60.0
        self.burst = float(max(1, burst))
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, client: str) -> float:
        """Take a token for ``client``: 0.0 if allowed, else the seconds until one is free."""
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(client)
            if bucket is None:
                if len(self._buckets) >= MAX_CLIENTS:
                    self._forget_full(now)
                bucket = self._buckets[client] = _Bucket(self.burst, now)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return math.inf if self.rate == 0 else (1.0 - bucket.tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled: forgetting them changes nothing."""
        for client in [c for c, b in self._buckets.items() if b.tokens + (now - b.updated) * self.rate >= self.burst]:
            del self._buckets[client]
