from django.urls import path

from crisiscenter.consumers import OrganizationConsumer
from playbooks.consumers import IncidentConsumer

websocket_urlpatterns = [
    path("ws/orgs/<slug:slug>/", OrganizationConsumer.as_asgi()),
    path("ws/orgs/<slug:slug>/incidents/<int:incident_id>/", IncidentConsumer.as_asgi()),
]
