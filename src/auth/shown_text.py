"""Text people give that other people's screens show (a display name, an email, a token's
description, a passkey's or a provider's name): no control characters.

A NUL, a newline or an escape in such text is never part of a name, and in a log viewer, a
terminal or a list of sessions it can fake a line or hide the rest; so can Unicode's line
and paragraph separators, and its bidirectional overrides and isolates can make text read
other than it is (CVE-2021-42574). Every other character is left alone: names are written
in every script, and right-to-left ones need no explicit override.
"""

from __future__ import annotations

import unicodedata

from auth.errors import InvalidArgument

# U+2028, U+2029; U+202A-U+202E (embeddings, overrides); U+2066-U+2069 (isolates).
_FORMATTING = frozenset("\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _is_control(char: str) -> bool:
    return char in _FORMATTING or unicodedata.category(char) == "Cc"


def check_shown_text(field: str, text: str) -> None:
    """InvalidArgument naming `field` when `text` holds a control character."""
    if any(_is_control(char) for char in text):
        raise InvalidArgument(f"{field} must not contain control characters")


def without_controls(text: str) -> str:
    """`text` from elsewhere (a provider's claims, a Memos row) without its control
    characters: a tab or a line break becomes a space (it parted words), the rest go."""
    return "".join((" " if char.isspace() else "") if _is_control(char) else char for char in text)
