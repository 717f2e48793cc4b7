"""The public crisis hub (included under /hub/): pages, Atom feeds, Statuspage-compatible
JSON, the embeddable banner, and e-mail subscriptions."""

from django.urls import path

from responses import hub_views

urlpatterns = [
    path("<slug:organization_slug>/", hub_views.organization_page, name="hub-organization"),
    path("<slug:organization_slug>/feed.atom", hub_views.organization_feed, name="hub-organization-feed"),
    path("<slug:organization_slug>/api/v2/summary.json", hub_views.statuspage_summary, name="hub-statuspage-summary"),
    path("<slug:organization_slug>/api/v2/incidents.json", hub_views.statuspage_incidents, name="hub-statuspage-incidents"),
    path("<slug:organization_slug>/banner.js", hub_views.banner_js, name="hub-banner-js"),
    path("<slug:organization_slug>/banner.json", hub_views.banner_json, name="hub-banner-json"),
    path("<slug:organization_slug>/subscribe/", hub_views.subscribe, name="hub-subscribe"),
    path("<slug:organization_slug>/subscriptions/confirm/<str:token>/", hub_views.subscription_confirm, name="hub-subscription-confirm"),
    path("<slug:organization_slug>/subscriptions/unsubscribe/<str:token>/", hub_views.subscription_unsubscribe, name="hub-unsubscribe"),
    path("<slug:organization_slug>/<slug:incident_slug>/", hub_views.incident_page, name="hub-incident"),
    path("<slug:organization_slug>/<slug:incident_slug>/feed.atom", hub_views.incident_feed, name="hub-incident-feed"),
]
