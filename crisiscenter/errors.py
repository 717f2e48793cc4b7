from __future__ import annotations


class ServiceError(Exception):
    """A request that the domain refuses; ``code`` is stable, ``message`` is for people."""

    status_code = 400

    def __init__(self, message: str, *, code: str = "invalid", field: str | None = None, details: dict | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field
        # Extra, JSON-safe facts for API clients (e.g. every problem in an imported file).
        self.details = details or {}


class NotAllowed(ServiceError):
    status_code = 403

    def __init__(self, message: str = "You do not have permission to do this.", *, code: str = "permission_denied"):
        super().__init__(message, code=code)


class Conflict(ServiceError):
    """The thing changed under the request (someone else got there first)."""

    status_code = 409
