"""Identity providers for the in-process suites (SPEC §8): registering one through the
admin API, signing in with `ssoCredentials`, and `ScriptedProvider`, a tiny local HTTP
server that answers as the test scripts it (garbage, a stall, ID tokens it signs itself
for another audience, an expired one ...), for what a real provider will not do.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from auth import routes
from auth.models import SignIn, User
from auth.routes import Route
from auth.wiring import ApiServices
from tests.support.factors import IP, sign_in_call
from tests.support.http_servers import serving
from tests.support.oidc_provider import REDIRECT_URI, OidcProvider, secret_of
from tests.support.people import Answer, call_api, context_for

IDPS = routes.LIST_IDENTITY_PROVIDERS.path
IDP = routes.GET_IDENTITY_PROVIDER.path
LINKS = routes.LIST_LINKED_IDENTITIES.path
LINK = routes.UNLINK_IDENTITY.path
MAPPING = {"identifier": "sub", "displayName": "name", "email": "email"}


def oidc_body(
    issuer: str, client_id: str, auth_style: str = "client_secret_post", **extra: Any
) -> dict[str, Any]:
    return {
        "type": "OIDC",
        "title": "Test OIDC",
        "config": {
            "oidcConfig": {
                "issuer": issuer,
                "clientId": client_id,
                "clientSecret": secret_of(client_id),
                "scopes": ["openid", "profile", "email"],
                "fieldMapping": MAPPING,
                "authStyle": auth_style,
            }
        },
        **extra,
    }


def oauth2_body(
    base: str, client_id: str, auth_style: str = "client_secret_post", secret: str | None = None, **extra: Any
) -> dict[str, Any]:
    """An OAUTH2 provider as Memos has them, on oidc-provider's (or a script's) endpoints."""
    return {
        "type": "OAUTH2",
        "title": "Test OAuth 2.0",
        "config": {
            "oauth2Config": {
                "clientId": client_id,
                "clientSecret": secret if secret is not None else secret_of(client_id),
                "authUrl": f"{base}/auth",
                "tokenUrl": f"{base}/token",
                "userInfoUrl": f"{base}/me",
                "scopes": ["openid", "profile", "email"],
                "fieldMapping": MAPPING,
                "authStyle": auth_style,
            }
        },
        **extra,
    }


def as_admin(api: ApiServices, method: str, path: str, route: str, admin: User, **kwargs: Any) -> Answer:
    return call_api(
        api, method, path, route, context_for(admin, sign_in=SignIn.with_password(api.clock.now())), **kwargs
    )


def create_provider(api: ApiServices, admin: User, body: dict[str, Any], provider_id: str) -> Answer:
    from handlers import api_context
    from handlers.api import handler
    from tests.support.events import FakeLambdaContext, http_event

    api_context.services.replace(api)
    context = context_for(admin, sign_in=SignIn.with_password(api.clock.now()))
    event = http_event("POST", IDPS, body=body, authorizer=context, query={"identityProviderId": provider_id})
    response = handler(event, FakeLambdaContext())
    return Answer(response["statusCode"], json.loads(response["body"]), [], response["headers"])


def sso(
    provider_id: str,
    code: str,
    verifier: str | None = None,
    nonce: str | None = None,
    redirect_uri: str = REDIRECT_URI,
) -> dict[str, Any]:
    credentials: dict[str, Any] = {
        "idpName": f"identity-providers/{provider_id}",
        "code": code,
        "redirectUri": redirect_uri,
    }
    if verifier is not None:
        credentials["codeVerifier"] = verifier
    if nonce is not None:
        credentials["nonce"] = nonce
    return credentials


def sso_sign_in(
    api: ApiServices, credentials: dict[str, Any], route: Route = routes.SIGN_IN, source_ip: str = IP
) -> Answer:
    return sign_in_call(api, route, {"ssoCredentials": credentials}, source_ip)


def link_call(
    api: ApiServices, user: User, credentials: dict[str, Any], sign_in: SignIn | None = None
) -> Answer:
    recent = sign_in or SignIn.with_password(api.clock.now())
    path = LINKS.format(username=user.username)
    return call_api(api, "POST", path, LINKS, context_for(user, sign_in=recent), body=credentials)


def fresh_code(provider: OidcProvider, account: str, **kwargs: Any) -> str:
    return provider.code(account, **kwargs)


# -- the scripted provider ----------------------------------------------------------------------

# A handler's answer: (status, content type, body); STALL holds the request until the end.
Reply = tuple[int, str, bytes]
STALL: Reply = (0, "", b"")


def json_reply(value: Any, status: int = 200) -> Reply:
    return status, "application/json", json.dumps(value).encode()


class _ProviderServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # memos-auth hangs up on purpose (an answer over its size cap, a deadline passed): a
        # reset then is the behaviour under test, not a fault of this server to print.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def rsa_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    """The public JWK of `key`, a signing key under `kid` that declares RS256."""
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {**public, "kid": kid, "use": "sig", "alg": "RS256"}


@dataclass
class ScriptedProvider:
    """A local HTTP server whose every path answers what `routes` says (404 otherwise)."""

    routes: dict[str, Callable[[dict[str, str]], Reply]] = field(default_factory=dict)
    received: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.released = threading.Event()
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        script = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                from urllib.parse import parse_qsl, urlsplit

                fields = dict(parse_qsl(raw)) | {"authorization": self.headers.get("Authorization", "")}
                path = urlsplit(self.path).path
                script.received.append((path, fields))
                reply = script.routes.get(path, lambda _: (404, "text/plain", b"no"))(fields)
                if reply is STALL:
                    # The stall: hold the answer until the test is over.
                    script.released.wait(timeout=30)
                    return
                status, content_type, body = reply
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = _answer
            do_POST = _answer

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = _ProviderServer(("127.0.0.1", 0), Handler)
        self._serving = contextlib.ExitStack()
        self._serving.enter_context(serving(self.server))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.released.set()
        self._serving.close()

    def answer_oauth2(self, userinfo: dict[str, Any]) -> None:
        """Exchange any code for an access token, and answer userinfo with `userinfo` as it
        is when asked (a test may fill it in later)."""
        self.routes["/token"] = lambda _: json_reply({"access_token": "at", "token_type": "Bearer"})
        self.routes["/me"] = lambda _: json_reply(userinfo)

    # -- an issuer of its own, for ID tokens a real provider would never send ------------------

    def jwks(self) -> dict[str, Any]:
        return {"keys": [rsa_jwk(self.key, "k1")]}

    def id_token(
        self,
        algorithm: str = "RS256",
        key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | None = None,
        kid: str = "k1",
        now: float | None = None,
        **claims: Any,
    ) -> str:
        """An ID token for the client `scripted-client`, issued `now` (the real time when not
        given) and signed under `kid` with `key` (the script's RSA key when not given) and
        `algorithm` (for that key an RSA one: PS256 too, which its declared RS256 does not
        allow)."""
        issued = int(time.time() if now is None else now)
        payload = {
            "iss": self.url,
            "sub": "scripted",
            "aud": "scripted-client",
            "iat": issued,
            "exp": issued + 300,
        }
        return jwt.encode(payload | claims, key or self.key, algorithm=algorithm, headers={"kid": kid})

    def as_issuer(self, id_token: Callable[[], str], issuer: str = "") -> None:
        """Discovery, keys and a token endpoint that answers `id_token()`; the document names
        `issuer` (its URL when not given: an issuer ending in "/" is another one)."""
        self.routes |= {
            "/.well-known/openid-configuration": lambda _: json_reply(
                {
                    "issuer": issuer or self.url,
                    "token_endpoint": f"{self.url}/token",
                    "jwks_uri": f"{self.url}/jwks",
                    "authorization_endpoint": f"{self.url}/auth",
                }
            ),
            "/jwks": lambda _: json_reply(self.jwks()),
            "/token": lambda _: json_reply(
                {"access_token": "at", "token_type": "Bearer", "id_token": id_token()}
            ),
        }
