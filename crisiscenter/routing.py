from django.urls import path

from crisiscenter.consumers import OrganizationConsumer

websocket_urlpatterns = [
    path("ws/orgs/<slug:slug>/", OrganizationConsumer.as_asgi()),
]
