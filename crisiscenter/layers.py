"""In-memory channel layer that is safe to call from the embedded worker's threads.

Channels' ``InMemoryChannelLayer`` keeps ``asyncio.Queue`` objects that belong to the event
loop serving WebSockets. In the embedded mode the Celery worker runs in another thread with
its own loop, and putting into a queue from a foreign loop does not wake the consumer that is
waiting on it. This layer remembers the serving loop (the one that receives) and runs every
operation from another loop on that loop instead.
"""

from __future__ import annotations

import asyncio

from channels.layers import InMemoryChannelLayer


class ThreadSafeInMemoryChannelLayer(InMemoryChannelLayer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._home_loop: asyncio.AbstractEventLoop | None = None

    def _foreign_home_loop(self) -> asyncio.AbstractEventLoop | None:
        home = self._home_loop
        if home is None or home.is_closed() or not home.is_running():
            return None
        return None if home is asyncio.get_running_loop() else home

    async def _on_home_loop(self, coroutine_function, *args):
        home = self._foreign_home_loop()
        if home is None:
            return await coroutine_function(*args)
        future = asyncio.run_coroutine_threadsafe(coroutine_function(*args), home)
        return await asyncio.wrap_future(future)

    async def receive(self, channel):
        self._home_loop = asyncio.get_running_loop()
        return await super().receive(channel)

    async def send(self, channel, message):
        return await self._on_home_loop(super().send, channel, message)

    async def group_send(self, group, message):
        return await self._on_home_loop(super().group_send, group, message)

    async def group_add(self, group, channel):
        return await self._on_home_loop(super().group_add, group, channel)

    async def group_discard(self, group, channel):
        return await self._on_home_loop(super().group_discard, group, channel)
