"""SPEC §3: username and password rules, bcrypt hashing."""

from __future__ import annotations

import secrets

import bcrypt
import pytest

from auth.errors import InvalidArgument
from auth.passwords import (
    MIN_PASSWORD_CHARS,
    TOO_COMMON,
    common_passwords,
    hash_password,
    validate_password,
    verify_password,
)
from auth.usernames import is_valid_username


@pytest.mark.parametrize("name", ["a", "A1", "alice", "a-b", "x" * 36, "0-9"])
def test_valid_usernames(name: str) -> None:
    assert is_valid_username(name)


@pytest.mark.parametrize("name", ["", "-a", "a-", "x" * 37, "a_b", "a b", "ä", "a.b", "a\n", "../x", "a\x00"])
def test_invalid_usernames(name: str) -> None:
    assert not is_valid_username(name)


@pytest.mark.parametrize(
    "password", ["short", "1234567", "é" * 37, "x" * 73, "\0" * 8, "password\0password", "abcdefgh\0"]
)
def test_invalid_passwords(password: str) -> None:
    with pytest.raises(InvalidArgument):
        validate_password(password)


# Well known ones, in the list's lower case and in others (the check ignores case).
COMMON = ["password", "12345678", "Password", "PASSWORD", "Password1", "qwertyuiop", "iloveyou", "11111111"]


@pytest.mark.parametrize("password", COMMON)
def test_common_passwords_are_refused(password: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        validate_password(password)
    assert refused.value.message == TOO_COMMON == "password is too common"


def test_a_common_password_is_never_hashed() -> None:
    with pytest.raises(InvalidArgument, match=r"^password is too common$"):
        hash_password("password", cost=4)


def test_the_list_is_the_packages_and_holds_10_000_passwords_the_length_rule_lets_through() -> None:
    listed = common_passwords()
    # zxcvbn's list: 30,000 entries, most common first, lower case.
    assert len(listed) == 30_000 and all(entry == entry.lower() for entry in listed)
    assert sum(len(entry) >= MIN_PASSWORD_CHARS for entry in listed) >= 10_000
    assert common_passwords() is listed  # loaded once


def test_a_strong_random_password_is_accepted() -> None:
    validate_password(secrets.token_urlsafe(18))


def test_the_test_suites_passwords_are_not_common() -> None:
    for password in [
        "correct horse battery",
        "a brand new password",
        "a brand new passphrase",
        "another good password",
        "incorrect pony staple",
    ]:
        validate_password(password)


def test_72_bytes_is_the_longest_password() -> None:
    validate_password("x" * 72)
    validate_password("é" * 36)


def test_hash_uses_the_configured_cost_and_verifies() -> None:
    hashed = hash_password("correct horse", cost=5)
    assert hashed.startswith("$2b$05$")
    assert verify_password("correct horse", hashed)
    assert not verify_password("correct horsf", hashed)


def test_verify_never_truncates_long_passwords() -> None:
    hashed = bcrypt.hashpw(b"x" * 72, bcrypt.gensalt(4)).decode()
    assert verify_password("x" * 72, hashed)
    assert not verify_password("x" * 73, hashed)


def test_verify_never_matches_a_password_holding_a_nul() -> None:
    # bcrypt itself blurs them: the hash of "" takes "\0" * 8, the hash of a password takes
    # the password twice joined by a NUL.
    empty = bcrypt.hashpw(b"", bcrypt.gensalt(4))
    assert bcrypt.checkpw(b"\0" * 8, empty), "bcrypt as this guard assumes it"
    assert not verify_password("\0" * 8, empty.decode())
    hashed = hash_password("correct horse", cost=4)
    assert bcrypt.checkpw(b"correct horse\0correct horse", hashed.encode())
    assert not verify_password("correct horse\0correct horse", hashed)


def test_verify_against_garbage_hash_is_false() -> None:
    assert not verify_password("whatever1", "not-a-hash")
