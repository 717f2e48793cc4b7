"""The embedded channel layer delivers messages sent from the worker's threads.

Channels' plain in-memory layer puts into the serving loop's queues from the sending thread,
which does not wake that loop: an idle war room would only see the event when something else
happens. Our layer runs the put on the serving loop itself, which is what these tests pin.
"""

from __future__ import annotations

import asyncio
import threading
from unittest import mock

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer

from crisiscenter.layers import ThreadSafeInMemoryChannelLayer


async def test_group_send_from_a_worker_thread_runs_on_the_serving_loop():
    layer = ThreadSafeInMemoryChannelLayer()
    channel = await layer.new_channel()
    await layer.group_add("org-1", channel)
    receiving = asyncio.ensure_future(layer.receive(channel))
    await asyncio.sleep(0)  # the receiver now waits on this loop, in this thread
    threads_that_enqueued = []
    original_send = InMemoryChannelLayer.send

    async def recording_send(self, channel_name, message):
        threads_that_enqueued.append(threading.current_thread())
        return await original_send(self, channel_name, message)

    with mock.patch.object(InMemoryChannelLayer, "send", recording_send):
        # What a Celery worker thread does: its own event loop, via async_to_sync.
        sender = threading.Thread(target=lambda: async_to_sync(layer.group_send)("org-1", {"type": "event.forward", "n": 1}))
        sender.start()
        message = await asyncio.wait_for(receiving, timeout=10)
        await asyncio.to_thread(sender.join)

    assert message == {"type": "event.forward", "n": 1}
    assert threads_that_enqueued == [threading.current_thread()]


async def test_it_works_on_a_single_loop_like_the_plain_layer():
    layer = ThreadSafeInMemoryChannelLayer()
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "x"})
    assert await asyncio.wait_for(layer.receive(channel), timeout=1) == {"type": "x"}
