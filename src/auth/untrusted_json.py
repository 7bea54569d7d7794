"""JSON from outside (a request body, an identity provider's answer, a Memos database): one
parser that fails the same way, with a ValueError, for all such text can hold that a caller
cannot use.

json.loads alone lets two things out: a RecursionError for nesting deeper than the
interpreter recurses (which no `except ValueError` catches), and a string with a lone
surrogate (`"\\ud800"` is valid JSON, but no UTF-8 encoder, DynamoDB's included, takes the
string it decodes to).
"""

from __future__ import annotations

import json
from typing import Any


def parsed(text: str | bytes, *, lone_surrogates: bool = False) -> Any:
    """The JSON value of `text`; ValueError when it is not JSON, nests too deep, or (unless
    `lone_surrogates`, for a caller that checks each string it keeps) holds a string that
    is not Unicode text."""
    try:
        value = json.loads(text)
    except RecursionError as exc:
        raise ValueError("JSON nested too deep") from exc
    if not lone_surrogates:
        # Encoding it again is what finds a lone surrogate, in a key or a value at any
        # depth (UnicodeEncodeError is a ValueError).
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    return value
