"""Small per-process snapshots for hot reads (current grades, institution regions).

A snapshot reloads when older than its time-to-live, and at once in the process that changed the
data (``forget``). Other gunicorn workers converge within the time-to-live; the default is two
seconds (``SNAPSHOT_SECONDS``; 0 turns snapshots off, so every read goes to the database).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from flask import current_app

T = TypeVar("T")


class Snapshot(Generic[T]):
    """A value loaded by ``load`` and kept for ``ttl`` seconds; thread-safe."""

    def __init__(self, load: Callable[[], T], ttl: float):
        self._load, self._ttl = load, ttl
        self._lock = threading.Lock()
        self._value: T | None = None
        self._loaded_at = float("-inf")

    def get(self) -> T:
        if self._ttl > 0 and time.monotonic() - self._loaded_at < self._ttl:
            return self._value  # type: ignore[return-value]
        with self._lock:
            if self._ttl <= 0 or time.monotonic() - self._loaded_at >= self._ttl:
                self._value = self._load()
                self._loaded_at = time.monotonic()
            return self._value  # type: ignore[return-value]

    def forget(self) -> None:
        with self._lock:
            self._loaded_at = float("-inf")


def snapshot(name: str) -> Snapshot:
    """The application's snapshot ``name`` (registered by ``create_app``)."""
    return current_app.extensions[f"medcredit.snapshot.{name}"]


class TokenCache:
    """Principals of recently seen token hashes, each kept ``ttl`` seconds (known tokens only, at
    most ``limit`` of them), so that a busy client does not cost a token lookup per request. A
    revoked token stops working within ``ttl`` seconds in every worker."""

    def __init__(self, ttl: float, limit: int = 10_000):
        self._ttl, self._limit = ttl, limit
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, object]] = {}

    def get(self, key: str, load: Callable[[str], T | None]) -> T | None:
        if self._ttl <= 0:
            return load(key)
        now = time.monotonic()
        hit = self._entries.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]  # type: ignore[return-value]
        value = load(key)
        if value is not None:
            with self._lock:
                if len(self._entries) >= self._limit:
                    self._entries.clear()
                self._entries[key] = (now + self._ttl, value)
        return value
