from __future__ import annotations

from django.http import HttpRequest

from crisiscenter.audit import audit_context


def client_ip(request: HttpRequest) -> str | None:
    """The client address, trusting X-Forwarded-For only as far as TRUSTED_PROXY_COUNT allows."""
    from django.conf import settings

    proxies = settings.AXES_IPWARE_PROXY_COUNT
    if proxies:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR") or None


class RequestContextMiddleware:
    """Sets the audit context (source, address, user agent) for the length of a request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        source = "api" if request.path.startswith("/api/") else "web"
        with audit_context(
            source=source,
            ip_address=client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
        ):
            return self.get_response(request)
