"""The two cookies of SPEC §1 and the rules for their attributes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from aws_lambda_powertools.shared.cookies import Cookie, SameSite

from auth.errors import Unauthenticated

REFRESH_COOKIE = "memos_refresh"
SESSION_COOKIE = "user_session"
# Browsers drop a cookie whose expiry has passed; the epoch is the conventional past.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def cookie_value(cookies: Iterable[str] | None, name: str) -> str | None:
    """The value of cookie `name`, None when absent.

    A cookie sent twice is refused outright: which copy a server reads differs between
    servers, and that ambiguity is what cookie-tossing attacks exploit.
    """
    found: str | None = None
    prefix = name + "="
    for raw in cookies or ():
        for part in raw.split(";"):
            part = part.strip()
            if part.startswith(prefix):
                if found is not None:
                    raise Unauthenticated(f"cookie {name} sent more than once")
                found = part[len(prefix) :]
    return found


def request_is_https(headers: Mapping[str, str]) -> bool:
    if headers.get("x-forwarded-proto", "").split(",")[0].strip().lower() == "https":
        return True
    forwarded = headers.get("forwarded", "").lower().replace(" ", "")
    if "proto=https" in forwarded:
        return True
    return headers.get("origin", "").lower().startswith("https://")


def _secure(headers: Mapping[str, str], is_local_stage: bool) -> bool:
    return request_is_https(headers) or not is_local_stage


def set_cookie(
    name: str, value: str, expires_at: int, headers: Mapping[str, str], is_local_stage: bool
) -> Cookie:
    return Cookie(
        name=name,
        value=value,
        path="/",
        http_only=True,
        secure=_secure(headers, is_local_stage),
        same_site=SameSite.LAX_MODE,
        expires=datetime.fromtimestamp(expires_at, UTC),
    )


def clear_cookie(name: str, headers: Mapping[str, str], is_local_stage: bool) -> Cookie:
    return Cookie(
        name=name,
        value="",
        path="/",
        http_only=True,
        secure=_secure(headers, is_local_stage),
        same_site=SameSite.LAX_MODE,
        expires=_EPOCH,
    )
