"""One error tree for the whole domain.

Each class knows its gRPC code (SPEC §3, the `google.rpc.Status` codes Memos answers with)
and the HTTP status that code travels with, so the handlers translate an error without a
table of their own. Messages are safe to show to a client: they never hold a secret.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum
from typing import Any, ClassVar

# Memos' answer for an unknown user and for a wrong password alike, so neither leaks.
UNMATCHED_CREDENTIALS = "unmatched username and password"


class Code(IntEnum):
    """The gRPC status codes this API answers with (google.rpc.Code), each with the HTTP
    status it travels with and the message an error of that code gets when it names none."""

    http_status: int
    default_message: str

    def __new__(cls, value: int, http_status: int, default_message: str) -> Code:
        member = int.__new__(cls, value)
        member._value_ = value
        member.http_status = http_status
        member.default_message = default_message
        return member

    INVALID_ARGUMENT = (3, 400, "invalid argument")
    NOT_FOUND = (5, 404, "not found")
    ALREADY_EXISTS = (6, 409, "already exists")
    PERMISSION_DENIED = (7, 403, "permission denied")
    RESOURCE_EXHAUSTED = (8, 429, "too many requests")
    FAILED_PRECONDITION = (9, 400, "failed precondition")
    INTERNAL = (13, 500, "internal error")
    UNAVAILABLE = (14, 503, "service unavailable, try again")
    UNAUTHENTICATED = (16, 401, "unauthenticated")


class AuthError(Exception):
    """Base of every error the domain raises on purpose; a subclass names its `code`.

    `details` are the `google.rpc.Status` details the answer carries: google.rpc.Any
    objects, each with its "@type" (an `ErrorInfo`, say); none unless a rule adds one.
    """

    code: ClassVar[Code] = Code.INTERNAL
    # A subclass may say more than its code's default message.
    default_message: ClassVar[str | None] = None

    def __init__(self, message: str | None = None, *, details: Sequence[dict[str, Any]] = ()) -> None:
        self.message = message or self.default_message or self.code.default_message
        self.details: list[dict[str, Any]] = list(details)
        super().__init__(self.message)

    @property
    def http_status(self) -> int:
        return self.code.http_status


class InvalidArgument(AuthError):
    """The request itself is wrong: a field missing, malformed or out of range; a wrong code,
    or a wrong username and password (as Memos answers them)."""

    code = Code.INVALID_ARGUMENT


class SignInOutdated(InvalidArgument):
    """A sign-in verified a user whose `tokens_not_before` has moved since (a new password, a
    factor an admin removed) or who is gone: its session or refresh family is not stored
    (auth.stores.user_store), and it is answered as a wrong password is, which is what the
    password it presented now is."""

    default_message = UNMATCHED_CREDENTIALS
    # The audit line's reason, for the session or refresh family that was not made.
    audit_reason: ClassVar[str] = "refused: the user's credentials changed during the sign-in"


class FailedPrecondition(AuthError):
    """Well formed, but the resource is not in a state that allows it (TOTP already on,
    a second factor still to pass)."""

    code = Code.FAILED_PRECONDITION


class Unauthenticated(AuthError):
    """No credential, or one that does not hold (expired, revoked, forged), or a sign-in too
    old for the change asked."""

    code = Code.UNAUTHENTICATED


class PermissionDenied(AuthError):
    """The caller is known but may not do this (another user's resource, an admin route,
    registration closed)."""

    code = Code.PERMISSION_DENIED


class NotFound(AuthError):
    """The named user, token, session or factor does not exist (or is not the caller's to see)."""

    code = Code.NOT_FOUND


class AlreadyExists(AuthError):
    """A unique name is taken: a username, a PAT or provider id."""

    code = Code.ALREADY_EXISTS


class ResourceExhausted(AuthError):
    """Too many tries (the sign-in throttle); `retry_after` says when to come back."""

    code = Code.RESOURCE_EXHAUSTED

    def __init__(self, message: str | None = None, retry_after: int = 60) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Internal(AuthError):
    """A fault of ours; its message never reaches a client (handlers say only 'internal error')."""

    code = Code.INTERNAL


class Unavailable(AuthError):
    """A dependency (DynamoDB, Secrets Manager) failed, throttled or hung: retry later."""

    code = Code.UNAVAILABLE


class OutcomeUnknown(Unavailable):
    """A call whose answer was lost (it timed out, or the connection dropped, once sent; or a
    write's condition failed only on the client's retry of it, perhaps because the first
    attempt was applied): a write may have been stored or not. The client is answered as for
    any Unavailable, and for a read it is no more than that; a service audits the change a
    write may have made (auth.audit.audited_if_lost)."""
