"""One error tree for the whole domain.

Each class knows its SPEC §3 gRPC code; the HTTP status for each code is chosen in one
place, `handlers.http`. Messages are safe to show to a client: they never hold a secret.
"""

from __future__ import annotations


class AuthError(Exception):
    """Base of every error the domain raises on purpose."""

    code: int = 13
    default_message: str = "internal error"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class InvalidArgument(AuthError):
    code = 3
    default_message = "invalid argument"


class Unauthenticated(AuthError):
    code = 16
    default_message = "unauthenticated"


class PermissionDenied(AuthError):
    code = 7
    default_message = "permission denied"


class NotFound(AuthError):
    code = 5
    default_message = "not found"


class AlreadyExists(AuthError):
    code = 6
    default_message = "already exists"


class ResourceExhausted(AuthError):
    code = 8
    default_message = "too many requests"

    def __init__(self, message: str | None = None, retry_after: int = 60) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Internal(AuthError):
    code = 13
    default_message = "internal error"


class Unavailable(AuthError):
    """A dependency (DynamoDB, Secrets Manager) failed or throttled: retry later."""

    code = 14
    default_message = "service unavailable, try again"
