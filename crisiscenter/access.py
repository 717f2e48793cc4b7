"""Page access: resolve the organisation in the URL to the visitor's membership, or refuse."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404

from crisiscenter import selectors
from crisiscenter.models import Role

LAST_ORGANIZATION_SESSION_KEY = "last_organization_slug"


def organization_view(minimum_role: Role):
    """Decorate a view taking ``slug``: non-members get 404, members below ``minimum_role`` 403.

    Sets ``request.organization`` and ``request.membership`` and remembers the organisation as
    the one to return to after the next login.
    """

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapper(request, slug: str, *args, **kwargs):
            membership = selectors.membership_for(user=request.user, organization_slug=slug)
            if membership is None:
                raise Http404("No such organisation.")
            if not membership.has_role(minimum_role):
                raise PermissionDenied(f"This page needs the {Role(minimum_role).label.lower()} role or higher.")
            request.membership = membership
            request.organization = membership.organization
            if request.session.get(LAST_ORGANIZATION_SESSION_KEY) != slug:
                request.session[LAST_ORGANIZATION_SESSION_KEY] = slug
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
