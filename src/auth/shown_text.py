"""Text people give that other people's screens show (a display name, an email, a token's
description, a passkey's or a provider's name): no control characters.

A NUL, a newline or an escape in such text is never part of a name, and in a log viewer, a
terminal or a list of sessions it can fake a line or hide the rest; Unicode's other
characters are left alone (names are written in every script).
"""

from __future__ import annotations

import unicodedata

from auth.errors import InvalidArgument


def _is_control(char: str) -> bool:
    return unicodedata.category(char) == "Cc"


def check_shown_text(field: str, text: str) -> None:
    """InvalidArgument naming `field` when `text` holds a control character."""
    if any(_is_control(char) for char in text):
        raise InvalidArgument(f"{field} must not contain control characters")


def without_controls(text: str) -> str:
    """`text` from elsewhere (a provider's claims), its control characters dropped."""
    return "".join(char for char in text if not _is_control(char))
