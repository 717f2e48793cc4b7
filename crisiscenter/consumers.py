from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from crisiscenter import selectors
from crisiscenter.realtime import PROTOCOL_VERSION, organization_group


class OrganizationConsumer(AsyncJsonWebsocketConsumer):
    """Forwards an organisation's events to one of its members' browsers.

    Refuses the handshake (HTTP 403) for anonymous users and non-members, and closes the
    socket as soon as the member is removed from the organisation. Never writes to the DB.
    """

    group_name: str | None = None

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
        self.group_name = organization_group(membership.organization_id)
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        await self.accept()
        await self.send_json(
            {
                "type": "connection.ready",
                "version": PROTOCOL_VERSION,
                "organization": slug,
                "data": {"role": membership.role, "user_id": user.pk},
            }
        )

    async def disconnect(self, code):
        if self.group_name:
            await self.channel_layer.group_discard(self.group_name, self.channel_name)

    async def receive_json(self, content, **kwargs):
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong", "version": PROTOCOL_VERSION})

    async def event_forward(self, message):
        event = message["event"]
        await self.send_json(event)
        if event.get("type") == "member.removed" and event.get("data", {}).get("user_id") == self.user_id:
            await self.close(code=4403)
