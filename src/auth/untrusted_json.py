"""JSON from outside (a request body, an identity provider's answer, a Memos database): one
parser that fails the same way, with a ValueError, for all such text can hold that a caller
cannot use.

json.loads alone lets two things out: a RecursionError for nesting deeper than the
interpreter recurses (which no `except ValueError` catches), and a string with a lone
surrogate (`"\\ud800"` is valid JSON, but no UTF-8 encoder, DynamoDB's included, takes the
string it decodes to). Nesting is bounded by MAX_DEPTH, not by the recursion limit: a value
that json.loads took here, a few frames from the bottom of the stack, must not overflow
when a library parses the same text again from deeper in it (Powertools reads a request's
body a second time) or when it is encoded.
"""

from __future__ import annotations

import json
from typing import Any

# Arrays and objects inside one another. The deepest this service reads is 4 (a passkey's
# credential, a Memos setting); the interpreter's limit is about 1,000 frames.
MAX_DEPTH = 32


def parsed(text: str | bytes, *, lone_surrogates: bool = False) -> Any:
    """The JSON value of `text`; ValueError when it is not JSON, nests deeper than
    MAX_DEPTH, or (unless `lone_surrogates`, for a caller that checks each string it keeps)
    holds a string that is not Unicode text."""
    try:
        value = json.loads(text)
    except RecursionError as exc:
        raise ValueError("JSON nested too deep") from exc
    if not _within_depth(value):
        raise ValueError("JSON nested too deep")
    if not lone_surrogates:
        # Encoding it again is what finds a lone surrogate, in a key or a value at any
        # depth (UnicodeEncodeError is a ValueError).
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    return value


def _within_depth(value: Any) -> bool:
    """Whether no array or object of `value` lies deeper than MAX_DEPTH (walked with a list,
    not recursion, so that the walk itself cannot overflow)."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_DEPTH:
            return False
        pending.extend((child, depth + 1) for child in children)
    return True
