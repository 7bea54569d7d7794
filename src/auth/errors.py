"""One error tree for the whole domain.

Each class knows its gRPC code (SPEC §3, the `google.rpc.Status` codes Memos answers with)
and the HTTP status that code travels with, so the handlers translate an error without a
table of their own. Messages are safe to show to a client: they never hold a secret.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum
from typing import Any


class Code(IntEnum):
    """The gRPC status codes this API answers with (google.rpc.Code)."""

    INVALID_ARGUMENT = 3
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    INTERNAL = 13
    UNAVAILABLE = 14
    UNAUTHENTICATED = 16


class AuthError(Exception):
    """Base of every error the domain raises on purpose.

    `details` are the `google.rpc.Status` details the answer carries: google.rpc.Any
    objects, each with its "@type" (an `ErrorInfo`, say); none unless a rule adds one.
    """

    code: Code = Code.INTERNAL
    http_status: int = 500
    default_message: str = "internal error"

    def __init__(self, message: str | None = None, *, details: Sequence[dict[str, Any]] = ()) -> None:
        self.message = message or self.default_message
        self.details: list[dict[str, Any]] = list(details)
        super().__init__(self.message)


class InvalidArgument(AuthError):
    code = Code.INVALID_ARGUMENT
    http_status = 400
    default_message = "invalid argument"


class FailedPrecondition(AuthError):
    """The request is well formed but the resource is not in a state that allows it."""

    code = Code.FAILED_PRECONDITION
    http_status = 400
    default_message = "failed precondition"


class Unauthenticated(AuthError):
    code = Code.UNAUTHENTICATED
    http_status = 401
    default_message = "unauthenticated"


class PermissionDenied(AuthError):
    code = Code.PERMISSION_DENIED
    http_status = 403
    default_message = "permission denied"


class NotFound(AuthError):
    code = Code.NOT_FOUND
    http_status = 404
    default_message = "not found"


class AlreadyExists(AuthError):
    code = Code.ALREADY_EXISTS
    http_status = 409
    default_message = "already exists"


class ResourceExhausted(AuthError):
    code = Code.RESOURCE_EXHAUSTED
    http_status = 429
    default_message = "too many requests"

    def __init__(self, message: str | None = None, retry_after: int = 60) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Internal(AuthError):
    """A fault of ours; its message never reaches a client (handlers say only 'internal error')."""

    code = Code.INTERNAL
    http_status = 500
    default_message = "internal error"


class Unavailable(AuthError):
    """A dependency (DynamoDB, Secrets Manager) failed, throttled or hung: retry later."""

    code = Code.UNAVAILABLE
    http_status = 503
    default_message = "service unavailable, try again"
