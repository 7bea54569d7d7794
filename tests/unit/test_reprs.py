"""No secret reaches a log line or a traceback through a repr.

Every dataclass of the domain, the handlers and the importer that holds a secret, a token,
a password, a passkey's credential or a hash of one keeps that field out of its repr
(`field(repr=False)`), and so does every request and response body (pydantic's
`Field(repr=False)`: a body is what a handler holds when something raises): the rule is
checked by the fields' names (camelCase read as snake_case), so a new record with a `…_hash`
or `secret` field is held to it without a test of its own.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import pkgutil
import re
from collections.abc import Iterator
from types import ModuleType

import pytest
from pydantic import BaseModel

from auth.factors import TotpEnrolment
from auth.mfa_sign_in import SecondFactor
from auth.models import Role, State, TokenOwner, User
from auth.stores.pat_store import PatRecord
from auth.tokens import IssuedToken, SigningKey
from handlers import bodies
from handlers.bodies import PasswordCredentials

# A passkey's credential (a registration response, an assertion) is signed over a ceremony's
# challenge, and an assertion signs in: held to the rule like a code.
SECRET_NAMES = re.compile(
    r"(^|_)(token|secret|sealed|password|hash|hashes|code|codes|challenge|verifier|nonce|otpauth"
    r"|credential|passkey)($|_)"
)
# Names that match but hold no secret: ids, table names, durations, addresses, switches,
# expiry times, a listing's cursor, and bodies that only hold other bodies (checked themselves).
NOT_SECRET = re.compile(
    r"_(id|table|ttl|url|endpoint|expires_at|credentials)$|^disallow_|^next_page_token$|^personal_access_token$"
)
PACKAGES = ("auth", "handlers", "tools.memos_import")


def _modules() -> Iterator[ModuleType]:
    for name in PACKAGES:
        package = importlib.import_module(name)
        yield package
        for info in pkgutil.walk_packages(package.__path__, f"{name}."):
            yield importlib.import_module(info.name)


def _is_secret(name: str, annotation: object) -> bool:
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()
    return (
        bool(SECRET_NAMES.search(snake))
        and not NOT_SECRET.search(snake)
        and not re.search(r"\b(int|bool)\b", str(annotation))
        # A body held by another (a listed passkey): its own fields are checked.
        and not (isinstance(annotation, type) and issubclass(annotation, BaseModel))
    )


def _fields_of(record: type) -> Iterator[tuple[str, object, bool]]:
    """Each field of a dataclass or a pydantic model: its name, its type, whether repr shows it."""
    if dataclasses.is_dataclass(record):
        for f in dataclasses.fields(record):
            yield f.name, f.type, f.repr
    elif issubclass(record, BaseModel):
        for name, info in record.model_fields.items():
            yield name, info.annotation, info.repr


def _secret_fields() -> list[tuple[str, str]]:
    found = []
    for module in _modules():
        for value in vars(module).values():
            if isinstance(value, type) and value.__module__ == module.__name__:
                found += [
                    (f"{value.__module__}.{value.__qualname__}.{name}", str(shown))
                    for name, annotation, shown in _fields_of(value)
                    if _is_secret(name, annotation)
                ]
    return found


def test_the_rule_finds_the_records_that_hold_secrets() -> None:
    names = {name for name, _ in _secret_fields()}
    # If the name rule stopped matching, the test below would pass with nothing to check.
    assert {
        "auth.models.User.password_hash",
        "auth.tokens.SigningKey.secret",
        "auth.stores.pat_store.PatRecord.token_hash",
        "auth.stores.session_store.SessionRecord.secret_hash",
        "tools.memos_import.rows.UserRow.password_hash",
        "handlers.bodies.PasswordCredentials.password",
        "handlers.bodies.SignedIn.accessToken",
        "handlers.bodies.SsoCredentials.codeVerifier",
        # The otpauth:// URI holds the TOTP secret; an MFA challenge with a code finishes a sign-in.
        "auth.factors.TotpEnrolment.otpauth_uri",
        "auth.mfa_sign_in.SecondFactor.challenge",
        # A passkey's assertion or registration response, wherever a body holds one.
        "auth.mfa_sign_in.SecondFactor.passkey",
        "handlers.bodies.MfaCredentials.passkey",
        "handlers.bodies.PasskeyCredentials.credential",
        "handlers.bodies.RegisterPasskeyRequest.credential",
    } <= names


@pytest.mark.parametrize(("field", "shown"), _secret_fields())
def test_a_secret_field_is_not_in_the_repr(field: str, shown: str) -> None:
    assert shown == "False", f"{field} would be printed by repr(); declare it field(repr=False)"


def test_reprs_show_what_identifies_a_record_and_never_the_secret() -> None:
    user = User(7, "ada", Role.USER, State.NORMAL, "$2b$12$hashhashhash", "Ada", "a@x", 1, 2)
    key = SigningKey("v2", b"k" * 32)
    token = IssuedToken("eyJ.secret.token", 99)
    pat = PatRecord("f" * 64, "tid", 7, "ci", 1, None, None, TokenOwner("ada", Role.USER, State.NORMAL))
    enrolment = TotpEnrolment(
        "JBSWY3DPEHPK3PXP", "otpauth://totp/memos:ada?secret=JBSWY3DPEHPK3PXP&issuer=memos"
    )
    second = SecondFactor("c" * 43, totp_code="123456")
    for record, secret, shown in (
        (user, "$2b$12$hashhashhash", "username='ada'"),
        (key, "kkkk", "kid='v2'"),
        (token, "eyJ.secret.token", "expires_at=99"),
        (pat, "f" * 64, "token_id='tid'"),
        (PasswordCredentials(username="ada", password="hunter2hunter2"), "hunter2", "username='ada'"),
        (enrolment, "JBSWY3DPEHPK3PXP", "TotpEnrolment("),
        (second, "c" * 43, "SecondFactor("),
    ):
        assert secret not in repr(record) and shown in repr(record)


# Each secret of a request as a client sends it: the markers must not reach a repr.
_ASSERTION = {"id": "credid", "type": "public-key", "response": {"signature": "SIGNATURE-MARK"}}
_REGISTRATION = {"id": "credid", "type": "public-key", "response": {"attestationObject": "ATTEST-MARK"}}
_CONFIG = {"oidcConfig": {"clientId": "memos", "clientSecret": "CLIENT-SECRET-MARK"}}
PARSED_BODIES: list[tuple[type[BaseModel], dict[str, object], str]] = [
    (bodies.SignInRequest, {"passwordCredentials": {"username": "ada", "password": "PASSWORD-MARK"}}, "ada"),
    (
        bodies.SignInRequest,
        {"mfaCredentials": {"challenge": "CHALLENGE-MARK", "totpCode": "CODE-MARK"}},
        "mfaCredentials=",
    ),
    (
        bodies.SignInRequest,
        {"mfaCredentials": {"challenge": "c", "recoveryCode": "CODE-MARK"}},
        "mfaCredentials=",
    ),
    (bodies.SignInRequest, {"mfaCredentials": {"challenge": "c", "passkey": _ASSERTION}}, "mfaCredentials="),
    (bodies.SignInRequest, {"passkeyCredentials": {"credential": _ASSERTION}}, "passkeyCredentials="),
    (
        bodies.SignInRequest,
        {
            "ssoCredentials": {
                "idpName": "identity-providers/google",
                "code": "CODE-MARK",
                "redirectUri": "https://memos.example/callback",
                "codeVerifier": "VERIFIER-MARK",
                "nonce": "NONCE-MARK",
            }
        },
        "identity-providers/google",
    ),
    (bodies.RegisterPasskeyRequest, {"credential": _REGISTRATION, "displayName": "Laptop"}, "Laptop"),
    (bodies.PasskeyOptionsRequest, {"mfaChallenge": "CHALLENGE-MARK"}, "PasskeyOptionsRequest("),
    (bodies.ConfirmTotpRequest, {"code": "CODE-MARK"}, "ConfirmTotpRequest("),
    (bodies.SignUpRequest, {"user": {"username": "ada", "password": "PASSWORD-MARK"}}, "ada"),
    (bodies.UserUpdateRequest, {"password": "PASSWORD-MARK", "currentPassword": "PASSWORD-MARK"}, "role="),
    (bodies.IdentityProviderRequest, {"type": "OIDC", "title": "Google", "config": _CONFIG}, "memos"),
    (bodies.IdentityProviderUpdateRequest, {"config": _CONFIG}, "memos"),
]


@pytest.mark.parametrize(
    ("body", "sent", "shown"),
    PARSED_BODIES,
    ids=[f"{b.__name__}.{next(iter(s))}" for b, s, _ in PARSED_BODIES],
)
def test_a_parsed_request_body_never_shows_a_credential_in_its_repr(
    body: type[BaseModel], sent: dict[str, object], shown: str
) -> None:
    parsed = body.model_validate_json(json.dumps(sent))
    assert "MARK" in json.dumps(sent)
    assert "MARK" not in repr(parsed) and shown in repr(parsed), repr(parsed)
