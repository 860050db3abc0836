"""Pub/sub for LiveViews: ``subscribe(topic)`` / ``broadcast(topic, msg)`` -> ``handle_info``.

:class:`LocalPubSub` reaches the views of this process; :class:`RedisPubSub` (redis-py's
asyncio client) also reaches those of other processes and nodes subscribed to the same
Redis (``hype serve --workers 2 --pubsub redis://127.0.0.1:6379``).  Messages are JSON
data; a local subscriber receives its own process's broadcasts directly, never twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Callable
from typing import Any

from .._errors import LiveError

Callback = Callable[[Any], None]
log = logging.getLogger("hypelua.live")


class LocalPubSub:
    """In-process topics: callbacks run synchronously at :meth:`broadcast` (they schedule)."""

    def __init__(self) -> None:
        self._subs: dict[str, list[Callback]] = {}

    def subscribe(self, topic: str, callback: Callback) -> None:
        """Call ``callback(msg)`` for every message on ``topic``."""
        if not isinstance(topic, str) or not topic:
            raise LiveError("a topic is a non-empty string", code="BAD_TOPIC")
        self._subs.setdefault(topic, []).append(callback)

    def unsubscribe(self, topic: str, callback: Callback) -> None:
        subs = self._subs.get(topic)
        if subs and callback in subs:
            subs.remove(callback)
            if not subs:
                del self._subs[topic]

    def subscribers(self, topic: str) -> int:
        return len(self._subs.get(topic, ()))

    async def broadcast(self, topic: str, msg: Any) -> None:
        """Deliver ``msg`` to this process's subscribers of ``topic``."""
        self._deliver(topic, msg)

    def _deliver(self, topic: str, msg: Any) -> None:
        for cb in list(self._subs.get(topic, ())):
            try:
                cb(msg)
            except Exception:
                log.exception("a subscriber of %r failed", topic)

    async def start(self) -> None:
        """Nothing to connect."""

    async def stop(self) -> None:
        """Nothing to disconnect (subscriptions end with their sessions)."""


class RedisPubSub(LocalPubSub):
    """Topics shared through Redis pub/sub (channel ``hype.live:<topic>``).

    Args:
        url: ``redis://host:port[/db]``.

    Raises (at :meth:`start`):
        LiveError: ``PUBSUB_UNAVAILABLE`` when Redis cannot be reached.
    """

    PREFIX = "hype.live:"

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.node = secrets.token_hex(8)
        self._redis: Any = None
        self._ps: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._channels: set[str] = set()
        self._pending: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        import redis.asyncio as aioredis

        self._redis = aioredis.from_url(self.url)
        try:
            await self._redis.ping()
        except Exception as exc:
            raise LiveError(f"cannot reach Redis at {self.url}: {exc}", code="PUBSUB_UNAVAILABLE",
                            suggestion="Start redis-server or fix --pubsub.") from None
        self._ps = self._redis.pubsub()
        await self._ps.subscribe(self.PREFIX + "__hello__", *(self.PREFIX + t for t in self._subs))
        self._channels.update(self._subs)
        self._reader = asyncio.ensure_future(self._read())

    def subscribe(self, topic: str, callback: Callback) -> None:
        super().subscribe(topic, callback)
        if self._ps is not None and topic not in self._channels:
            self._channels.add(topic)
            self._bg(self._ps.subscribe(self.PREFIX + topic))

    def unsubscribe(self, topic: str, callback: Callback) -> None:
        super().unsubscribe(topic, callback)
        if self._ps is not None and topic in self._channels and not self.subscribers(topic):
            self._channels.discard(topic)
            self._bg(self._ps.unsubscribe(self.PREFIX + topic))

    def _bg(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def broadcast(self, topic: str, msg: Any) -> None:
        """Deliver locally, then publish for the other processes."""
        data = json.dumps({"n": self.node, "m": msg}, separators=(",", ":"))
        self._deliver(topic, json.loads(data)["m"])
        if self._redis is not None:
            await self._redis.publish(self.PREFIX + topic, data)

    async def _read(self) -> None:
        while True:
            try:
                message = await self._ps.get_message(ignore_subscribe_messages=True, timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reading Redis pub/sub failed")
                await asyncio.sleep(0.5)
                continue
            if message is None:
                continue
            try:
                channel = message["channel"].decode() if isinstance(message["channel"], bytes) else message["channel"]
                data = json.loads(message["data"])
            except (ValueError, KeyError, AttributeError):
                continue  # not ours
            if not isinstance(data, dict) or data.get("n") == self.node:
                continue
            self._deliver(channel[len(self.PREFIX):], data.get("m"))

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader
        if self._ps is not None:
            with contextlib.suppress(Exception):
                await self._ps.aclose()
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.aclose()
        self._subs.clear()


_DEFAULT: LocalPubSub | None = None


def default_pubsub() -> LocalPubSub:
    """The process's in-process pub/sub, shared by every ``live.app`` without ``pubsub=``."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = LocalPubSub()
    return _DEFAULT


def pubsub_from(spec: Any) -> LocalPubSub:
    """``None`` -> :class:`LocalPubSub`; ``"redis://..."`` -> :class:`RedisPubSub`; an object -> itself."""
    if spec is None:
        return default_pubsub()
    if isinstance(spec, str):
        if spec.startswith(("redis://", "rediss://", "unix://")):
            return RedisPubSub(spec)
        raise LiveError(f"unknown pub/sub {spec!r}", code="BAD_PUBSUB", suggestion="Use redis://host:port.")
    return spec
