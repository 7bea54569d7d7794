"""Password rules and bcrypt hashing (SPEC §3)."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import bcrypt

from auth.errors import InvalidArgument

MIN_PASSWORD_CHARS = 8
# bcrypt reads only the first 72 bytes; longer input is refused, never silently truncated.
MAX_PASSWORD_BYTES = 72
TOO_COMMON = "password is too common"
# The common-password list: zxcvbn's 30,000 most used passwords (lower case, most common
# first), shipped in its `frequency_lists.py` and pinned in src/requirements.txt.
COMMON_PASSWORDS_PACKAGE = "zxcvbn"
COMMON_PASSWORDS_FILE = "frequency_lists.py"
COMMON_PASSWORDS_LIST = "passwords"


def validate_password(password: str) -> None:
    if "\0" in password:
        # bcrypt joins the repeated key with NULs, so NULs blur passwords together: "\0" * 8
        # matches the empty password, "secret\0secret" matches "secret".
        raise InvalidArgument("password must not contain a NUL character")
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidArgument(f"password must be at least {MIN_PASSWORD_CHARS} characters")
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise InvalidArgument(f"password must be at most {MAX_PASSWORD_BYTES} bytes of UTF-8")
    if password.lower() in common_passwords():
        raise InvalidArgument(TOO_COMMON)


@functools.cache
def common_passwords() -> frozenset[str]:
    """The common-password list, loaded on the first check and kept for the container.

    Only the list's own module is run, not the zxcvbn package: importing that builds its
    matchers over every list it has (~125 ms and several MB) for one list we need. The
    authorizer never imports this module (tests/unit/test_cold_start.py).
    """
    package = importlib.util.find_spec(COMMON_PASSWORDS_PACKAGE)
    locations = package.submodule_search_locations if package is not None else None
    if not locations:
        raise RuntimeError(f"the {COMMON_PASSWORDS_PACKAGE} package is not installed")
    path = Path(next(iter(locations))) / COMMON_PASSWORDS_FILE
    spec = importlib.util.spec_from_file_location(f"_{COMMON_PASSWORDS_PACKAGE}_frequency_lists", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    lists: dict[str, list[str]] = module.FREQUENCY_LISTS
    return frozenset(lists[COMMON_PASSWORDS_LIST])


def hash_password(password: str, cost: int) -> str:
    validate_password(password)
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds=cost)).decode("ascii")


def verify_password(password: str, password_hash: str) -> bool:
    """Constant-time check (bcrypt compares in constant time); never raises on bad input."""
    encoded = password.encode("utf-8")
    # One stored before the rule, or Memos' (Go's bcrypt reads NULs as bytes): no such
    # password is ever one we hashed, and bcrypt blurs it with others ("x\0x" passes for "x").
    if len(encoded) > MAX_PASSWORD_BYTES or b"\0" in encoded:
        return False
    try:
        return bcrypt.checkpw(encoded, password_hash.encode("ascii"))
    except ValueError:
        return False


@functools.cache
def _decoy_hash(cost: int) -> str:
    return bcrypt.hashpw(b"memos-auth decoy password", bcrypt.gensalt(rounds=cost)).decode("ascii")


def spend_verify_time(password: str, cost: int) -> None:
    """Do the work of one verification when there is no user, so an unknown username takes
    as long as a wrong password and cannot be told apart by timing."""
    verify_password(password, _decoy_hash(cost))
