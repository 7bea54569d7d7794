"""SPEC §8 in-process (moto) against a real OpenID provider (oidc-provider on 127.0.0.1):
the provider API, OIDC and OAUTH2 sign-ins with both client authentication methods and
PKCE, the identifier filter, closed registration, first sign-ins, username clashes,
linking, second factors after the provider, and every way a provider's answer can fail."""

from __future__ import annotations

import base64
import dataclasses
import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
import requests

from auth import identifier_filter, routes
from auth.audit import AuditEvent, CredentialKind
from auth.config import Config
from auth.models import SignIn, User
from auth.outbound_http import Timeouts
from auth.principal import AuthMethod
from auth.provider_protocol import (
    DISCOVERY_MAX_AGE_SECONDS,
    JWKS_MAX_AGE_SECONDS,
    JWKS_REFRESH_COOLDOWN_SECONDS,
)
from auth.wiring import ApiServices
from devstack.ports import free_port
from handlers.observability import Metric
from tests.support.audit import RecordingAudit
from tests.support.clock import FakeClock
from tests.support.factors import challenge_of, code_at, enrol_totp, refused_after_the_lag, second_step
from tests.support.metrics import counted
from tests.support.oidc_provider import BASIC_CLIENT, OTHER_CLIENT, POST_CLIENT, OidcProvider, Pkce
from tests.support.people import (
    PASSWORD,
    People,
    call_api,
    context_for,
    then_an_admin_changes_alices_password,
)
from tests.support.sso import (
    IDP,
    IDPS,
    LINK,
    LINKS,
    STALL,
    ScriptedProvider,
    as_admin,
    create_provider,
    json_reply,
    link_call,
    oauth2_body,
    oidc_body,
    rsa_jwk,
    sso,
    sso_sign_in,
)
from tests.unit.test_sessions import CLIENT

_accounts = iter(range(10**6))


@pytest.fixture
def clock() -> FakeClock:
    # ID tokens carry the provider's real time: the fake clock starts there.
    return FakeClock(time.time())


@pytest.fixture
def scripted() -> Iterator[ScriptedProvider]:
    server = ScriptedProvider()
    yield server
    server.stop()


def account(provider: OidcProvider, **claims: Any) -> str:
    return provider.account(f"acct{next(_accounts)}-{time.time_ns()}", **claims)


def oidc(
    api: ApiServices, people: People, provider: OidcProvider, client: str = POST_CLIENT, **kw: Any
) -> str:
    provider_id = f"oidc-{next(_accounts)}"
    style = "client_secret_basic" if client == BASIC_CLIENT else "client_secret_post"
    made = create_provider(api, people.admin, oidc_body(provider.issuer, client, style, **kw), provider_id)
    assert made.status == 200, made.body
    return provider_id


def linked(api: ApiServices, people: People, provider: OidcProvider, user: User) -> tuple[str, str]:
    """An OIDC provider, a new account at it, and that account linked to `user`:
    (provider id, the account's sub)."""
    provider_id = oidc(api, people, provider)
    sub = account(provider)
    answer = link_call(api, user, sso(provider_id, provider.code(sub)))
    assert answer.status == 200, answer.body
    return provider_id, sub


def token_claims(api: ApiServices, answer: Any) -> dict[str, Any]:
    assert answer.status == 200, answer.body
    claims: dict[str, Any] = jwt.decode(answer.body["accessToken"], options={"verify_signature": False})
    return claims


# -- the provider API -----------------------------------------------------------------------------


def test_a_provider_is_public_to_read_never_with_its_secret_and_sealed_in_its_table(
    api: ApiServices, people: People, oidc_provider: OidcProvider, aws: dict[str, Any], audit: RecordingAudit
) -> None:
    provider_id = oidc(api, people, oidc_provider)
    listed = call_api(api, "GET", IDPS, IDPS)
    got = call_api(api, "GET", IDP.format(id=provider_id), IDP)
    assert listed.status == got.status == 200
    (shown,) = listed.body["identityProviders"]
    assert shown == got.body
    assert shown["name"] == f"identity-providers/{provider_id}" and shown["type"] == "OIDC"
    assert shown["config"]["oidcConfig"]["issuer"] == oidc_provider.issuer
    secret = f"{POST_CLIENT}-secret"
    assert secret not in str(listed.body) and secret not in str(got.body)
    assert "clientSecret" not in str(listed.body)
    scanned = aws["dynamodb"].scan(TableName=api.config.identity_providers_table)["Items"]
    assert scanned and secret.encode() not in repr(scanned).encode() and secret not in repr(scanned)
    assert (AuditEvent.CREATED, CredentialKind.IDENTITY_PROVIDER) in [(e[0], e[1]) for e in audit.events]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"identifierFilter": "(unclosed"}, "identifierFilter is not a valid regular expression"),
        # Python's re takes these; RE2, Memos' syntax, does not.
        ({"identifierFilter": "[[:letters:]]"}, "identifierFilter is not a valid regular expression"),
        ({"identifierFilter": "^(?!admin)"}, "identifierFilter is not a valid regular expression"),
        ({"identifierFilter": r"^(a)\1$"}, "identifierFilter is not a valid regular expression"),
        ({"identifierFilter": "^a++$"}, "identifierFilter is not a valid regular expression"),
        ({"title": ""}, "title must be"),
    ],
)
def test_bad_providers_are_refused_with_a_clear_400(
    api: ApiServices, people: People, oidc_provider: OidcProvider, change: dict[str, Any], message: str
) -> None:
    made = create_provider(api, people.admin, oidc_body(oidc_provider.issuer, POST_CLIENT) | change, "bad")
    assert made.status == 400 and message in made.body["message"], made.body
    assert call_api(api, "GET", IDPS, IDPS).body == {"identityProviders": []}


def _oauth2_naming(**urls: str) -> dict[str, Any]:
    body = oauth2_body("http://127.0.0.1:1", "c", secret="s")
    body["config"]["oauth2Config"] |= urls
    return body


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(oidc_body("http://a b", POST_CLIENT), "issuer is not a valid URL", id="OIDC issuer"),
        pytest.param(_oauth2_naming(tokenUrl="http://a b/"), "tokenUrl is not a valid URL", id="tokenUrl"),
        pytest.param(_oauth2_naming(authUrl="http://%zz/auth"), "authUrl is not a valid URL", id="authUrl"),
        pytest.param(
            _oauth2_naming(userInfoUrl="http://\u0000/me"), "userInfoUrl is not a valid URL", id="userInfoUrl"
        ),
    ],
)
def test_a_provider_url_whose_host_cannot_be_called_is_a_400_and_nothing_is_stored(
    api: ApiServices, people: People, body: dict[str, Any], message: str
) -> None:
    # Not a 503: urllib3 refusing the URL at every call is no outage a retry gets past.
    made = create_provider(api, people.admin, body, "unparsable")
    assert made.status == 400 and made.body["message"] == message, made.body
    assert call_api(api, "GET", IDPS, IDPS).body == {"identityProviders": []}


def test_a_change_to_a_url_whose_host_cannot_be_called_is_a_400_and_changes_nothing(
    api: ApiServices, people: People
) -> None:
    assert create_provider(api, people.admin, _oauth2_naming(), "kept").status == 200
    before = call_api(api, "GET", IDP.format(id="kept"), IDP).body
    moved = _oauth2_naming(tokenUrl="http://a b/")["config"]
    refused = as_admin(api, "PATCH", IDP.format(id="kept"), IDP, people.admin, body={"config": moved})
    assert refused.status == 400 and refused.body["message"] == "tokenUrl is not a valid URL", refused.body
    assert call_api(api, "GET", IDP.format(id="kept"), IDP).body == before


def test_oidc_needs_openid_and_a_secret_and_urls_must_be_https_outside_local(
    aws: dict[str, Any], clock: FakeClock, audit: RecordingAudit, oidc_provider: OidcProvider
) -> None:
    from auth.wiring import build_api_services
    from tests.support.people import sign_up_people

    body = oidc_body(oidc_provider.issuer, POST_CLIENT)
    for stage, changed, message in (
        ("dev", {}, "issuer must be an https URL"),
        ("local", {"scopes": ["profile"]}, "must include openid"),
        ("local", {"clientSecret": ""}, "clientSecret is required"),
    ):
        api = build_api_services(
            Config(stage=stage, bcrypt_cost=4), clock, aws["dynamodb"], aws["secretsmanager"], audit
        )
        admin = api.users.get_by_username("root") or sign_up_people(api).admin
        broken = {**body, "config": {"oidcConfig": body["config"]["oidcConfig"] | changed}}
        made = create_provider(api, admin, broken, f"p-{stage}")
        assert made.status == 400 and message in made.body["message"], made.body


def test_only_an_admin_changes_providers_and_an_id_is_taken_once(
    api: ApiServices, people: People, oidc_provider: OidcProvider
) -> None:
    provider_id = oidc(api, people, oidc_provider)
    again = create_provider(api, people.admin, oidc_body(oidc_provider.issuer, POST_CLIENT), provider_id)
    assert again.status == 409
    refused = create_provider(api, people.alice, oidc_body(oidc_provider.issuer, POST_CLIENT), "mine")
    assert refused.status == 403


def test_a_change_keeps_the_secret_unless_the_token_endpoint_moves(
    api: ApiServices, people: People, oidc_provider: OidcProvider, audit: RecordingAudit
) -> None:
    provider_id = oidc(api, people, oidc_provider)
    path = IDP.format(id=provider_id)
    renamed = as_admin(api, "PATCH", path, IDP, people.admin, body={"title": "Renamed"})
    assert renamed.status == 200 and renamed.body["title"] == "Renamed"
    # The kept secret still works.
    sub = account(oidc_provider)
    assert sso_sign_in(api, sso(provider_id, oidc_provider.code(sub))).status == 200
    moved = oidc_body("http://127.0.0.1:1", POST_CLIENT)["config"]
    moved["oidcConfig"]["clientSecret"] = ""
    refused = as_admin(api, "PATCH", path, IDP, people.admin, body={"config": moved})
    assert refused.status == 400 and "clientSecret is required" in refused.body["message"]
    assert (AuditEvent.CHANGED, CredentialKind.IDENTITY_PROVIDER) in [(e[0], e[1]) for e in audit.events]


# -- an OIDC provider's authorization endpoint, from its discovery document ---------------------------


def test_an_oidc_provider_answers_the_authorization_endpoint_its_issuer_names(
    api: ApiServices, people: People, oidc_provider: OidcProvider
) -> None:
    provider_id = oidc(api, people, oidc_provider)
    public = call_api(api, "GET", IDP.format(id=provider_id), IDP).body["config"]["oidcConfig"]
    discovered = requests.get(f"{oidc_provider.issuer}/.well-known/openid-configuration", timeout=5).json()
    assert public["authUrl"] == discovered["authorization_endpoint"]
    assert public["authUrl"].startswith(oidc_provider.issuer + "/")


def scripted_oidc(scripted: ScriptedProvider, **config: Any) -> dict[str, Any]:
    body = oidc_body(scripted.url, "scripted-client")
    body["config"]["oidcConfig"] |= {"clientSecret": "s", **config}
    return body


def test_an_oidc_provider_is_read_again_when_changed_and_authurl_is_read_only(
    api: ApiServices, people: People, scripted: ScriptedProvider
) -> None:
    scripted.as_issuer(lambda: "unused")
    # What a client sends as authUrl is not taken: the issuer's document says.
    made = create_provider(
        api, people.admin, scripted_oidc(scripted, authUrl="https://evil.example/"), "moves"
    )
    assert made.status == 200, made.body
    assert made.body["config"]["oidcConfig"]["authUrl"] == f"{scripted.url}/auth"
    other = ScriptedProvider()
    try:
        other.as_issuer(lambda: "unused")
        moved = as_admin(
            api,
            "PATCH",
            IDP.format(id="moves"),
            IDP,
            people.admin,
            body={"config": scripted_oidc(other)["config"]},
        )
        assert moved.status == 200, moved.body
        assert moved.body["config"]["oidcConfig"]["authUrl"] == f"{other.url}/auth"
        assert api.identity_providers.get("moves").config.auth_url == f"{other.url}/auth"
    finally:
        other.stop()


def _discovery_of(scripted: ScriptedProvider, **document: Any) -> Any:
    return lambda _: json_reply(
        {
            "issuer": scripted.url,
            "token_endpoint": f"{scripted.url}/token",
            "jwks_uri": f"{scripted.url}/jwks",
        }
        | document
    )


@pytest.mark.parametrize(
    ("discovery", "status", "message"),
    [
        pytest.param(lambda s: lambda _: (404, "text/plain", b"no"), 400, "no discovery document", id="404"),
        pytest.param(lambda s: _discovery_of(s), 400, "no authorization endpoint", id="no endpoint"),
        pytest.param(
            lambda s: _discovery_of(s, authorization_endpoint="javascript:alert(1)"),
            400,
            "authorization_endpoint must be an http(s) URL",
            id="a script URL",
        ),
        pytest.param(
            lambda s: _discovery_of(s, issuer="https://another.example", authorization_endpoint="x"),
            400,
            "another issuer",
            id="another issuer",
        ),
        # Discovery §4.3: identical, so a "/" more is another issuer.
        pytest.param(
            lambda s: _discovery_of(s, issuer=s.url + "/", authorization_endpoint=f"{s.url}/auth"),
            400,
            "another issuer: it names http://127.0.0.1:",
            id="the issuer and a slash",
        ),
        *(
            pytest.param(
                lambda s, name=name: _discovery_of(
                    s, authorization_endpoint=f"{s.url}/auth", **{name: "ftp://127.0.0.1/x"}
                ),
                400,
                f"the discovery document's {name} must be an http(s) URL",
                id=f"{name} not http",
            )
            for name in ("token_endpoint", "jwks_uri", "userinfo_endpoint")
        ),
        pytest.param(lambda s: lambda _: (500, "text/plain", b"down"), 503, "unavailable", id="a 500"),
        pytest.param(lambda s: lambda _: STALL, 503, "unavailable", id="a stall"),
    ],
)
def test_an_oidc_provider_whose_discovery_fails_is_refused_and_nothing_is_stored(
    api: ApiServices, people: People, scripted: ScriptedProvider, discovery: Any, status: int, message: str
) -> None:
    api.provider_calls.protocol.http.timeouts = Timeouts(connect=0.2, read=0.2, deadline=0.4)
    scripted.routes["/.well-known/openid-configuration"] = discovery(scripted)
    made = create_provider(api, people.admin, scripted_oidc(scripted), "broken")
    assert made.status == status and message in made.body["message"], made.body
    assert call_api(api, "GET", IDPS, IDPS).body == {"identityProviders": []}


def test_a_change_to_an_issuer_without_discovery_keeps_the_provider_as_it_was(
    api: ApiServices, people: People, oidc_provider: OidcProvider
) -> None:
    provider_id = oidc(api, people, oidc_provider)
    before = call_api(api, "GET", IDP.format(id=provider_id), IDP).body
    moved = oidc_body(f"http://127.0.0.1:{free_port()}", POST_CLIENT)
    moved["title"] = "Moved"
    refused = as_admin(api, "PATCH", IDP.format(id=provider_id), IDP, people.admin, body=moved)
    assert refused.status == 503, refused.body
    assert call_api(api, "GET", IDP.format(id=provider_id), IDP).body == before


def test_an_issuer_ending_in_a_slash_is_kept_as_given_and_signs_in(
    api: ApiServices, people: People, scripted: ScriptedProvider
) -> None:
    # Auth0's issuers are `https://tenant.auth0.com/`: the document and the ID token say so.
    issuer = scripted.url + "/"
    scripted.as_issuer(lambda: scripted.id_token(iss=issuer), issuer=issuer)
    made = create_provider(api, people.admin, scripted_oidc(scripted, issuer=issuer), "auth0")
    assert made.status == 200, made.body
    assert made.body["config"]["oidcConfig"]["issuer"] == issuer
    assert api.identity_providers.get("auth0").config.issuer == issuer
    # Discovery §4.1: the "/" is left out before the well-known path.
    assert scripted.received[0][0] == "/.well-known/openid-configuration"
    answer = sso_sign_in(api, sso("auth0", "a-code"))
    assert answer.status == 200, answer.body
    assert answer.body["user"]["username"] == "scripted"


def test_a_discovery_document_naming_an_endpoint_that_may_not_be_called_refuses_the_sign_in(
    api: ApiServices, people: People, scripted: ScriptedProvider, clock: FakeClock, audit: RecordingAudit
) -> None:
    """Not a 503 to try again: the document is wrong until its provider mends it."""
    scripted.as_issuer(lambda: scripted.id_token())
    assert create_provider(api, people.admin, scripted_oidc(scripted), "moved").status == 200
    scripted.routes["/.well-known/openid-configuration"] = _discovery_of(
        scripted, token_endpoint="ftp://127.0.0.1/token"
    )
    clock.advance(DISCOVERY_MAX_AGE_SECONDS + 1)
    answer = sso_sign_in(api, sso("moved", "a-code"))
    assert answer.status == 400 and answer.body["code"] == 3, answer.body
    assert answer.body["message"] == "the discovery document's token_endpoint must be an http(s) URL"
    assert "/token" not in [path for path, _ in scripted.received]
    assert any(e[0] is AuditEvent.REFUSED and "token_endpoint" in e[4] for e in audit.events)


@pytest.mark.parametrize("name", ["token_endpoint", "jwks_uri", "userinfo_endpoint"])
def test_off_the_local_stage_a_discovery_document_naming_plain_http_is_refused(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    import io
    import json

    import urllib3

    from auth.outbound_http import OutboundHttp
    from auth.provider_protocol import ProviderProtocol, ProviderRefused

    issuer = "https://idp.example"
    document = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/auth",
        "token_endpoint": f"{issuer}/token",
        "jwks_uri": f"{issuer}/jwks",
    } | {name: f"http://idp.example/{name}"}
    asked: list[str] = []

    class Pool:
        """urllib3's pool as auth.outbound_http calls it, answering the document."""

        def request(self, method: str, url: str, **_: Any) -> urllib3.HTTPResponse:
            asked.append(url)
            body = io.BytesIO(json.dumps(document).encode())
            return urllib3.HTTPResponse(
                body, {"Content-Type": "application/json"}, 200, preload_content=False
            )

    http = OutboundHttp(allow_http=False)
    monkeypatch.setattr(http, "_pool", Pool())
    with pytest.raises(ProviderRefused) as refused:
        ProviderProtocol(http, clock).authorization_endpoint(issuer)
    assert refused.value.message == f"the discovery document's {name} must be an https URL"
    assert asked == [f"{issuer}/.well-known/openid-configuration"]


def test_a_header_that_cannot_be_sent_is_refused_before_any_call(
    scripted: ScriptedProvider,
) -> None:
    """The last guard behind the access token's check: urllib3 would raise with the header,
    the token in it, in its message."""
    from auth.outbound_http import OutboundHttp, ProviderUnavailable

    http = OutboundHttp(allow_http=True)
    asked = len(scripted.received)
    with pytest.raises(ProviderUnavailable) as refused:
        http.get(f"{scripted.url}/me", http.deadline(), {"Authorization": f"Bearer {SECRET_TOKEN}\n"})
    assert SECRET_TOKEN not in str(refused.value) and refused.value.__cause__ is None
    assert len(scripted.received) == asked


# -- signing in -------------------------------------------------------------------------------------


@pytest.mark.parametrize("client", [POST_CLIENT, BASIC_CLIENT])
@pytest.mark.parametrize("route", [routes.SIGN_IN, routes.CREATE_SESSION], ids=["signin", "sessions"])
def test_first_oidc_sign_in_creates_the_user_then_signs_them_in(
    api: ApiServices, people: People, oidc_provider: OidcProvider, client: str, route: routes.Route
) -> None:
    provider_id = oidc(api, people, oidc_provider, client)
    sub = account(oidc_provider, email="new@example.com", name="New Person")
    pkce, nonce = Pkce.new(), "n-" + sub
    first = sso_sign_in(
        api,
        sso(provider_id, oidc_provider.code(sub, client, pkce=pkce, nonce=nonce), pkce.verifier, nonce),
        route,
    )
    assert first.status == 200, first.body
    user = first.body["user"]
    assert user["username"] == sub and user["role"] == "USER"
    assert user["email"] == "new@example.com" and user["displayName"] == "New Person"
    if route is routes.SIGN_IN:
        assert token_claims(api, first)["amr"] == ["fed"]
    else:
        assert any(c.startswith("user_session=") for c in first.cookies)
    again = sso_sign_in(api, sso(provider_id, oidc_provider.code(sub, client)), route)
    assert again.status == 200 and again.body["user"]["username"] == sub
    stored = api.users.get_by_username(sub)
    assert stored is not None and stored.password_hash == ""


def test_an_account_a_first_sign_in_creates_is_audited_as_a_sign_up_is_then_its_link_and_each_use(
    api: ApiServices, people: People, oidc_provider: OidcProvider, audit: RecordingAudit
) -> None:
    provider_id = oidc(api, people, oidc_provider)
    sub = account(oidc_provider)
    before = len(audit.events)
    first = sso_sign_in(api, sso(provider_id, oidc_provider.code(sub)))
    assert first.status == 200, first.body
    user = api.users.get_by_username(sub)
    assert user is not None
    (link,) = api.idp_store.links_of_user(user.id)
    accounts_and_links = (CredentialKind.ACCOUNT, CredentialKind.LINKED_IDENTITY)
    made = [e for e in audit.events[before:] if e[0] is AuditEvent.CREATED and e[1] in accounts_and_links]
    provider = f"identity-providers/{provider_id}"
    assert made == [
        (AuditEvent.CREATED, CredentialKind.ACCOUNT, user.id, "", f"first sign-in with {provider}, as USER"),
        (
            AuditEvent.CREATED,
            CredentialKind.LINKED_IDENTITY,
            user.id,
            link.link_id,
            f"first sign-in with {provider}, user created",
        ),
    ]
    used = (AuditEvent.USED, CredentialKind.LINKED_IDENTITY, user.id, link.link_id, f"verified by {provider}")
    assert used in audit.events[before:]
    before = len(audit.events)
    assert sso_sign_in(api, sso(provider_id, oidc_provider.code(sub))).status == 200
    again = [e for e in audit.events[before:] if e[0] is AuditEvent.CREATED and e[1] in accounts_and_links]
    assert again == [], "a second sign-in creates no account and no link"
    assert [e for e in audit.events[before:] if e[1] is CredentialKind.LINKED_IDENTITY] == [used]


@pytest.mark.parametrize("client", [POST_CLIENT, BASIC_CLIENT])
def test_oauth2_provider_signs_in_through_token_and_userinfo(
    api: ApiServices, people: People, oidc_provider: OidcProvider, client: str
) -> None:
    style = "client_secret_basic" if client == BASIC_CLIENT else "client_secret_post"
    made = create_provider(
        api, people.admin, oauth2_body(oidc_provider.issuer, client, style), f"oa-{client}"
    )
    assert made.status == 200, made.body
    sub = account(oidc_provider, email="oauth@example.com")
    answer = sso_sign_in(api, sso(f"oa-{client}", oidc_provider.code(sub, client)))
    assert answer.status == 200, answer.body
    assert answer.body["user"]["username"] == sub and answer.body["user"]["email"] == "oauth@example.com"


@pytest.mark.parametrize("style", ["client_secret_post", "client_secret_basic"])
def test_each_client_authentication_method_sends_the_secret_its_way(
    api: ApiServices, people: People, scripted: ScriptedProvider, style: str
) -> None:
    scripted.answer_oauth2({"sub": "someone"})
    body = oauth2_body(scripted.url, "a client", style, secret="a secret:with/odd chars")
    assert create_provider(api, people.admin, body, "styles").status == 200
    assert sso_sign_in(api, sso("styles", "the-code", verifier="the-verifier")).status == 200
    (fields,) = [fields for path, fields in scripted.received if path == "/token"]
    assert fields["code"] == "the-code" and fields["code_verifier"] == "the-verifier"
    if style == "client_secret_basic":
        # RFC 6749 §2.3.1: each part form-urlencoded, then Basic.
        assert (
            fields["authorization"]
            == "Basic " + base64.b64encode(b"a%20client:a%20secret%3Awith%2Fodd%20chars").decode()
        )
        assert "client_secret" not in fields
    else:
        assert fields["client_id"] == "a client" and fields["client_secret"] == "a secret:with/odd chars"
        assert fields["authorization"] == ""


def test_the_pkce_verifier_is_passed_on(
    api: ApiServices, people: People, oidc_provider: OidcProvider
) -> None:
    provider_id = oidc(api, people, oidc_provider)
    sub, pkce = account(oidc_provider), Pkce.new()
    without = sso_sign_in(api, sso(provider_id, oidc_provider.code(sub, pkce=pkce)))
    assert without.status == 400 and without.body["code"] == 3
    wrong = sso_sign_in(api, sso(provider_id, oidc_provider.code(sub, pkce=pkce), Pkce.new().verifier))
    assert wrong.status == 400
    right = sso_sign_in(api, sso(provider_id, oidc_provider.code(sub, pkce=pkce), pkce.verifier))
    assert right.status == 200, right.body


def test_a_nonce_must_be_the_one_the_client_sent(
    api: ApiServices, people: People, oidc_provider: OidcProvider
) -> None:
    provider_id = oidc(api, people, oidc_provider)
    sub = account(oidc_provider)
    answer = sso_sign_in(api, sso(provider_id, oidc_provider.code(sub, nonce="sent"), nonce="another"))
    assert answer.status == 400 and "nonce" in answer.body["message"]
    assert api.users.get_by_username(sub) is None


def test_identifier_filter_refuses_other_identifiers(
    api: ApiServices, people: People, oidc_provider: OidcProvider, audit: RecordingAudit
) -> None:
    provider_id = oidc(api, people, oidc_provider, identifierFilter=r"^staff-")
    outsider = account(oidc_provider)
    refused = sso_sign_in(api, sso(provider_id, oidc_provider.code(outsider)))
    assert refused.status == 403 and refused.body["message"] == "identifier is not allowed"
    assert api.users.get_by_username(outsider) is None
    assert any(e[0] is AuditEvent.REFUSED and "filter" in e[4] for e in audit.events)
    staff = oidc_provider.account(f"staff-{time.time_ns()}")
    assert sso_sign_in(api, sso(provider_id, oidc_provider.code(staff))).status == 200


def userinfo_provider(api: ApiServices, people: People, scripted: ScriptedProvider, **body: Any) -> Any:
    """An OAUTH2 provider on the script whose userinfo answers what the returned dict holds."""
    userinfo: dict[str, Any] = {}
    scripted.answer_oauth2(userinfo)
    made = create_provider(api, people.admin, oauth2_body(scripted.url, "c", secret="s", **body), "info")
    assert made.status == 200, made.body
    return userinfo


def sign_in_as(api: ApiServices, userinfo: dict[str, Any], **claims: Any) -> Any:
    userinfo.clear()
    userinfo.update(claims)
    return sso_sign_in(api, sso("info", "a-code"))


def test_the_identifier_is_the_claim_exactly_as_the_provider_sent_it(
    api: ApiServices, people: People, scripted: ScriptedProvider
) -> None:
    """Memos compares extern_uid as the raw string: other strings are other accounts."""
    userinfo = userinfo_provider(api, people, scripted)
    signed_in: dict[str, str] = {}
    for identifier in ("eve", "eve\u00a0", " eve", "eve\t", "eve"):
        answer = sign_in_as(api, userinfo, sub=identifier)
        assert answer.status == 200, answer.body
        username = answer.body["user"]["username"]
        assert signed_in.setdefault(identifier, username) == username
    assert signed_in["eve"] == "eve" and len(set(signed_in.values())) == 4
    for identifier, username in signed_in.items():
        user = api.users.get_by_username(username)
        assert user is not None
        assert [link.extern_uid for link in api.linked_identities.list(user)] == [identifier]
    # GitHub's userinfo `id` is a number: its decimal text is the identifier.
    numeric = sign_in_as(api, userinfo, sub=583231)
    assert numeric.status == 200, numeric.body
    assert sign_in_as(api, userinfo, sub="583231").body["user"] == numeric.body["user"]
    # JSON's "\ud800" (JavaScript's JSON.stringify writes it for a string cut within a
    # surrogate pair) is no text: no display name or email, and not an identifier.
    cut = sign_in_as(api, userinfo, sub="cut", name="Cut \ud83d", email="cut\udfff@example.com")
    assert cut.status == 200, cut.body
    assert (cut.body["user"]["displayName"], cut.body["user"]["email"]) == ("", "")
    for claims in ({"sub": ""}, {}, {"sub": True}, {"sub": 1.5}, {"sub": "eve\ud800"}):
        refused = sign_in_as(api, userinfo, **claims)
        assert refused.status == 400 and "no usable identifier" in refused.body["message"], claims


# -- the identifier filter: RE2's syntax, as Memos matches it (Go's regexp.MatchString) ------------

# What Go 1.19's regexp.MatchString answered, filter by filter: (filter, matched, not matched).
GO_REGEXP_ANSWERS = [
    ("[[:alnum:]]", ["a", "Z", "5"], ["é", "-", "_"]),
    ("^[[:alpha:]]+$", ["abcXYZ"], ["abc1", "é"]),
    ("^[[:ascii:]]+$", ["a~\x7f"], ["é"]),
    ("^[[:blank:]]$", [" ", "\t"], ["\n", "\xa0"]),
    ("^[[:cntrl:]]$", ["\x00", "\x1f", "\x7f"], [" "]),
    ("^[[:digit:]]+$", ["0123456789"], ["١٢٣", "a"]),
    ("^[[:graph:]]+$", ["!~a"], [" ", "é"]),
    ("^[[:lower:]]+$", ["abc"], ["aBc", "é"]),
    ("^[[:print:]]+$", ["a b~"], ["\t", "é"]),
    ("^[[:punct:]]+$", ["!/:@[`{~", "_"], ["a", "¡"]),
    ("^[[:space:]]+$", [" \t\n\x0b\x0c\r"], ["\xa0", "\u2003"]),
    ("^[[:upper:]]+$", ["ABC"], ["AbC", "É"]),
    ("^[[:word:]]+$", ["a_1Z"], ["a-b", "é"]),
    ("^[[:xdigit:]]+$", ["09afAF"], ["g", "\uff10"]),
    ("^[[:^alpha:]]+$", ["123-_", "é"], ["a"]),
    ("^[^[:alpha:]]+$", ["123", "é"], ["a"]),
    (r"^[[:alnum:]._-]+@corp\.com$", ["a.b-c_1@corp.com"], ["é@corp.com", "a b@corp.com", "a@corp.com\n"]),
    (r"^\d+$", ["123"], ["١٢٣", "12\n"]),
    (r"^\w+$", ["a_1"], ["é", "ǅ"]),
    (r"^\s$", [" ", "\t"], ["\x0b", "\xa0"]),
    (r"\bcorp\b", ["a corp b", "écorp"], ["acorp"]),
    (r"\B", ["", "ab"], ["a"]),
    ("^eve$", ["eve"], ["eve\n", "Eve", " eve"]),
    ("(?m)^eve$", ["eve\n", "x\neve\ny"], []),
    (r"^(?i)[a-z]+@corp\.com$", ["Ann@CORP.com", "ann@corp.com"], []),
    ("(?i)^élan$", ["ÉLAN", "élan"], []),
    ("a(?i)b|c", ["aB", "C"], ["Ab"]),
    (r"^\Q1+1\E$", ["1+1"], ["11"]),
    (r"^\x{e9}\101$", ["éA"], ["éa"]),
    ("^x{,2}$", ["x{,2}"], ["xx"]),
    ("^[a-]$", ["a", "-"], ["b"]),
    ("^[]a]+$", ["]a"], ["b"]),
    (r"^\pL+$", ["abcé", "ǅ"], ["a1", ""]),
    (r"^\p{Greek}+$", ["αβγ"], ["abc"]),
]


@pytest.mark.parametrize(("pattern", "matched", "unmatched"), GO_REGEXP_ANSWERS)
def test_the_filter_matches_what_gos_regexp_matches(
    pattern: str, matched: list[str], unmatched: list[str]
) -> None:
    assert [s for s in matched + unmatched if identifier_filter.allows(pattern, s)] == matched


def test_a_memos_filter_with_posix_classes_lets_in_whom_memos_let_in(
    api: ApiServices, people: People, scripted: ScriptedProvider
) -> None:
    userinfo = userinfo_provider(api, people, scripted, identifierFilter=r"^[[:alnum:]._-]+@corp\.com$")
    assert sign_in_as(api, userinfo, sub="ann.lee-2@corp.com").status == 200
    for outsider in ("élan@corp.com", "ann@corp.com\n", "ann lee@corp.com"):
        refused = sign_in_as(api, userinfo, sub=outsider)
        assert refused.status == 403 and refused.body["message"] == "identifier is not allowed", outsider


def test_a_change_to_a_filter_re2_refuses_is_a_400_and_changes_nothing(
    api: ApiServices, people: People, scripted: ScriptedProvider
) -> None:
    userinfo_provider(api, people, scripted, identifierFilter=r"^\d+$")
    path = IDP.format(id="info")
    for bad in ("(?<=x)y", "a**", "[[:alpha:]"):
        refused = as_admin(api, "PATCH", path, IDP, people.admin, body={"identifierFilter": bad})
        assert refused.status == 400, refused.body
        assert "identifierFilter is not a valid regular expression" in refused.body["message"]
    assert api.identity_providers.get("info").identifier_filter == r"^\d+$"


def test_a_stored_filter_re2_refuses_lets_nobody_in(
    api: ApiServices, people: People, scripted: ScriptedProvider, audit: RecordingAudit
) -> None:
    """One saved before the filter was read as RE2: Memos could not match it either."""
    import dataclasses

    userinfo = userinfo_provider(api, people, scripted)
    stored = api.identity_providers.stored("info")
    old = dataclasses.replace(
        stored.provider, identifier_filter="^(?!root)", update_time=stored.provider.update_time + 1
    )
    assert api.idp_store.replace_provider(
        dataclasses.replace(stored, provider=old), stored.provider.update_time
    )
    refused = sign_in_as(api, userinfo, sub="ann")
    assert refused.status == 403 and refused.body["message"] == "identifier is not allowed"
    assert api.users.get_by_username("ann") is None
    assert any(e[0] is AuditEvent.REFUSED and "not a valid RE2" in e[4] for e in audit.events)


def test_closed_registration_refuses_unknown_identities(
    api: ApiServices, people: People, oidc_provider: OidcProvider
) -> None:
    provider_id = oidc(api, people, oidc_provider)
    api.settings.update_instance(disallow_user_registration=True, disallow_password_auth=False)
    sub = account(oidc_provider)
    refused = sso_sign_in(api, sso(provider_id, oidc_provider.code(sub)))
    assert refused.status == 403 and refused.body["message"] == "user registration is not allowed"
    assert api.users.get_by_username(sub) is None


def test_a_username_or_email_match_never_attaches_to_the_existing_account(
    api: ApiServices, people: People, oidc_provider: OidcProvider
) -> None:
    provider_id = oidc(api, people, oidc_provider)
    oidc_provider.account("alice", email="alice@example.com")
    answer = sso_sign_in(api, sso(provider_id, oidc_provider.code("alice")))
    assert answer.status == 200, answer.body
    made = answer.body["user"]["username"]
    assert made != "alice" and made.startswith("alice-")
    created = api.users.get_by_username(made)
    assert created is not None and created.id != people.alice.id
    assert api.linked_identities.list(people.alice) == []


def test_linking_needs_a_recent_sign_in_then_the_identity_signs_in_as_the_user(
    api: ApiServices, people: People, oidc_provider: OidcProvider, audit: RecordingAudit
) -> None:
    provider_id = oidc(api, people, oidc_provider)
    sub = account(oidc_provider)
    stale = SignIn.with_password(api.clock.now() - 3600)
    assert link_call(api, people.alice, sso(provider_id, oidc_provider.code(sub)), stale).status == 401
    linked = link_call(api, people.alice, sso(provider_id, oidc_provider.code(sub)))
    assert linked.status == 200, linked.body
    assert linked.body["idpName"] == f"identity-providers/{provider_id}" and linked.body["externUid"] == sub
    answer = sso_sign_in(api, sso(provider_id, oidc_provider.code(sub)))
    assert answer.status == 200 and answer.body["user"]["username"] == "alice"
    # bob cannot take it, nor list alice's.
    assert link_call(api, people.bob, sso(provider_id, oidc_provider.code(sub))).status == 409
    path = LINKS.format(username="alice")
    assert call_api(api, "GET", path, LINKS, context_for(people.bob)).status == 403
    listed = call_api(api, "GET", path, LINKS, context_for(people.admin))
    (shown,) = listed.body["linkedIdentities"]
    link_id = shown["name"].rsplit("/", 1)[1]
    gone = call_api(
        api,
        "DELETE",
        LINK.format(username="alice", id=link_id),
        LINK,
        context_for(people.alice, sign_in=SignIn.with_password(api.clock.now())),
    )
    assert gone.status == 200
    after = sso_sign_in(api, sso(provider_id, oidc_provider.code(sub)))
    assert after.status == 200 and after.body["user"]["username"] == sub
    kinds = [(e[0], e[1]) for e in audit.events if e[1] is CredentialKind.LINKED_IDENTITY]
    assert (AuditEvent.CREATED, CredentialKind.LINKED_IDENTITY) in kinds
    assert (AuditEvent.REVOKED, CredentialKind.LINKED_IDENTITY) in kinds


@pytest.mark.parametrize("route", [routes.SIGN_IN, routes.CREATE_SESSION], ids=["signin", "sessions"])
def test_a_linked_sign_in_racing_a_password_change_stores_no_credential(
    api: ApiServices,
    people: People,
    oidc_provider: OidcProvider,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    route: routes.Route,
) -> None:
    """An admin changes alice's password (which ends her sign-ins) after her linked identity
    was verified and her user read, before the sign-in's session or refresh family is stored:
    no sign-in is counted."""
    provider_id = oidc(api, people, oidc_provider)
    sub = account(oidc_provider)
    assert link_call(api, people.alice, sso(provider_id, oidc_provider.code(sub))).status == 200
    monkeypatch.setattr(
        api.sso_sign_in,
        "live_link",
        then_an_admin_changes_alices_password(api, people, api.sso_sign_in.live_link),
    )
    code = oidc_provider.code(sub)
    capsys.readouterr()
    answer = sso_sign_in(api, sso(provider_id, code), route)
    assert (answer.status, answer.body["message"], answer.cookies) == (
        400,
        "unmatched username and password",
        [],
    )
    assert counted(capsys, Metric.SIGN_INS) == 0
    assert api.logins.list_for_user(people.alice.id) == []


def test_a_user_with_totp_passes_it_after_the_provider(
    api: ApiServices, people: People, oidc_provider: OidcProvider, clock: FakeClock
) -> None:
    provider_id, sub = linked(api, people, oidc_provider, people.alice)
    enrolled = enrol_totp(api, people.alice)
    clock.advance(30)
    first = sso_sign_in(api, sso(provider_id, oidc_provider.code(sub)))
    challenge = challenge_of(first)
    assert first.cookies == [] and "accessToken" not in first.body
    done = second_step(api, routes.SIGN_IN, challenge, totpCode=code_at(enrolled.secret, api.clock.now()))
    assert token_claims(api, done)["amr"] == ["fed", "otp", "mfa"]


def test_an_archived_user_is_refused_after_the_provider(
    api: ApiServices, people: People, oidc_provider: OidcProvider
) -> None:
    provider_id, sub = linked(api, people, oidc_provider, people.bob)
    archived = as_admin(
        api,
        "PATCH",
        "/api/v1/users/bob",
        "/api/v1/users/{username}",
        people.admin,
        body={"state": "ARCHIVED"},
    )
    assert archived.status == 200
    assert sso_sign_in(api, sso(provider_id, oidc_provider.code(sub))).status == 403


# -- what the provider gets wrong -------------------------------------------------------------------


def test_a_replayed_code_and_another_clients_code_are_400s(
    api: ApiServices, people: People, oidc_provider: OidcProvider
) -> None:
    provider_id = oidc(api, people, oidc_provider)
    sub = account(oidc_provider)
    code = oidc_provider.code(sub)
    assert sso_sign_in(api, sso(provider_id, code)).status == 200
    replayed = sso_sign_in(api, sso(provider_id, code))
    assert replayed.status == 400 and "already" in replayed.body["message"]
    foreign = sso_sign_in(api, sso(provider_id, oidc_provider.code(account(oidc_provider), OTHER_CLIENT)))
    assert foreign.status == 400


def test_repeated_bad_codes_are_throttled(
    api: ApiServices, people: People, oidc_provider: OidcProvider
) -> None:
    provider_id = oidc(api, people, oidc_provider)
    statuses = [sso_sign_in(api, sso(provider_id, f"guess-{i}")).status for i in range(7)]
    assert statuses[:5] == [400] * 5 and statuses[-1] == 429


ANOTHER_CLIENT = "the ID token is for another client"


@pytest.mark.parametrize(
    ("token", "message"),
    [
        pytest.param(lambda s: s.id_token(aud="another-client"), ANOTHER_CLIENT, id="another audience"),
        pytest.param(lambda s: s.id_token(exp=int(time.time()) - 3600), "has expired", id="expired"),
        # JSON's NaN and Infinity, which PyJWT parses: no comparison may let them through.
        pytest.param(lambda s: s.id_token(exp=float("nan")), "has expired", id="exp NaN"),
        pytest.param(lambda s: s.id_token(exp=float("inf")), "has expired", id="exp Infinity"),
        pytest.param(lambda s: s.id_token(iat=float("nan")), "issued in the future", id="iat NaN"),
        pytest.param(
            lambda s: s.id_token(iss="https://elsewhere.example"),
            "the ID token is from another issuer",
            id="another issuer",
        ),
        # OIDC Core §3.1.3.7 item 5: an azp present is the client's, one audience or several.
        pytest.param(lambda s: s.id_token(azp="another-client"), ANOTHER_CLIENT, id="another azp"),
        pytest.param(
            lambda s: s.id_token(aud=["scripted-client", "other"], azp="other"),
            ANOTHER_CLIENT,
            id="azp of another aud",
        ),
        pytest.param(
            lambda s: s.id_token(aud=["scripted-client", "other"]),
            ANOTHER_CLIENT,
            id="several auds and no azp",
        ),
        # RFC 7517 §4.4: the key declares RS256 (ScriptedProvider.jwks); PS256 is not it.
        pytest.param(
            lambda s: s.id_token(algorithm="PS256"),
            "the ID token's algorithm is not its key's",
            id="PS256 on an RS256 key",
        ),
        pytest.param(
            lambda s: s.id_token()[:-6] + "AAAAAA",
            "the ID token's signature is not valid",
            id="bad signature",
        ),
        pytest.param(
            lambda s: jwt.encode(
                jwt.decode(s.id_token(), options={"verify_signature": False}),
                s.key,
                algorithm="RS256",
                headers={"kid": "k9"},
            ),
            "the ID token is signed with an unknown key",
            id="unknown kid",
        ),
        pytest.param(lambda s: "not.a.jwt", "the ID token is not a JWT", id="garbage"),
        pytest.param(
            lambda s: jwt.encode(
                {"sub": "x", "aud": "scripted-client", "iss": s.url, "exp": 2**40, "iat": 0}, "k" * 32
            ),
            "the ID token's algorithm is not accepted",
            id="hs256",
        ),
    ],
)
def test_an_id_token_that_does_not_verify_is_a_400_and_no_sign_in(
    api: ApiServices, people: People, scripted: ScriptedProvider, token: Any, message: str
) -> None:
    scripted.as_issuer(lambda: token(scripted))
    body = oidc_body(scripted.url, "scripted-client")
    body["config"]["oidcConfig"]["clientSecret"] = "s"
    assert create_provider(api, people.admin, body, "scripted").status == 200
    answer = sso_sign_in(api, sso("scripted", "any-code"))
    assert answer.status == 400 and answer.body["code"] == 3, answer.body
    assert message in answer.body["message"]
    assert api.users.get_by_username("scripted") is None


def test_an_azp_that_is_the_client_and_an_algorithm_a_key_does_not_rule_out_sign_in(
    api: ApiServices, people: People, scripted: ScriptedProvider
) -> None:
    """The two checks above refuse only what they must: an azp present and the client's
    passes, and a key that declares no `alg` verifies any algorithm of its type."""
    tokens = iter([scripted.id_token(azp="scripted-client"), scripted.id_token(algorithm="PS256")])
    scripted.as_issuer(lambda: next(tokens))
    undeclared = [{k: v for k, v in key.items() if k != "alg"} for key in scripted.jwks()["keys"]]
    scripted.routes["/jwks"] = lambda _: json_reply({"keys": undeclared})
    assert create_provider(api, people.admin, scripted_oidc(scripted), "scripted").status == 200
    for code in ("code-1", "code-2"):
        answer = sso_sign_in(api, sso("scripted", code))
        assert answer.status == 200 and answer.body["user"]["username"] == "scripted", answer.body


def test_the_key_set_is_read_again_for_a_new_kid_after_the_cooldown_and_once_it_is_old(
    api: ApiServices, people: People, scripted: ScriptedProvider, clock: FakeClock
) -> None:
    """A provider's key rotation on the injectable clock: a token under a kid the cached set
    lacks reads the set again, no sooner than the cooldown after the last read (made-up kids
    cost the provider one read each cooldown); and a set older than its age limit is read
    again, so a key the provider dropped stops verifying."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    rotated = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    keys = [rsa_jwk(scripted.key, "k1")]
    signer = {"k1": scripted.key, "k2": rotated, "k9": rotated}
    kid = "k1"

    def token() -> str:
        return scripted.id_token(key=signer[kid], kid=kid, now=clock.now())

    scripted.as_issuer(token)
    scripted.routes["/jwks"] = lambda _: json_reply({"keys": keys})
    assert create_provider(api, people.admin, scripted_oidc(scripted), "keys").status == 200
    addresses = iter(f"203.0.113.{i}" for i in range(1, 100))

    def signed_in(expected: int) -> int:
        """Sign in (each from its own address: refusals are not throttled) and check the
        answer; how many times the key set has been read so far."""
        answer = sso_sign_in(api, sso("keys", "code"), source_ip=next(addresses))
        assert answer.status == expected, answer.body
        if expected == 400:
            assert answer.body["message"] == "the ID token is signed with an unknown key"
        return sum(1 for path, _ in scripted.received if path == "/jwks")

    assert signed_in(200) == 1
    keys.append(rsa_jwk(rotated, "k2"))
    kid = "k2"
    clock.advance(JWKS_REFRESH_COOLDOWN_SECONDS - 1)
    assert signed_in(400) == 1
    clock.advance(1)
    assert signed_in(200) == 2
    kid = "k9"
    assert [signed_in(400) for _ in range(3)] == [2, 2, 2]
    clock.advance(JWKS_REFRESH_COOLDOWN_SECONDS)
    assert [signed_in(400) for _ in range(3)] == [3, 3, 3]
    # The provider drops k1: the cached set still verifies it until it is too old.
    del keys[0]
    kid = "k1"
    assert signed_in(200) == 3
    clock.advance(JWKS_MAX_AGE_SECONDS)
    assert signed_in(400) == 4


def _ec_token(scripted: ScriptedProvider, algorithm: str = "ES256") -> str:
    """An ID token signed with a P-256 key under the kid of the script's RSA key."""
    from cryptography.hazmat.primitives.asymmetric import ec

    token = scripted.id_token("ES256", key=ec.generate_private_key(ec.SECP256R1()), sub="s")
    if algorithm == "ES256":
        return token
    # The same signature under another EC algorithm's name: PyJWT refuses the curve.
    _, payload, signature = token.split(".")
    header = base64.urlsafe_b64encode(f'{{"alg":"{algorithm}","kid":"k1"}}'.encode()).rstrip(b"=")
    return f"{header.decode()}.{payload}.{signature}"


def _ec_jwks(scripted: ScriptedProvider) -> dict[str, Any]:
    from cryptography.hazmat.primitives.asymmetric import ec

    public = json.loads(
        jwt.algorithms.ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()).public_key())
    )
    return {"keys": [{**public, "kid": "k1", "use": "sig"}]}


@pytest.mark.parametrize(
    ("keys", "token", "status", "message"),
    [
        pytest.param(lambda s: json_reply({"keys": []}), None, 400, "no usable key", id="no keys"),
        pytest.param(lambda s: json_reply({}), None, 400, "no usable key", id="no keys member"),
        pytest.param(lambda s: json_reply({"keys": "k1"}), None, 400, "no usable key", id="keys not a list"),
        pytest.param(
            lambda s: json_reply({"keys": [{"kty": "RSA", "kid": "k1"}, {"kty": "nope"}]}),
            None,
            400,
            "no usable key",
            id="no usable key",
        ),
        pytest.param(
            lambda s: json_reply(s.jwks()), _ec_token, 400, "not of its algorithm's type", id="ES256 on RSA"
        ),
        pytest.param(
            lambda s: json_reply(_ec_jwks(s)),
            lambda s: _ec_token(s, "ES384"),
            400,
            "the ID token is not valid",
            id="ES384 on P-256",
        ),
        pytest.param(lambda s: (500, "text/plain", b"down"), None, 503, "unavailable", id="keys down"),
        pytest.param(lambda s: STALL, None, 503, "unavailable", id="keys stalled"),
    ],
)
def test_a_key_set_that_proves_nothing_is_a_400_and_one_out_of_reach_a_503(
    api: ApiServices,
    people: People,
    scripted: ScriptedProvider,
    audit: RecordingAudit,
    keys: Any,
    token: Any,
    status: int,
    message: str,
) -> None:
    """Never a 500: what the provider's key set or the token's key gets wrong is the provider's."""
    api.provider_calls.protocol.http.timeouts = Timeouts(connect=0.2, read=0.2, deadline=0.4)
    scripted.as_issuer(lambda: (token or ScriptedProvider.id_token)(scripted))
    scripted.routes["/jwks"] = lambda _: keys(scripted)
    assert create_provider(api, people.admin, scripted_oidc(scripted), "keys").status == 200
    answer = sso_sign_in(api, sso("keys", "any-code"))
    assert answer.status == status and message in answer.body["message"], answer.body
    assert api.users.get_by_username("s") is None and api.users.get_by_username("scripted") is None
    assert any(e[0] is AuditEvent.REFUSED and e[3] == "keys" for e in audit.events)


# What a provider's access token may be, to see it never reach an answer or a log line.
SECRET_TOKEN = "provider-access-token-c0ffee"


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param((200, "text/html", b"<html>"), id="not json"),
        pytest.param(json_reply(["a list"]), id="not an object"),
        pytest.param(json_reply({"token_type": "Bearer"}), id="no access token"),
        pytest.param((302, "text/plain", b""), id="a redirect"),
        pytest.param(json_reply({"error": "invalid_grant"}, 400), id="invalid_grant"),
        pytest.param(json_reply({"access_token": f"{SECRET_TOKEN}\r\nX-Injected: 1"}), id="CRLF token"),
        pytest.param((200, "application/json", b"[" * 100_000), id="nested too deep"),
        pytest.param((400, "application/json", b'{"error": ' + b"[" * 100_000), id="error nested too deep"),
    ],
)
def test_garbage_from_the_token_endpoint_is_a_400(
    api: ApiServices,
    people: People,
    scripted: ScriptedProvider,
    reply: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    scripted.routes["/token"] = lambda _: reply
    scripted.routes["/me"] = lambda _: json_reply({"sub": "x"})
    assert (
        create_provider(api, people.admin, oauth2_body(scripted.url, "c", secret="s"), "garbage").status
        == 200
    )
    answer = sso_sign_in(api, sso("garbage", "code"))
    assert answer.status == 400, answer.body
    assert SECRET_TOKEN not in answer.body["message"] + capsys.readouterr().out


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param((200, "application/json", b"[" * 100_000), id="nested too deep"),
        pytest.param((200, "application/json", b"{}"), id="no sub"),
    ],
)
def test_garbage_from_the_userinfo_endpoint_is_a_400(
    api: ApiServices, people: People, scripted: ScriptedProvider, reply: Any
) -> None:
    scripted.routes["/token"] = lambda _: json_reply({"access_token": SECRET_TOKEN})
    scripted.routes["/me"] = lambda _: reply
    made = create_provider(api, people.admin, oauth2_body(scripted.url, "c", secret="s"), "garbage")
    assert made.status == 200, made.body
    answer = sso_sign_in(api, sso("garbage", "code"))
    assert answer.status == 400, answer.body
    assert answer.body["message"].startswith("the identity provider"), answer.body


def test_a_provider_that_is_down_or_slow_is_a_503_in_time(
    api: ApiServices, people: People, scripted: ScriptedProvider
) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    assert create_provider(api, people.admin, oauth2_body(down, "c", secret="s"), "down").status == 200
    scripted.routes["/token"] = lambda _: STALL
    assert (
        create_provider(api, people.admin, oauth2_body(scripted.url, "c", secret="s"), "slow").status == 200
    )
    api.sso_sign_in.identities.protocol.http.timeouts = Timeouts(connect=0.2, read=0.2, deadline=0.4)
    for provider_id in ("down", "slow"):
        started = time.monotonic()
        answer = sso_sign_in(api, sso(provider_id, "code"))
        assert answer.status == 503 and answer.body["code"] == 14, answer.body
        assert time.monotonic() - started < 2


@pytest.mark.parametrize("busy", ["/token", "/me"])
def test_a_provider_limiting_this_services_calls_is_a_503_never_counted_against_the_caller(
    api: ApiServices, people: People, scripted: ScriptedProvider, busy: str
) -> None:
    """A 429 of the provider (RFC 6585) limits what every user of this service shares."""
    scripted.answer_oauth2({"sub": "someone"})
    scripted.routes[busy] = lambda _: json_reply({"error": "slow_down"}, 429)
    made = create_provider(api, people.admin, oauth2_body(scripted.url, "c", secret="s"), "busy")
    assert made.status == 200, made.body
    answers = [sso_sign_in(api, sso("busy", f"code-{i}")) for i in range(6)]
    assert [(answer.status, answer.body["code"]) for answer in answers] == [(503, 14)] * 6


def test_an_answer_over_the_size_cap_is_refused(
    api: ApiServices, people: People, scripted: ScriptedProvider
) -> None:
    scripted.routes["/token"] = lambda _: (200, "application/json", b" " * (1024 * 1024 + 1))
    assert create_provider(api, people.admin, oauth2_body(scripted.url, "c", secret="s"), "big").status == 200
    assert sso_sign_in(api, sso("big", "code")).status == 503


def test_deleting_a_provider_removes_its_links_and_sign_ins(
    api: ApiServices, people: People, oidc_provider: OidcProvider, audit: RecordingAudit
) -> None:
    provider_id, sub = linked(api, people, oidc_provider, people.alice)
    assert as_admin(api, "DELETE", IDP.format(id=provider_id), IDP, people.admin).status == 200
    assert api.linked_identities.list(people.alice) == []
    assert sso_sign_in(api, sso(provider_id, oidc_provider.code(sub))).status == 404
    assert (AuditEvent.REVOKED, CredentialKind.IDENTITY_PROVIDER) in [(e[0], e[1]) for e in audit.events]


def test_deleting_a_user_removes_their_links(
    api: ApiServices, people: People, oidc_provider: OidcProvider, audit: RecordingAudit
) -> None:
    provider_id, sub = linked(api, people, oidc_provider, people.bob)
    [link] = api.idp_store.links_of_user(people.bob.id)
    deleted = as_admin(api, "DELETE", "/api/v1/users/bob", "/api/v1/users/{username}", people.admin)
    assert deleted.status == 200, deleted.body
    assert api.idp_store.links_of_user(people.bob.id) == []
    kind = CredentialKind.LINKED_IDENTITY
    assert (AuditEvent.REVOKED, kind, people.bob.id, link.link_id, "user deleted") in audit.events
    again = sso_sign_in(api, sso(provider_id, oidc_provider.code(sub)))
    assert again.status == 200 and again.body["user"]["username"] == sub


def test_a_link_whose_user_is_gone_is_removed_audited_and_the_identity_is_new_again(
    api: ApiServices, people: People, oidc_provider: OidcProvider, audit: RecordingAudit
) -> None:
    provider_id, sub = linked(api, people, oidc_provider, people.bob)
    [link] = api.idp_store.links_of_user(people.bob.id)
    # As a link made while its user was being deleted is left: pointing at no user.
    dead = dataclasses.replace(link, user_id=people.bob.id + 1000)
    assert api.idp_store.delete_link(link) and api.idp_store.put_link(dead)
    again = sso_sign_in(api, sso(provider_id, oidc_provider.code(sub)))
    assert again.status == 200 and again.body["user"]["username"] == sub
    revoked = (
        AuditEvent.REVOKED,
        CredentialKind.LINKED_IDENTITY,
        dead.user_id,
        dead.link_id,
        "dead link removed: its user is gone",
    )
    assert revoked in audit.events
    assert api.idp_store.links_of_user(dead.user_id) == []


def unlink(api: ApiServices, owner: User, link_id: str, caller: dict[str, str]) -> Any:
    return call_api(api, "DELETE", LINK.format(username=owner.username, id=link_id), LINK, caller)


def signed_in_now(api: ApiServices, user: User) -> dict[str, str]:
    return context_for(user, sign_in=SignIn.with_password(api.clock.now()))


def test_an_sso_only_user_cannot_unlink_their_only_way_in_nor_sign_in_with_a_password(
    api: ApiServices, people: People, oidc_provider: OidcProvider, audit: RecordingAudit
) -> None:
    provider_id = oidc(api, people, oidc_provider)
    sub = account(oidc_provider)
    assert sso_sign_in(api, sso(provider_id, oidc_provider.code(sub))).status == 200
    user = api.users.get_by_username(sub)
    assert user is not None
    (link,) = api.linked_identities.list(user)
    refused = unlink(api, user, link.link_id, signed_in_now(api, user))
    assert (refused.status, refused.body["code"]) == (400, 9)
    assert refused.body["message"] == "this identity is your only way to sign in; it cannot be unlinked"
    # Nor may an admin take it away, and the refusal ends none of the user's logins.
    by_admin = unlink(api, user, link.link_id, signed_in_now(api, people.admin))
    assert (by_admin.status, by_admin.body["code"]) == (400, 9)
    assert api.linked_identities.list(user) == [link] and len(api.logins.list_for_user(user.id)) == 1
    password = sign_in_password(api, sub)
    assert password.status == 400 and password.body["message"] == "unmatched username and password"
    refusals = [
        (e[2], e[3], e[4])
        for e in audit.events
        if e[0] is AuditEvent.REFUSED and e[1] is CredentialKind.LINKED_IDENTITY
    ]
    assert refusals == [
        (user.id, link.link_id, "unlink of the only way in by the user"),
        (user.id, link.link_id, f"unlink of the only way in by admin {people.admin.id}"),
    ]
    assert (AuditEvent.REFUSED, CredentialKind.PASSWORD, user.id, "", "no password set") in audit.events


def test_a_user_refused_password_sign_in_cannot_unlink_their_only_way_in(
    api: ApiServices, people: People, oidc_provider: OidcProvider
) -> None:
    """alice has a password, but `disallowPasswordAuth` refuses it (SPEC §3): her identity is
    her only way in, as it would be without one."""
    linked(api, people, oidc_provider, people.alice)
    (link,) = api.linked_identities.list(people.alice)
    api.settings.update_instance(disallow_password_auth=True)
    assert sign_in_password(api, "alice").status == 403
    for caller in (people.alice, people.admin):
        refused = unlink(api, people.alice, link.link_id, signed_in_now(api, caller))
        assert (refused.status, refused.body["code"]) == (400, 9), refused.body
    assert api.linked_identities.list(people.alice) == [link]
    # An admin's password is never refused, so the admin's last identity may go.
    linked(api, people, oidc_provider, people.admin)
    (admins,) = api.linked_identities.list(people.admin)
    assert unlink(api, people.admin, admins.link_id, signed_in_now(api, people.admin)).status == 200
    api.settings.update_instance(disallow_password_auth=False)
    assert unlink(api, people.alice, link.link_id, signed_in_now(api, people.alice)).status == 200


def test_unlinkings_racing_for_a_users_last_links_leave_them_one(
    api: ApiServices,
    people: People,
    oidc_provider: OidcProvider,
    monkeypatch: pytest.MonkeyPatch,
    audit: RecordingAudit,
) -> None:
    """Each unlinking below lists the links as the eventually consistent byUser index may,
    before any of them was removed (as two that race both do): the user still keeps one."""
    provider_id = oidc(api, people, oidc_provider)
    sub = account(oidc_provider)
    assert sso_sign_in(api, sso(provider_id, oidc_provider.code(sub))).status == 200
    user = api.users.get_by_username(sub)
    assert user is not None
    subs = {provider_id: sub} | dict(linked(api, people, oidc_provider, user) for _ in range(2))
    listed = api.linked_identities.list(user)
    monkeypatch.setattr(api.idp_store, "links_of_user", lambda _: list(listed))
    first, second, third = listed
    # An admin's unlinking (its transaction holds the user's cut-off too), then the user's,
    # whose listing names one link gone already.
    assert unlink(api, user, first.link_id, signed_in_now(api, people.admin)).status == 200
    assert unlink(api, user, second.link_id, signed_in_now(api, user)).status == 200
    for caller in (user, people.admin):
        refused = unlink(api, user, third.link_id, signed_in_now(api, caller))
        assert (refused.status, refused.body["code"]) == (400, 9), refused.body
    # Refused only once the links it listed were found gone: audited all the same.
    refused_links = [e[3] for e in audit.events if e[0] is AuditEvent.REFUSED]
    assert refused_links == [third.link_id, third.link_id]
    monkeypatch.undo()
    assert api.linked_identities.list(user) == [third]
    again = sso_sign_in(api, sso(third.provider_id, oidc_provider.code(subs[third.provider_id])))
    assert again.status == 200 and again.body["user"]["username"] == sub


def test_an_admins_unlinking_needs_the_admins_recent_sign_in_never_a_pat_and_ends_every_login(
    api: ApiServices, people: People, oidc_provider: OidcProvider, clock: FakeClock, audit: RecordingAudit
) -> None:
    linked(api, people, oidc_provider, people.alice)
    (link,) = api.linked_identities.list(people.alice)
    api.sessions.create(people.alice, CLIENT)
    api.refresh_tokens.issue(people.alice, CLIENT)
    access_token = api.access_tokens.issue(people.alice, SignIn.with_password(clock.now())).token
    clock.advance(1)
    stale = context_for(people.admin, sign_in=SignIn.with_password(clock.now() - 3600))
    assert unlink(api, people.alice, link.link_id, stale).status == 401
    pat = context_for(people.admin, method=AuthMethod.PAT, credential_id="ci")
    assert unlink(api, people.alice, link.link_id, pat).status == 403
    assert api.linked_identities.list(people.alice) == [link]
    assert len(api.logins.list_for_user(people.alice.id)) == 2
    assert unlink(api, people.alice, link.link_id, signed_in_now(api, people.admin)).status == 200
    assert api.linked_identities.list(people.alice) == [] and api.logins.list_for_user(people.alice.id) == []
    assert refused_after_the_lag(api, clock, access_token)
    (revoked,) = [
        e for e in audit.events if e[0] is AuditEvent.REVOKED and e[1] is CredentialKind.LINKED_IDENTITY
    ]
    assert revoked[3] == link.link_id and revoked[4].endswith(f"by admin {people.admin.id}")


def sign_in_password(api: ApiServices, username: str) -> Any:
    from tests.support.factors import sign_in_call

    return sign_in_call(
        api, routes.SIGN_IN, {"passwordCredentials": {"username": username, "password": PASSWORD}}
    )


def test_a_providers_display_name_is_kept_without_its_control_characters(
    api: ApiServices, people: People, oidc_provider: OidcProvider
) -> None:
    # The provider's word is not refused (the person could not change it), only cleaned.
    provider_id = oidc(api, people, oidc_provider)
    sub = account(oidc_provider, name="Ann\x1b[2J Lee\n")
    answer = sso_sign_in(api, sso(provider_id, oidc_provider.code(sub)))
    assert answer.status == 200, answer.body
    user = api.users.get_by_username(sub)
    assert user is not None and user.display_name == "Ann[2J Lee"


def test_a_provider_is_made_or_changed_only_with_the_admins_recent_sign_in_never_a_pat(
    api: ApiServices, people: People, clock: FakeClock
) -> None:
    """A provider's change keeps its links: pointed at a userinfo URL of one's own, it would
    sign in whoever one names as a linked user. A stolen admin PAT or an old session must
    not be enough for that."""
    body = oauth2_body("https://idp.example", "client", secret="s")
    assert create_provider(api, people.admin, body, "corp").status == 200
    clock.advance(3600)
    stale = context_for(people.admin, sign_in=SignIn.with_password(clock.now() - 3600))
    pat = context_for(people.admin, method=AuthMethod.PAT, credential_id="ci")
    change = {
        "config": {
            "oauth2Config": {**body["config"]["oauth2Config"], "userInfoUrl": "https://evil.example/me"}
        }
    }
    for caller, refused in ((stale, 401), (pat, 403)):
        answer = call_api(
            api, "PATCH", IDP.format(id="corp"), routes.UPDATE_IDENTITY_PROVIDER.path, caller, body=change
        )
        assert answer.status == refused, answer.body
        made = call_api(api, "POST", IDPS, IDPS, caller, body=body)
        assert made.status == refused, made.body
    assert api.identity_providers.get("corp").config.user_info_url == "https://idp.example/me"
    assert [provider.id for provider in api.identity_providers.list()] == ["corp"]


def _b64(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).rstrip(b"=").decode()


def _nonce_a_lone_surrogate(scripted: ScriptedProvider) -> str:
    """A token the provider signed whose `nonce` is JSON "\\ud800" (PyJWT's json.loads takes it)."""
    header, body, _ = scripted.id_token(nonce="PLACEHOLDER").split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    raw = json.dumps(claims).replace('"PLACEHOLDER"', '"\\ud800"').encode()
    signing_input = f"{header}.{_b64(raw)}".encode()
    signature = jwt.algorithms.RSAAlgorithm(jwt.algorithms.RSAAlgorithm.SHA256).sign(
        signing_input, scripted.key
    )
    return f"{header}.{_b64(raw)}.{_b64(signature)}"


@pytest.mark.parametrize("answer", ["alg a list", "nonce a lone surrogate", "a key's alg a list"])
def test_a_providers_malformed_id_token_or_key_set_is_its_fault_a_400(
    api: ApiServices, people: People, scripted: ScriptedProvider, audit: RecordingAudit, answer: str
) -> None:
    nonce = None
    if answer == "alg a list":
        scripted.as_issuer(lambda: _b64(b'{"alg":["RS256"],"kid":"k1"}') + "." + _b64(b"{}") + ".AAAA")
    elif answer == "nonce a lone surrogate":
        scripted.as_issuer(lambda: _nonce_a_lone_surrogate(scripted))
        nonce = "n-1"
    else:
        scripted.as_issuer(lambda: scripted.id_token())
        scripted.routes["/jwks"] = lambda _: json_reply(
            {"keys": [{**rsa_jwk(scripted.key, "k1"), "alg": ["RS256"]}]}
        )
    assert create_provider(api, people.admin, scripted_oidc(scripted), "scripted").status == 200
    refused = sso_sign_in(api, sso("scripted", "any-code", nonce=nonce))
    assert refused.status == 400 and refused.body["code"] == 3, refused.body
    assert any(e[0] is AuditEvent.REFUSED and e[1] is CredentialKind.LINKED_IDENTITY for e in audit.events)
