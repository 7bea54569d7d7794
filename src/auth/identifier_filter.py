"""An identity provider's `identifierFilter` (SPEC §8) as Memos matches it: Go's
`regexp.MatchString`, RE2's syntax, a match anywhere in the identifier (anchor it with
`^…$` for the whole).

Python's `re` reads most of RE2's syntax alike and some of it otherwise (POSIX classes such
as `[[:alnum:]]`, ASCII-only `\\d`, `\\s`, `\\w` and `\\b`, `$` before a final newline, flags
midway), so a filter written for Memos, or imported from it, would mean something else
here. It is compiled by RE2 itself instead, through Google's `google-re2` binding: Go's
regexp implements RE2's syntax and semantics, and what RE2 refuses (backreferences,
lookarounds) Memos refused too. Only the API function imports this, and only when a
provider is used.
"""

from __future__ import annotations

import functools
from typing import Any

import re2

# RE2's defaults are Go's (Perl classes, word boundaries, UTF-8); only its logging of every
# refused pattern to stderr is turned off: the refusal is answered, not logged.
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False


class InvalidFilter(ValueError):
    """RE2 refuses the filter; `message` says why, in RE2's words."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@functools.lru_cache(maxsize=128)
def compiled(pattern: str) -> Any:
    """The filter compiled by RE2 (`re2._Regexp`, which the binding leaves untyped);
    InvalidFilter when RE2 refuses it."""
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else b"invalid"
        raise InvalidFilter(
            reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
        ) from None


def allows(pattern: str, identifier: str) -> bool:
    """Whether the filter lets the identifier in (an empty filter lets everyone in)."""
    return not pattern or compiled(pattern).search(identifier) is not None
