"""One channel-layer subscription per WebSocket process and group; the process's sockets get
each event from memory.

With every socket its own member of the group, channels_redis pushes one copy of an event per
socket through Redis and the receiving process decodes each copy (django/channels_redis#83):
200 screens cost 200 round trips of the same bytes, and during a crisis stream that queue is
what a spike alert waits behind. Here the process joins the group once, under a channel of
its own, receives one copy, encodes it once, and hands it to its sockets' outboxes.

Each socket drains its own outbox (``Listener``), so one slow phone never holds up the wall
screen; an outbox that overflows closes its socket (code 4408), whose page reconnects and
resyncs. Messages name their group (``crisiscenter.realtime.forward_message``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict

logger = logging.getLogger(__name__)

OUTBOX_SIZE = 1_000
SLOW_CONSUMER_CLOSE_CODE = 4408


class Listener:
    """What a consumer gives the relay: a bounded outbox drained by its own task."""

    def __init__(self, deliver, *, on_overflow):
        self._deliver = deliver  # coroutine function (event, text) -> None
        self._on_overflow = on_overflow
        self._outbox: asyncio.Queue = asyncio.Queue(maxsize=OUTBOX_SIZE)
        self._task: asyncio.Task | None = None
        self._overflowed = False

    def start(self) -> None:
        """Begin delivering (what arrived since joining waits in the outbox until then)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._drain())

    def offer(self, event: dict, text: str) -> None:
        try:
            self._outbox.put_nowait((event, text))
        except asyncio.QueueFull:
            if not self._overflowed:
                self._overflowed = True
                self._on_overflow()

    async def _drain(self) -> None:
        while True:
            event, text = await self._outbox.get()
            try:
                await self._deliver(event, text)
            except Exception:  # a socket gone mid-send: its disconnect cleans up
                logger.debug("Could not deliver %s", event.get("type"), exc_info=True)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


class Relay:
    """The process's relay on one event loop and channel layer."""

    def __init__(self, layer):
        self.layer = layer
        self.loop = asyncio.get_running_loop()
        self.channel: str | None = None
        self.members: dict[str, set[Listener]] = defaultdict(set)
        self.locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._task: asyncio.Task | None = None
        self._start = asyncio.Lock()

    async def _started(self) -> str:
        async with self._start:
            if self.channel is None:
                # The layer's default prefix: channels_redis reads one process-wide inbox per
                # prefix, and the consumers' own channels already keep that one read.
                self.channel = await self.layer.new_channel()
                self._task = asyncio.get_running_loop().create_task(self._run())
        return self.channel

    async def join(self, group: str, listener: Listener) -> None:
        channel = await self._started()
        async with self.locks[group]:
            self.members[group].add(listener)
            # Every join refreshes the membership, which channels_redis would otherwise expire.
            await self.layer.group_add(group, channel)

    async def leave(self, group: str, listener: Listener) -> None:
        async with self.locks[group]:
            members = self.members.get(group)
            if not members or listener not in members:
                return
            members.discard(listener)
            if not members:
                del self.members[group]
                await self.layer.group_discard(group, self.channel)
        if not self.members:
            await self._stop()

    async def _stop(self) -> None:
        """No socket left: stop reading (the next join starts again, under a new channel)."""
        async with self._start:
            if self.members or self._task is None:
                return
            self._task.cancel()
            self._task, self.channel = None, None

    async def _run(self) -> None:
        channel = self.channel
        while True:
            try:
                message = await self.layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                if asyncio.current_task().cancelling():
                    return  # stopping: the layer turned the cancellation into an error
                logger.exception("The fan-out relay could not receive; retrying")
                await asyncio.sleep(1)
                continue
            group, event = message.get("group"), message.get("event")
            listeners = self.members.get(group)
            if not listeners or not isinstance(event, dict):
                continue
            text = json.dumps(event)  # once for every socket of the process
            for listener in list(listeners):
                listener.offer(event, text)


_relays: dict[tuple[int, int], Relay] = {}


def relay_for(layer) -> Relay:
    """The relay of this event loop and layer (tests run several loops and layers in one
    process; an id can be reused once its object is gone, hence the identity check)."""
    loop = asyncio.get_running_loop()
    key = (id(loop), id(layer))
    relay = _relays.get(key)
    if relay is None or relay.layer is not layer or relay.loop is not loop:
        relay = _relays[key] = Relay(layer)
    return relay
