"""Every route of the API, declared once: method, path and who may call it (SPEC §3).

The authorizer enforces PUBLIC/ANY/ADMIN (403 for a non-admin on an admin route); handlers
register each route from its declaration here (handlers.routing) and enforce SELF and
SELF_OR_ADMIN, since only they know whose resource a path names. A route missing from the
table is never public: the authorizer refuses it. template.yaml must route exactly these
(tests/unit/test_template.py holds the two together).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from auth.principal import Principal


class Access(StrEnum):
    PUBLIC = "public"
    ANY = "any"
    SELF_OR_ADMIN = "self_or_admin"
    SELF = "self"
    ADMIN = "admin"


@dataclass(frozen=True)
class Route:
    method: str
    # API Gateway's path syntax: `{username}` names a path parameter.
    path: str
    access: Access

    @property
    def key(self) -> str:
        """API Gateway's route key, as the authorizer's event names the route."""
        return f"{self.method} {self.path}"


SIGN_IN = Route("POST", "/api/v1/auth/signin", Access.PUBLIC)
REFRESH = Route("POST", "/api/v1/auth/refresh", Access.PUBLIC)
SIGN_OUT = Route("POST", "/api/v1/auth/signout", Access.ANY)
ME = Route("GET", "/api/v1/auth/me", Access.ANY)
CREATE_SESSION = Route("POST", "/api/v1/auth/sessions", Access.PUBLIC)
CURRENT_SESSION = Route("GET", "/api/v1/auth/sessions/current", Access.ANY)
END_CURRENT_SESSION = Route("DELETE", "/api/v1/auth/sessions/current", Access.ANY)
LIST_LOGINS = Route("GET", "/api/v1/users/{username}/sessions", Access.SELF_OR_ADMIN)
REVOKE_LOGIN = Route("DELETE", "/api/v1/users/{username}/sessions/{id}", Access.SELF_OR_ADMIN)
SIGN_UP = Route("POST", "/api/v1/users", Access.PUBLIC)
GET_USER = Route("GET", "/api/v1/users/{username}", Access.PUBLIC)
LIST_USERS = Route("GET", "/api/v1/users", Access.ADMIN)
UPDATE_USER = Route("PATCH", "/api/v1/users/{username}", Access.SELF_OR_ADMIN)
DELETE_USER = Route("DELETE", "/api/v1/users/{username}", Access.SELF_OR_ADMIN)
LIST_PATS = Route("GET", "/api/v1/users/{username}/personalAccessTokens", Access.SELF_OR_ADMIN)
CREATE_PAT = Route("POST", "/api/v1/users/{username}/personalAccessTokens", Access.SELF)
DELETE_PAT = Route("DELETE", "/api/v1/users/{username}/personalAccessTokens/{tokenId}", Access.SELF)
# SPEC §7: second factors. Enrolment is the user's own; an admin may read and remove.
ENROL_TOTP = Route("POST", "/api/v1/users/{username}/totp", Access.SELF)
CONFIRM_TOTP = Route("POST", "/api/v1/users/{username}/totp/confirm", Access.SELF)
GET_TOTP = Route("GET", "/api/v1/users/{username}/totp", Access.SELF_OR_ADMIN)
REMOVE_TOTP = Route("DELETE", "/api/v1/users/{username}/totp", Access.SELF_OR_ADMIN)
REGENERATE_RECOVERY_CODES = Route("POST", "/api/v1/users/{username}/recoveryCodes", Access.SELF)
# SPEC §8: identity providers (public to read, the admin's to change) and linked identities.
LIST_IDENTITY_PROVIDERS = Route("GET", "/api/v1/identity-providers", Access.PUBLIC)
GET_IDENTITY_PROVIDER = Route("GET", "/api/v1/identity-providers/{id}", Access.PUBLIC)
CREATE_IDENTITY_PROVIDER = Route("POST", "/api/v1/identity-providers", Access.ADMIN)
UPDATE_IDENTITY_PROVIDER = Route("PATCH", "/api/v1/identity-providers/{id}", Access.ADMIN)
DELETE_IDENTITY_PROVIDER = Route("DELETE", "/api/v1/identity-providers/{id}", Access.ADMIN)
LIST_LINKED_IDENTITIES = Route("GET", "/api/v1/users/{username}/linkedIdentities", Access.SELF_OR_ADMIN)
LINK_IDENTITY = Route("POST", "/api/v1/users/{username}/linkedIdentities", Access.SELF)
UNLINK_IDENTITY = Route("DELETE", "/api/v1/users/{username}/linkedIdentities/{id}", Access.SELF_OR_ADMIN)
PASSKEY_REGISTRATION = Route("POST", "/api/v1/users/{username}/passkeys/registration", Access.SELF)
REGISTER_PASSKEY = Route("POST", "/api/v1/users/{username}/passkeys", Access.SELF)
LIST_PASSKEYS = Route("GET", "/api/v1/users/{username}/passkeys", Access.SELF_OR_ADMIN)
REMOVE_PASSKEY = Route("DELETE", "/api/v1/users/{username}/passkeys/{id}", Access.SELF_OR_ADMIN)
# A passkey sign-in's options: before any sign-in, so public.
PASSKEY_OPTIONS = Route("POST", "/api/v1/auth/passkeys/options", Access.PUBLIC)
GET_SETTINGS = Route("GET", "/api/v1/instance/settings", Access.PUBLIC)
UPDATE_SETTINGS = Route("PATCH", "/api/v1/instance/settings", Access.ADMIN)
OPENAPI = Route("GET", "/api/v1/openapi.json", Access.PUBLIC)
# SPEC §10: the account pages and their files, served by their own function
# (handlers.account_pages), not the API's; they sign in through the API like anyone.
ACCOUNT_PAGE = Route("GET", "/account", Access.PUBLIC)
ACCOUNT_FILES = Route("GET", "/account/{proxy+}", Access.PUBLIC)

ROUTES: tuple[Route, ...] = (
    SIGN_IN,
    REFRESH,
    SIGN_OUT,
    ME,
    CREATE_SESSION,
    CURRENT_SESSION,
    END_CURRENT_SESSION,
    LIST_LOGINS,
    REVOKE_LOGIN,
    SIGN_UP,
    GET_USER,
    LIST_USERS,
    UPDATE_USER,
    DELETE_USER,
    LIST_PATS,
    CREATE_PAT,
    DELETE_PAT,
    ENROL_TOTP,
    CONFIRM_TOTP,
    GET_TOTP,
    REMOVE_TOTP,
    REGENERATE_RECOVERY_CODES,
    LIST_IDENTITY_PROVIDERS,
    GET_IDENTITY_PROVIDER,
    CREATE_IDENTITY_PROVIDER,
    UPDATE_IDENTITY_PROVIDER,
    DELETE_IDENTITY_PROVIDER,
    LIST_LINKED_IDENTITIES,
    LINK_IDENTITY,
    UNLINK_IDENTITY,
    PASSKEY_REGISTRATION,
    REGISTER_PASSKEY,
    LIST_PASSKEYS,
    REMOVE_PASSKEY,
    PASSKEY_OPTIONS,
    GET_SETTINGS,
    UPDATE_SETTINGS,
    OPENAPI,
)
# Not the API's (ROUTES is what the API function serves and documents).
PAGE_ROUTES: tuple[Route, ...] = (ACCOUNT_PAGE, ACCOUNT_FILES)
ROUTE_ACCESS: dict[str, Access] = {route.key: route.access for route in (*ROUTES, *PAGE_ROUTES)}


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
        return principal.is_admin or principal.user_id == owner_id
    if access is Access.ADMIN:
        return principal.is_admin
    return True
