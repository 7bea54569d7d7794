"""No secret reaches a log line or a traceback through a repr.

Every dataclass of the domain, the handlers and the importer that holds a secret, a token,
a password or a hash of one keeps that field out of its repr (`field(repr=False)`): the rule
is checked by the fields' names, so a new record with a `…_hash` or `secret` field is held
to it without a test of its own.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import re
from collections.abc import Iterator
from types import ModuleType

import pytest

from auth.factors import TotpEnrolment
from auth.mfa_sign_in import SecondFactor
from auth.models import Role, State, TokenOwner, User
from auth.stores.pat_store import PatRecord
from auth.tokens import IssuedToken, SigningKey

SECRET_NAMES = re.compile(r"(^|_)(token|secret|sealed|password|hash|hashes|code)($|_)")
# Names that match but hold no secret: ids, table names, durations, addresses and switches.
NOT_SECRET = re.compile(r"_(id|table|ttl|url|endpoint)$|^disallow_")
PACKAGES = ("auth", "handlers", "tools.memos_import")
# Secrets under names the rule cannot tell from harmless ones (a URI, a challenge): the
# otpauth:// URI holds the TOTP secret, and an MFA challenge with a code finishes a sign-in.
ALSO_SECRET = frozenset({"auth.factors.TotpEnrolment.otpauth_uri", "auth.mfa_sign_in.SecondFactor.challenge"})


def _modules() -> Iterator[ModuleType]:
    for name in PACKAGES:
        package = importlib.import_module(name)
        yield package
        for info in pkgutil.walk_packages(package.__path__, f"{name}."):
            yield importlib.import_module(info.name)


def _is_secret(name: str, f: dataclasses.Field[object]) -> bool:
    if name in ALSO_SECRET:
        return True
    return bool(SECRET_NAMES.search(f.name)) and not NOT_SECRET.search(f.name) and "int" not in str(f.type)


def _secret_fields() -> list[tuple[str, str]]:
    found = []
    for module in _modules():
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and dataclasses.is_dataclass(value)
                and value.__module__ == module.__name__
            ):
                for f in dataclasses.fields(value):
                    name = f"{value.__module__}.{value.__qualname__}.{f.name}"
                    if _is_secret(name, f):
                        found.append((name, str(f.repr)))
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
    } | ALSO_SECRET <= names


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
        (enrolment, "JBSWY3DPEHPK3PXP", "TotpEnrolment("),
        (second, "c" * 43, "SecondFactor("),
    ):
        assert secret not in repr(record) and shown in repr(record)
