"""SPEC §3: username and password rules, bcrypt hashing."""

from __future__ import annotations

import bcrypt
import pytest

from auth.errors import InvalidArgument
from auth.passwords import hash_password, validate_password, verify_password
from auth.usernames import is_valid_username


@pytest.mark.parametrize("name", ["a", "A1", "alice", "a-b", "x" * 36, "0-9"])
def test_valid_usernames(name: str) -> None:
    assert is_valid_username(name)


@pytest.mark.parametrize("name", ["", "-a", "a-", "x" * 37, "a_b", "a b", "ä", "a.b", "a\n", "../x", "a\x00"])
def test_invalid_usernames(name: str) -> None:
    assert not is_valid_username(name)


@pytest.mark.parametrize("password", ["short", "1234567", "é" * 37, "x" * 73])
def test_invalid_passwords(password: str) -> None:
    with pytest.raises(InvalidArgument):
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


def test_verify_against_garbage_hash_is_false() -> None:
    assert not verify_password("whatever1", "not-a-hash")
