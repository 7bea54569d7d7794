"""Who may call which route: the one table every layer reads (SPEC §3).

The authorizer enforces PUBLIC/ANY/ADMIN (403 for a non-admin on an admin route); handlers
enforce SELF and SELF_OR_ADMIN, since only they know whose resource a path names. A route
missing from the table is never public: the authorizer refuses it.
"""

from __future__ import annotations

from enum import StrEnum

from auth.principal import Principal


class Access(StrEnum):
    PUBLIC = "public"
    ANY = "any"
    SELF_OR_ADMIN = "self_or_admin"
    SELF = "self"
    ADMIN = "admin"


ROUTE_ACCESS: dict[str, Access] = {
    "POST /api/v1/auth/signin": Access.PUBLIC,
    "POST /api/v1/auth/refresh": Access.PUBLIC,
    "POST /api/v1/auth/signout": Access.ANY,
    "GET /api/v1/auth/me": Access.ANY,
    "POST /api/v1/auth/sessions": Access.PUBLIC,
    "GET /api/v1/auth/sessions/current": Access.ANY,
    "DELETE /api/v1/auth/sessions/current": Access.ANY,
    "GET /api/v1/users/{username}/sessions": Access.SELF_OR_ADMIN,
    "DELETE /api/v1/users/{username}/sessions/{id}": Access.SELF_OR_ADMIN,
    "POST /api/v1/users": Access.PUBLIC,
    "GET /api/v1/users/{username}": Access.PUBLIC,
    "GET /api/v1/users": Access.ADMIN,
    "PATCH /api/v1/users/{username}": Access.SELF_OR_ADMIN,
    "DELETE /api/v1/users/{username}": Access.SELF_OR_ADMIN,
    "GET /api/v1/users/{username}/personalAccessTokens": Access.SELF_OR_ADMIN,
    "POST /api/v1/users/{username}/personalAccessTokens": Access.SELF,
    "DELETE /api/v1/users/{username}/personalAccessTokens/{tokenId}": Access.SELF,
    "GET /api/v1/instance/settings": Access.PUBLIC,
    "PATCH /api/v1/instance/settings": Access.ADMIN,
    "GET /api/v1/openapi.json": Access.PUBLIC,
}


def route_access(route_key: str) -> Access | None:
    return ROUTE_ACCESS.get(route_key)


def may_enter(route_key: str, principal: Principal) -> bool:
    """The authorizer's question: may this verified caller reach this route at all?"""
    access = route_access(route_key)
    if access is None:
        return False
    if access is Access.ADMIN:
        return principal.is_admin
    return True


def may_act_for(principal: Principal, owner_id: int, access: Access) -> bool:
    """A handler's question: may the caller touch a resource owned by `owner_id`?"""
    if access is Access.SELF:
        return principal.user_id == owner_id
    if access is Access.SELF_OR_ADMIN:
        return principal.user_id == owner_id or principal.is_admin
    if access is Access.ADMIN:
        return principal.is_admin
    return True
