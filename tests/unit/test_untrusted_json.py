"""auth.untrusted_json: JSON from outside fails one way, with a ValueError, whatever it holds."""

from __future__ import annotations

import json

import pytest

from auth import untrusted_json
from auth.untrusted_json import MAX_DEPTH


def nested(depth: int) -> str:
    """An array `depth` deep, inside objects and arrays in turn (a container at each level)."""
    text = "0"
    for level in range(depth):
        text = f'{{"k{level}": {text}}}' if level % 2 else f"[{text}]"
    return text


def test_nesting_up_to_the_limit_is_read_and_past_it_refused() -> None:
    assert untrusted_json.parsed(nested(MAX_DEPTH)) == json.loads(nested(MAX_DEPTH))
    with pytest.raises(ValueError, match="nested too deep"):
        untrusted_json.parsed(nested(MAX_DEPTH + 1))


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 990, 100_000])
def test_too_deep_is_a_value_error_under_the_recursion_limit_and_past_it(depth: int) -> None:
    with pytest.raises(ValueError, match="nested too deep"):
        untrusted_json.parsed("[" * depth + "]" * depth)


def test_wide_is_not_deep() -> None:
    wide = json.dumps({"keys": [{"kty": "EC", "x": str(i)} for i in range(5000)]})
    assert len(untrusted_json.parsed(wide)["keys"]) == 5000


def test_a_lone_surrogate_is_refused_unless_the_caller_checks_its_strings() -> None:
    text = '{"name": "\\ud800"}'
    with pytest.raises(ValueError):
        untrusted_json.parsed(text)
    assert untrusted_json.parsed(text, lone_surrogates=True) == {"name": "\ud800"}
