"""Who is in the war room right now: one entry per open organisation socket, kept outside the
database (consumers never write to it) — in Redis when the app runs with Redis, so every
WebSocket process sees the same room, and in this process otherwise (the embedded mode runs
one). An entry lives while its socket does; one left behind by a process that died goes after
``STALE_SECONDS`` without a heartbeat (each ping refreshes it).

Several tabs of one person are one person. Changes are announced as ``presence.changed`` at
most once per ``ANNOUNCE_EVERY_SECONDS`` per organisation and process, so 1,000 screens
connecting at once make a handful of events, not a million.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time

from asgiref.sync import sync_to_async
from django.conf import settings

logger = logging.getLogger(__name__)

STALE_SECONDS = 120
ANNOUNCE_EVERY_SECONDS = 1.0

_local: dict[int, dict[str, tuple[int, str, float]]] = {}
_local_lock = threading.Lock()
_clients: dict[str, object] = {}


def _key(organization_id: int) -> str:
    return f"crisiscenter:presence:org:{organization_id}"


def _redis():
    import redis

    client = _clients.get(settings.REDIS_URL)
    if client is None:
        client = _clients[settings.REDIS_URL] = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    return client


def join(organization_id: int, channel_name: str, *, user_id: int, name: str) -> None:
    """Add (or refresh, on a heartbeat) one socket's entry."""
    now = time.time()
    if settings.REDIS_URL:
        pipeline = _redis().pipeline()
        pipeline.hset(_key(organization_id), channel_name, json.dumps([user_id, name, now]))
        pipeline.expire(_key(organization_id), STALE_SECONDS * 2)
        pipeline.execute()
        return
    with _local_lock:
        _local.setdefault(organization_id, {})[channel_name] = (user_id, name, now)


def leave(organization_id: int, channel_name: str) -> None:
    if settings.REDIS_URL:
        _redis().hdel(_key(organization_id), channel_name)
        return
    with _local_lock:
        _local.get(organization_id, {}).pop(channel_name, None)


def members(organization_id: int) -> list[dict]:
    """The people with at least one live socket, by name."""
    now = time.time()
    if settings.REDIS_URL:
        client = _redis()
        entries, stale = {}, []
        for channel, value in client.hgetall(_key(organization_id)).items():
            user_id, name, seen = json.loads(value)
            if now - seen > STALE_SECONDS:
                stale.append(channel)
            else:
                entries[channel] = (user_id, name, seen)
        if stale:
            client.hdel(_key(organization_id), *stale)
    else:
        with _local_lock:
            room = _local.get(organization_id, {})
            for channel in [channel for channel, entry in room.items() if now - entry[2] > STALE_SECONDS]:
                room.pop(channel)
            entries = dict(room)
    people = {user_id: name for user_id, name, _seen in entries.values()}
    return sorted(({"user_id": user_id, "name": name} for user_id, name in people.items()), key=lambda person: (person["name"].lower(), person["user_id"]))


def _forgiving(function, fallback=None):
    """For the consumer, off the event loop (Redis calls block); presence is a nicety, so a
    Redis hiccup costs the list, never the socket."""
    run = sync_to_async(function, thread_sensitive=False)

    async def call(*args, **kwargs):
        try:
            return await run(*args, **kwargs)
        except Exception:
            logger.exception("War-room presence is unavailable")
            return fallback() if fallback else None

    return call


ajoin = _forgiving(join)
aleave = _forgiving(leave)
amembers = _forgiving(members, fallback=list)


_pending: dict[int, asyncio.Task] = {}


def announce_soon(organization_id: int, send) -> None:
    """Call ``send(members)`` (a coroutine function) once the room settles: at most once an
    interval per organisation in this process, always with the room as it is by then."""
    task = _pending.get(organization_id)
    if task is not None and not task.done():
        return

    async def later():
        await asyncio.sleep(ANNOUNCE_EVERY_SECONDS)
        _pending.pop(organization_id, None)
        await send(await amembers(organization_id))

    _pending[organization_id] = asyncio.get_running_loop().create_task(later())
