from __future__ import annotations

import asyncio

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.utils import timezone

from crisiscenter import fanout, presence, selectors
from crisiscenter.realtime import PROTOCOL_VERSION, forward_message, organization_group, presence_group


class RelayedConsumer(AsyncJsonWebsocketConsumer):
    """A socket that gets its groups' events through the process's relay (crisiscenter.fanout):
    ``relay_join`` instead of ``group_add``; ``forward(event, text)`` says what to do with each."""

    listener: fanout.Listener | None = None
    relayed_groups: tuple[str, ...] = ()

    async def relay_join(self, group: str) -> None:
        if self.listener is None:
            self.listener = fanout.Listener(self.forward, on_overflow=self._too_slow)
        await fanout.relay_for(self.channel_layer).join(group, self.listener)
        self.relayed_groups += (group,)

    async def relay_leave_all(self) -> None:
        relay = fanout.relay_for(self.channel_layer)
        for group in self.relayed_groups:
            await relay.leave(group, self.listener)
        self.relayed_groups = ()
        if self.listener is not None:
            self.listener.stop()

    def start_delivery(self) -> None:
        """Call once the socket is accepted and has said it is ready: events from joining on
        wait until then, so ``connection.ready`` is always the first message."""
        if self.listener is not None:
            self.listener.start()

    def _too_slow(self) -> None:
        # The page reconnects and re-reads the current state; nothing is lost for good.
        asyncio.get_running_loop().create_task(self.close(code=fanout.SLOW_CONSUMER_CLOSE_CODE))

    async def forward(self, event: dict, text: str) -> None:
        await self.send(text_data=text)


class OrganizationConsumer(RelayedConsumer):
    """Forwards an organisation's events to one of its members' browsers.

    Refuses the handshake (HTTP 403) for anonymous users and non-members, and closes the
    socket as soon as the member is removed from the organisation. Never writes to the DB;
    the war-room screens in the room are kept in ``crisiscenter.presence``.
    """

    group_name: str | None = None
    organization_id: int | None = None
    in_room = False  # a war-room screen, counted in the room's presence (it asked to be)

    async def connect(self):
        user = self.scope.get("user")
        slug = self.scope["url_route"]["kwargs"]["slug"]
        if user is None or not user.is_authenticated:
            await self.close()
            return
        membership = await database_sync_to_async(selectors.membership_for)(user=user, organization_slug=slug)
        if membership is None:
            await self.close()
            return
        self.user_id = user.pk
        self.user_name = str(user)
        self.slug = slug
        self.organization_id = membership.organization_id
        self.group_name = organization_group(membership.organization_id)
        await self.relay_join(self.group_name)
        await self.accept()
        await self.send_json(
            {
                "type": "connection.ready",
                "version": PROTOCOL_VERSION,
                "organization": slug,
                "data": {"role": membership.role, "user_id": user.pk},
            }
        )
        self.start_delivery()

    async def disconnect(self, code):
        await self.relay_leave_all()
        if self.in_room:
            await presence.aleave(self.organization_id, self.channel_name)
            presence.announce_soon(self.organization_id, self._announce_presence)

    async def receive_json(self, content, **kwargs):
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "ping":
            if self.in_room:  # the heartbeat that keeps this screen in the room
                await presence.ajoin(self.organization_id, self.channel_name, user_id=self.user_id, name=self.user_name)
            await self.send_json({"type": "pong", "version": PROTOCOL_VERSION})
        elif kind == "presence.join" and not self.in_room:
            # A war-room screen: counted in "who is here", and told when that changes.
            self.in_room = True
            await self.relay_join(presence_group(self.organization_id))
            await presence.ajoin(self.organization_id, self.channel_name, user_id=self.user_id, name=self.user_name)
            await self.send_json(self._presence_event(await presence.amembers(self.organization_id)))
            presence.announce_soon(self.organization_id, self._announce_presence)

    def _presence_event(self, members: list[dict]) -> dict:
        return {
            "type": "presence.changed", "version": PROTOCOL_VERSION, "organization": self.slug,
            "at": timezone.now().isoformat(), "data": {"members": members},
        }

    async def _announce_presence(self, members: list[dict]) -> None:
        group = presence_group(self.organization_id)
        await self.channel_layer.group_send(group, forward_message(group, self._presence_event(members)))

    async def forward(self, event: dict, text: str) -> None:
        await self.send(text_data=text)
        if event.get("type") == "member.removed" and event.get("data", {}).get("user_id") == self.user_id:
            await self.close(code=4403)
