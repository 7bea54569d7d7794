"""Path parameters that name a resource owner or a credential, checked before any work."""

from __future__ import annotations

import re

from auth.errors import InvalidArgument, PermissionDenied
from auth.models import User
from auth.principal import Principal
from auth.routes import Access, may_act_for
from handlers.api_context import services

# Every credential id we mint (token, session, refresh family) is a canonical UUIDv4.
_UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def credential_id_param(value: str, name: str) -> str:
    if _UUID4.fullmatch(value) is None:
        raise InvalidArgument(f"{name} must be a lowercase UUID")
    return value


def owner_for(username: str, caller: Principal, access: Access, denied: Exception | None = None) -> User:
    """The user a path names (400 for a malformed name, 404 for none), once the caller may
    act for them.

    `denied` replaces the 403 where even a refusal would tell the caller too much.
    """
    owner = services().user_admin.get(username)
    if not may_act_for(caller, owner.id, access):
        raise denied or PermissionDenied("permission denied")
    return owner
