from django.conf import settings

from crisiscenter import selectors


def shell(request):
    """What the base layout needs: the visitor's organisations for the switcher, and the mode."""
    context = {
        "embedded_mode": settings.EMBEDDED,
        "websocket_url": settings.WEBSOCKET_URL,
        # Set by crisiscenter.access.organization_view on organisation pages.
        "organization": getattr(request, "organization", None),
    }
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        context["my_memberships"] = list(selectors.memberships_of(user=user))
        if context["organization"] is not None:
            from playbooks.incident_selectors import notifications_for

            context["unread_notifications"] = notifications_for(organization=context["organization"], user=user, unread_only=True).count()
    return context
