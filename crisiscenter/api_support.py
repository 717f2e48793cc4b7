"""Shared API plumbing: one error body for every failure, pagination, organisation access."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from crisiscenter import selectors
from crisiscenter.errors import ServiceError
from crisiscenter.models import Role


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200


def _error(status_code: int, code: str, message: str, fields: dict | None = None, details: dict | None = None) -> Response:
    body = {"error": {"status": status_code, "code": code, "message": message, **(details or {})}}
    if fields:
        body["error"]["fields"] = fields
    return Response(body, status=status_code)


def exception_handler(exc, context):
    """Every API error has the shape ``{"error": {"status", "code", "message", "fields"?}}``."""
    if isinstance(exc, ServiceError):
        fields = {exc.field: [exc.message]} if exc.field else None
        return _error(exc.status_code, exc.code, exc.message, fields, exc.details)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real bug: let Django log it and answer 500
    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return _error(response.status_code, "invalid", "Some fields are not valid.", fields)
    detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
    code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
    error = _error(response.status_code, code if isinstance(code, str) else "error", str(detail))
    for header in ("WWW-Authenticate", "Retry-After"):
        if header in response:
            error[header] = response[header]
    return error


class OrganizationRole(BasePermission):
    """Resolves ``slug`` to the caller's membership; anonymous callers get 401, non-members
    404, low roles 403.

    Views declare ``required_roles = {"GET": Role.VIEWER, "POST": Role.ADMIN, ...}``; a method
    the view implements but the map forgets is refused, one it does not implement gets 405.
    """

    def has_permission(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            # Refusing (rather than 404) lets DRF answer 401 with WWW-Authenticate, as elsewhere.
            return False
        membership = selectors.membership_for(user=request.user, organization_slug=view.kwargs["slug"])
        if membership is None:
            raise exceptions.NotFound("No such organisation.")
        request.membership = membership
        request.organization = membership.organization
        roles = getattr(view, "required_roles", {})
        if request.method == "HEAD":
            required = roles.get("GET")
        elif request.method == "OPTIONS":
            # Describing an endpoint is for whoever may call at least one of its methods
            # (an endpoint without GET, such as revoke, would otherwise refuse even owners).
            required = min(roles.values(), key=lambda role: Role(role).rank, default=None)
        else:
            required = roles.get(request.method)
        if required is None:
            # Not implemented at all: let DRF answer 405. Implemented but unmapped: refuse.
            return not hasattr(view, request.method.lower())
        if not membership.has_role(required):
            raise exceptions.PermissionDenied(f"This needs the {Role(required).label.lower()} role or higher.")
        return True



def api_not_found(request, exception=None):
    """404 for unknown URLs: the shared JSON error under /api/, the HTML page elsewhere."""
    from django.http import JsonResponse
    from django.views.defaults import page_not_found

    if request.path.startswith("/api/"):
        return JsonResponse({"error": {"status": 404, "code": "not_found", "message": "No such API endpoint."}}, status=404)
    return page_not_found(request, exception)


def api_server_error(request):
    """500: the shared JSON error under /api/ (details are in the server log), HTML elsewhere."""
    from django.http import JsonResponse
    from django.views.defaults import server_error

    if request.path.startswith("/api/"):
        return JsonResponse(
            {"error": {"status": 500, "code": "server_error", "message": "Something went wrong on our side; it was logged."}},
            status=500,
        )
    return server_error(request)
