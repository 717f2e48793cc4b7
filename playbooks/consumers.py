from __future__ import annotations

from channels.db import database_sync_to_async

from crisiscenter import selectors
from crisiscenter.consumers import RelayedConsumer
from crisiscenter.realtime import PROTOCOL_VERSION, user_group
from playbooks.incident_services import incident_group
from playbooks.models import Incident


def _incident_for_member(user, slug: str, incident_id: int):
    membership = selectors.membership_for(user=user, organization_slug=slug)
    if membership is None:
        return None, None
    incident = Incident.objects.for_organization(membership.organization).filter(pk=incident_id).first()
    return membership, incident


class IncidentConsumer(RelayedConsumer):
    """Forwards one incident's events to the members in its room; refuses everyone else."""

    group_name: str | None = None

    async def connect(self):
        user = self.scope.get("user")
        kwargs = self.scope["url_route"]["kwargs"]
        if user is None or not user.is_authenticated:
            await self.close()
            return
        membership, incident = await database_sync_to_async(_incident_for_member)(user, kwargs["slug"], kwargs["incident_id"])
        if membership is None or incident is None:
            await self.close()
            return
        self.user_id = user.pk
        self.slug = kwargs["slug"]
        self.group_name = incident_group(incident.pk)
        await self.relay_join(self.group_name)
        await self.relay_join(user_group(user.pk))
        await self.accept()
        await self.send_json({"type": "connection.ready", "version": PROTOCOL_VERSION, "organization": kwargs["slug"], "data": {"incident_id": incident.pk, "role": membership.role}})
        self.start_delivery()

    async def disconnect(self, code):
        await self.relay_leave_all()

    async def receive_json(self, content, **kwargs):
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong", "version": PROTOCOL_VERSION})

    async def forward(self, event: dict, text: str) -> None:
        if event.get("type") == "member.removed":
            # Arrives through the user's own group: close if it is about this organisation.
            if event.get("organization") == self.slug and event.get("data", {}).get("user_id") == self.user_id:
                await self.close(code=4403)
            return
        await self.send(text_data=text)
