"""Username rules (SPEC §3): 1-36 of [A-Za-z0-9-], starting and ending alphanumeric."""

from __future__ import annotations

import re

from auth.errors import InvalidArgument

MAX_USERNAME_CHARS = 36
USERNAME_PATTERN = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,34}[A-Za-z0-9])?"
_USERNAME = re.compile(USERNAME_PATTERN)


def is_valid_username(username: str) -> bool:
    return _USERNAME.fullmatch(username) is not None


def validate_username(username: str) -> None:
    if not is_valid_username(username):
        raise InvalidArgument(
            "username must be 1-36 letters, digits or '-', starting and ending with a letter or digit"
        )


def username_key(username: str) -> str:
    """Usernames are unique regardless of case, so 'Alice' cannot impersonate 'alice'."""
    return username.lower()
