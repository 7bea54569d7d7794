"""`PYTHONPATH=src python -m devstack.sample_events`: write `events/` (one event per handler and case).

Events are built by the same code the local stack uses for real requests, so they have
the exact payload-2.0 shapes API Gateway sends. Tokens are signed with Memos' demo key
(`usememos`, kid v1) and the "valid" ones expire in 2100: they verify only when the
function runs with MEMOS_DEMO=true, never on a real deployment (demo mode is refused on
prod). `events/seed.json` holds the users and sign-in these events name; `make invoke`
loads it and sets MEMOS_DEMO=true.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt

from auth.keys import DEMO_KEY
from auth.models import Role, SignIn, State, User
from auth.pats import PAT_PREFIX, checksum, hash_pat
from auth.principal import AuthMethod, Principal
from auth.stores.pat_store import PatRecord, pat_to_item
from auth.stores.user_store import TOKEN_COUNT, user_to_item
from auth.tokens import SigningKey, mint_access_token, mint_refresh_token
from devstack.events import Request, authorizer_event, integration_event
from devstack.template import REPO_ROOT

EVENTS_DIR = REPO_ROOT / "events"
STAGE = "local"
# Sample tokens are issued in the past; the valid ones expire on 2100-01-01.
ISSUED_AT = 1_700_000_000
VALID_FOR = 4_102_444_800 - ISSUED_AT
SOURCE_IP = "203.0.113.7"
DEMO_PASSWORD = "demo-password"
FAMILY_ID = "00000000-0000-4000-8000-00000000f001"
TOKEN_ID = "00000000-0000-4000-8000-00000000a001"
# A fixed, never-expiring PAT of the demo admin (seeded by its hash, like any PAT).
PAT_RANDOM_PART = "SampleDemoPersonalToken001"
PAT = PAT_PREFIX + PAT_RANDOM_PART + checksum(PAT_RANDOM_PART)
PAT_ID = "00000000-0000-4000-8000-00000000b001"
SESSION_ID = "00000000-0000-4000-8000-00000000c001"
UNKNOWN_LOGIN_ID = "00000000-0000-4000-8000-00000000e404"

ADMIN = User(
    1, "demo", Role.ADMIN, State.NORMAL, "", "Demo Admin", "demo@example.com", 1_700_000_000, 1_700_000_000
)
MEMBER = User(
    2, "demo-user", Role.USER, State.NORMAL, "", "Demo User", "user@example.com", 1_700_000_000, 1_700_000_000
)
OTHER_KEY = SigningKey("v1", b"not-the-demo-key-not-the-demo-key!")


@dataclass(frozen=True)
class Sample:
    """One event file and what the function answers to it (checked by tests/unit)."""

    name: str
    function: str
    event: dict[str, Any]
    expect_status: int | None = None  # API answers
    expect_authorized: bool | None = None  # authorizer answers; None with neither = raises
    # Key rotation: what the step raises (None: it returns), once Secrets Manager has labelled
    # the event's version AWSPENDING, as it does before it calls the function.
    expect_error: str | None = None
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _request(method: str, path: str, headers: list[tuple[str, str]], body: Any = None) -> Request:
    raw = (
        json.dumps(body).encode() if body is not None and not isinstance(body, str) else (body or "").encode()
    )
    if body is not None:
        headers = [("content-type", "application/json"), *headers]
    return Request(
        method=method,
        raw_path=path,
        raw_query="",
        headers=[("host", "127.0.0.1:3000"), ("user-agent", "curl/8.5.0"), *headers],
        body=raw,
        source_ip=SOURCE_IP,
        protocol="HTTP/1.1",
        request_id="sample-request-id=",
        epoch_ms=1_800_000_000_000,
    )


def _authorizer(route: str, headers: list[tuple[str, str]]) -> dict[str, Any]:
    method, path = route.split(" ", 1)
    return authorizer_event(_request(method, path, headers), route, STAGE, {})


def _bearer_sample(
    name: str, route: str, token: str, expect_authorized: bool | None = None, notes: str = ""
) -> Sample:
    """The authorizer's event for a request with `Authorization: Bearer <token>`."""
    headers = [("authorization", f"Bearer {token}")]
    event = _authorizer(route, headers)
    return Sample(name, "AuthorizerFunction", event, expect_authorized=expect_authorized, notes=notes)


# What a route's path parameters are in every sample: the demo admin, the sample PAT, and a
# well-formed passkey id (base64url of a SHA-256) that names no passkey.
PASSKEY_ID = "A" * 43
PATH_PARAMETERS = {"username": "demo", "tokenId": PAT_ID, "id": PASSKEY_ID}
_PARAMETER = re.compile(r"\{(\w+)\}")


def _api_sample(
    name: str,
    expect_status: int,
    route: str,
    body: Any = None,
    headers: list[tuple[str, str]] | None = None,
    context: dict[str, str] | None = None,
    notes: str = "",
    given: dict[str, str] | None = None,
) -> Sample:
    """The API function's event for `route`, at its path with PATH_PARAMETERS (or those
    `given`) filled in, and the status it must answer."""
    method, template = route.split(" ", 1)
    values = {**PATH_PARAMETERS, **(given or {})}
    parameters = {name: values[name] for name in _PARAMETER.findall(template)}
    path = template.format_map(parameters)
    event = integration_event(_request(method, path, headers or [], body), route, STAGE, parameters, context)
    return Sample(name, "ApiFunction", event, expect_status=expect_status, notes=notes)


def _context(user: User) -> dict[str, str]:
    """What the authorizer hands the API function for this user's access token, minted at
    ISSUED_AT by a password sign-in: long ago when the event is used (no recent sign-in)."""
    from handlers.authorizer import authorizer_context

    sign_in = SignIn.with_password(ISSUED_AT)
    return authorizer_context(
        Principal(user.id, user.username, user.role, AuthMethod.ACCESS_TOKEN, "", sign_in)
    )


def samples() -> list[Sample]:
    valid = mint_access_token(ADMIN, DEMO_KEY, ISSUED_AT, VALID_FOR).token
    member = mint_access_token(MEMBER, DEMO_KEY, ISSUED_AT, VALID_FOR).token
    expired = mint_access_token(ADMIN, DEMO_KEY, ISSUED_AT, 900).token
    forged = mint_access_token(ADMIN, OTHER_KEY, ISSUED_AT, VALID_FOR).token
    refresh = mint_refresh_token(ADMIN.id, TOKEN_ID, FAMILY_ID, DEMO_KEY, ISSUED_AT, VALID_FOR).token
    me = "GET /api/v1/auth/me"
    credentials = {"passwordCredentials": {"username": "demo", "password": DEMO_PASSWORD}}
    return [
        _bearer_sample("authorizer-valid-access-token", me, valid, expect_authorized=True),
        _bearer_sample("authorizer-expired-access-token", me, expired),
        Sample("authorizer-no-token", "AuthorizerFunction", _authorizer(me, [])),
        _bearer_sample("authorizer-forged-token", me, forged),
        _bearer_sample(
            "authorizer-admin-route-as-user", "GET /api/v1/users", member, expect_authorized=False
        ),
        _api_sample(
            "api-sign-up",
            200,
            "POST /api/v1/users",
            {"user": {"username": "newcomer", "password": "correct horse battery"}},
        ),
        _api_sample("api-sign-up-bad-json", 400, "POST /api/v1/users", "{not json"),
        _api_sample("api-sign-in", 200, "POST /api/v1/auth/signin", credentials),
        _api_sample(
            "api-sign-in-wrong-password",
            400,
            "POST /api/v1/auth/signin",
            {"passwordCredentials": {"username": "demo", "password": "wrong password"}},
        ),
        _api_sample("api-me", 200, me, context=_context(ADMIN)),
        _api_sample(
            "api-refresh", 200, "POST /api/v1/auth/refresh", headers=[("cookie", f"memos_refresh={refresh}")]
        ),
        _api_sample("api-refresh-no-cookie", 401, "POST /api/v1/auth/refresh"),
        _api_sample(
            "api-sign-out",
            200,
            "POST /api/v1/auth/signout",
            headers=[("cookie", f"memos_refresh={refresh}")],
            context=_context(ADMIN),
        ),
        _bearer_sample("authorizer-valid-pat", me, PAT, expect_authorized=True),
        _bearer_sample(
            "authorizer-malformed-pat",
            me,
            f"{PAT[:-1]}x",
            notes="bad checksum: refused without a database read",
        ),
        Sample(
            "authorizer-malformed-session-cookie",
            "AuthorizerFunction",
            _authorizer(me, [("cookie", f"user_session=0-{SESSION_ID}")]),
            notes="user id 0: refused without a database read",
        ),
        _api_sample("api-create-session", 200, "POST /api/v1/auth/sessions", credentials),
        _api_sample(
            "api-create-pat-old-sign-in",
            401,
            "POST /api/v1/users/{username}/personalAccessTokens",
            {"description": "sample", "expiresInDays": 30},
            context=_context(ADMIN),
            notes="a new PAT needs a sign-in at most REAUTH_MAX_AGE_SECONDS old: recent sign-in required",
        ),
        _api_sample(
            "api-delete-other-users-pat",
            404,
            "DELETE /api/v1/users/{username}/personalAccessTokens/{tokenId}",
            context=_context(MEMBER),
            notes="someone else's token answers as if it did not exist",
        ),
        _api_sample(
            "api-list-sessions", 200, "GET /api/v1/users/{username}/sessions", context=_context(ADMIN)
        ),
        *_account_samples(),
        *_factor_samples(),
        *_pages_samples(),
        *_rotation_samples(),
    ]


def _account_samples() -> list[Sample]:
    """SPEC §3's users, settings, PATs and logins, and §8's identity providers: readings,
    and the refusals a route makes itself (the authorizer already let the caller in)."""
    users, user = "GET /api/v1/users", "/api/v1/users/{username}"
    settings = "/api/v1/instance/settings"
    # name, status, route, body, caller (None: no credential), notes
    table: list[tuple[str, int, str, Any, User | None, str]] = [
        ("api-get-user", 200, f"GET {user}", None, None, "public: no email shown"),
        ("api-list-users", 200, users, None, ADMIN, ""),
        ("api-update-user", 200, f"PATCH {user}", {"displayName": "Demo Administrator"}, ADMIN, ""),
        ("api-update-other-user-as-user", 403, f"PATCH {user}", {"displayName": "Not Mine"}, MEMBER, ""),
        ("api-delete-own-admin-account", 400, f"DELETE {user}", None, ADMIN, "the instance keeps its admin"),
        ("api-get-settings", 200, f"GET {settings}", None, None, "public"),
        (
            "api-update-settings-as-user",
            403,
            f"PATCH {settings}",
            {"disallowUserRegistration": True},
            MEMBER,
            "",
        ),
        ("api-list-pats", 200, f"GET {user}/personalAccessTokens", None, ADMIN, ""),
        (
            "api-current-session-of-an-access-token",
            200,
            "GET /api/v1/auth/sessions/current",
            None,
            ADMIN,
            "a caller without a session cookie: its user, no lastAccessedAt",
        ),
        ("api-list-identity-providers", 200, "GET /api/v1/identity-providers", None, None, "public"),
        ("api-list-linked-identities", 200, f"GET {user}/linkedIdentities", None, ADMIN, ""),
    ]
    samples = [
        _api_sample(name, status, route, body, context=_context(caller) if caller else None, notes=notes)
        for name, status, route, body, caller, notes in table
    ]
    unknown_login = {"id": UNKNOWN_LOGIN_ID}
    route = f"DELETE {user}/sessions/{{id}}"
    return [
        *samples,
        _api_sample("api-revoke-unknown-login", 404, route, context=_context(ADMIN), given=unknown_login),
    ]


def _factor_samples() -> list[Sample]:
    """SPEC §7: TOTP, recovery codes and passkeys. The sample sign-in is old, so every change
    of one's own is a 401 asking for a recent sign-in; readings and public routes answer."""
    old_sign_in = "needs a sign-in at most REAUTH_MAX_AGE_SECONDS old: recent sign-in required"

    def own(name: str, status: int, route: str, body: Any = None, notes: str = "") -> Sample:
        return _api_sample(name, status, route, body, context=_context(ADMIN), notes=notes)

    return [
        own("api-get-totp", 200, "GET /api/v1/users/{username}/totp"),
        own("api-enrol-totp-old-sign-in", 401, "POST /api/v1/users/{username}/totp", notes=old_sign_in),
        own(
            "api-confirm-totp-old-sign-in",
            401,
            "POST /api/v1/users/{username}/totp/confirm",
            {"code": "123456"},
            notes=old_sign_in,
        ),
        own("api-remove-totp-old-sign-in", 401, "DELETE /api/v1/users/{username}/totp", notes=old_sign_in),
        own(
            "api-regenerate-recovery-codes-old-sign-in",
            401,
            "POST /api/v1/users/{username}/recoveryCodes",
            notes=old_sign_in,
        ),
        _api_sample(
            "api-sign-in-unknown-mfa-challenge",
            400,
            "POST /api/v1/auth/signin",
            {"mfaCredentials": {"challenge": "A" * 43, "totpCode": "123456"}},
            notes="the second step with a challenge no first step issued",
        ),
        own("api-list-passkeys", 200, "GET /api/v1/users/{username}/passkeys"),
        own(
            "api-passkey-registration-old-sign-in",
            401,
            "POST /api/v1/users/{username}/passkeys/registration",
            notes=old_sign_in,
        ),
        own(
            "api-register-passkey-old-sign-in",
            401,
            "POST /api/v1/users/{username}/passkeys",
            {"credential": {}, "displayName": "Laptop"},
            notes=old_sign_in,
        ),
        own(
            "api-remove-passkey-old-sign-in",
            401,
            "DELETE /api/v1/users/{username}/passkeys/{id}",
            notes=old_sign_in,
        ),
        _api_sample(
            "api-passkey-sign-in-options",
            200,
            "POST /api/v1/auth/passkeys/options",
            {},
            notes="options for a passwordless sign-in (navigator.credentials.get)",
        ),
        _api_sample(
            "api-sign-in-malformed-passkey",
            400,
            "POST /api/v1/auth/signin",
            {"passkeyCredentials": {"credential": {"id": "not an AuthenticationResponseJSON"}}},
        ),
    ]


def _pages_sample(name: str, status: int, path: str, proxy: str | None = None, notes: str = "") -> Sample:
    """The account pages' event for `path` (SPEC §10): `GET /account` itself, or a page or
    file of `GET /account/{proxy+}`. No authorizer: the pages are the same for everyone."""
    route = "GET /account" if proxy is None else "GET /account/{proxy+}"
    parameters = {} if proxy is None else {"proxy": proxy}
    event = integration_event(_request("GET", path, []), route, STAGE, parameters, None)
    return Sample(name, "PagesFunction", event, expect_status=status, notes=notes)


def _pages_samples() -> list[Sample]:
    return [
        _pages_sample("pages-account-redirect", 302, "/account", notes="to account/, keeping a base path"),
        _pages_sample("pages-sign-in", 200, "/account/signin", "signin"),
        _pages_sample("pages-unknown", 404, "/account/nope", "nope"),
        _pages_sample(
            "pages-traversal", 404, "/account/../README.md", "../README.md", notes="no path leaves src/pages"
        ),
    ]


# The version Secrets Manager rotates to in the rotation samples.
ROTATION_TOKEN = "00000000-0000-4000-8000-00000000d001"
# The secret's name on the local stack (its logical id); a deployment's event names its ARN.
SECRET_ID = "SigningKeySecret"


def _rotation_samples() -> list[Sample]:
    """SPEC §2: the four steps Secrets Manager sends the rotation function, and a step it
    never sends. On `make invoke` no rotation is pending (nor enabled), so each step is
    refused; on a deployment, Secrets Manager sends them itself."""

    def step(name: str, value: str, error: str | None = None, notes: str = "") -> Sample:
        event = {"Step": value, "SecretId": SECRET_ID, "ClientRequestToken": ROTATION_TOKEN}
        return Sample(name, "KeyRotationFunction", event, expect_error=error, notes=notes)

    return [
        step("rotation-create-secret", "createSecret", notes="stores the next key as AWSPENDING"),
        step("rotation-set-secret", "setSecret"),
        step("rotation-test-secret", "testSecret"),
        step("rotation-finish-secret", "finishSecret", notes="moves AWSCURRENT to the new key"),
        step("rotation-unknown-step", "rotateEverything", error="unknown rotation step"),
    ]


def seed_items(password_hash: str) -> dict[str, list[dict[str, Any]]]:
    users: list[dict[str, Any]] = []
    for user in (ADMIN, MEMBER):
        item = user_to_item(User(**{**user.__dict__, "password_hash": password_hash}))
        if user is ADMIN:
            item[TOKEN_COUNT] = {"N": "1"}  # the sample PAT below
        users += [item, {"pk": {"S": f"username#{user.username}"}, "userId": {"N": str(user.id)}}]
    return {
        "UsersTable": users,
        "SettingsTable": [
            {"pk": {"S": "owner"}, "userId": {"N": str(ADMIN.id)}},
            {"pk": {"S": "counter#users"}, "value": {"N": "2"}},
        ],
        "RefreshTokensTable": [
            {
                "familyId": {"S": FAMILY_ID},
                "userId": {"N": str(ADMIN.id)},
                "currentTokenId": {"S": TOKEN_ID},
                "createdAt": {"N": str(ISSUED_AT)},
                "lastUsedAt": {"N": str(ISSUED_AT)},
                "expiresAt": {"N": str(ISSUED_AT + VALID_FOR)},
                "revoked": {"BOOL": False},
                "userAgent": {"S": "curl/8.5.0"},
                "ipAddress": {"S": SOURCE_IP},
            }
        ],
        "PersonalAccessTokensTable": [
            pat_to_item(
                PatRecord(hash_pat(PAT), PAT_ID, ADMIN.id, "sample", ISSUED_AT, None, None, ADMIN.as_owner)
            )
        ],
    }


def write(directory: Path = EVENTS_DIR) -> list[Path]:
    directory.mkdir(exist_ok=True)
    written = []
    for sample in samples():
        path = directory / f"{sample.name}.json"
        path.write_text(json.dumps(sample.event, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    password_hash = bcrypt.hashpw(DEMO_PASSWORD.encode(), bcrypt.gensalt(10)).decode()
    seed = directory / "seed.json"
    seed.write_text(json.dumps(seed_items(password_hash), indent=2) + "\n", encoding="utf-8")
    return [*written, seed]


if __name__ == "__main__":
    for path in write():
        print(path.relative_to(REPO_ROOT))
