"""An identity provider's `identifierFilter` (SPEC §8) as Memos matches it: Go's
`regexp.MatchString`, RE2's syntax, a match anywhere in the identifier (anchor it with
`^…$` for the whole).

Python's `re` reads most of RE2's syntax alike, and some of it otherwise; a filter written
for Memos (or imported from it) must mean here what it meant there. So the filter is
translated into Python's syntax once, by `compiled`, for the provider's creation and
change and for every sign-in:

- POSIX classes in brackets (`[[:alnum:]._-]`, `[[:^space:]]`) become their ASCII ranges;
  Python would read `[[:alnum:]` as a set of the characters `[:alnum` and warn.
- `\\d`, `\\s`, `\\w` and `\\b` are ASCII in RE2 (`\\s` is `[\\t\\n\\f\\r ]`, without `\\v`), Unicode
  in Python: they become RE2's ranges, and `\\b` Python's ASCII one. Not `re.ASCII` for the
  whole filter: it would make `(?i)` fold ASCII letters only, where RE2 folds `é` and `É`.
- `$` outside `(?m)` is the end of the text in RE2; Python's also matches before a final
  newline, so `^eve$` would let `eve\\n` through.
- Assertions (`^`, `$`, `\\A`, `\\z`, `\\b`, `\\B`) are put in groups, which Python lets a
  repetition follow, as RE2 does (`^*`).
- Flags may change midway (`^(?i)…`, refused by Python 3.11): they become a group that runs
  to the end of the enclosing one. `\\z`, `\\Q…\\E`, `\\x{…}` and octal escapes are translated.
- What RE2 refuses (backreferences, lookarounds, other groups and flags, unknown escapes
  and classes) is refused too, and so is `\\p{…}` (Unicode classes, which `re` lacks):
  `re.error`, so a 400 when the filter is given, and no sign-in through it.

Compared with Go 1.19's regexp on tens of thousands of generated filters when this was
written (tests/unit/test_identity_providers.py keeps Go's answers for the cases that
matter): what both take matches alike but in one case, Python's `(?i)` folding `i` and `I`
with the Turkish dotted and dotless i (U+0130, U+0131); and this refuses two things Go
takes, `\\p` and a repetition right after `(?flags)` (`a(?i)*`, which Go applies to `a`).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

# RE2's named ASCII classes (its perl_groups.go), as inclusive code point ranges.
Ranges = tuple[tuple[int, int], ...]
_DIGIT: Ranges = ((0x30, 0x39),)
_WORD: Ranges = ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A))
POSIX_CLASSES: dict[str, Ranges] = {
    "alnum": ((0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)),
    "alpha": ((0x41, 0x5A), (0x61, 0x7A)),
    "ascii": ((0x00, 0x7F),),
    "blank": ((0x09, 0x09), (0x20, 0x20)),
    "cntrl": ((0x00, 0x1F), (0x7F, 0x7F)),
    "digit": _DIGIT,
    "graph": ((0x21, 0x7E),),
    "lower": ((0x61, 0x7A),),
    "print": ((0x20, 0x7E),),
    "punct": ((0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)),
    "space": ((0x09, 0x0D), (0x20, 0x20)),
    "upper": ((0x41, 0x5A),),
    "word": _WORD,
    "xdigit": ((0x30, 0x39), (0x41, 0x46), (0x61, 0x66)),
}
PERL_CLASSES: dict[str, Ranges] = {"d": _DIGIT, "s": ((0x09, 0x0A), (0x0C, 0x0D), (0x20, 0x20)), "w": _WORD}
_MAX_RUNE = 0x10FFFF
# RE2's repetition counts stop at 1000.
_MAX_REPEAT = 1000
_REPEAT = re.compile(r"\{([0-9]+)(?:(,)([0-9]*))?\}")
_FLAG = re.compile(r"\(\?([imsU]*)(?:-([imsU]*))?([:)])")
_NAMED_GROUP = re.compile(r"\(\?P?<([A-Za-z0-9_]+)>")
_OCTAL = "01234567"
_HEX = "0123456789abcdefABCDEF"
_LETTER_ESCAPES = {"a": 0x07, "f": 0x0C, "n": 0x0A, "r": 0x0D, "t": 0x09, "v": 0x0B}


@functools.lru_cache(maxsize=128)
def compiled(pattern: str) -> re.Pattern[str]:
    """The filter, RE2's syntax, as a Python pattern that matches what RE2's would;
    re.error when RE2 or this translation refuses it."""
    return re.compile(python_pattern(pattern))


def allows(pattern: str, identifier: str) -> bool:
    """Whether the filter lets the identifier in (an empty filter lets everyone in)."""
    return not pattern or compiled(pattern).search(identifier) is not None


def python_pattern(pattern: str) -> str:
    """The filter in Python's syntax (re.error when RE2 would refuse it)."""
    return _Translation(pattern).run()


def _complement(ranges: Ranges) -> Ranges:
    result: list[tuple[int, int]] = []
    start = 0
    for low, high in sorted(ranges):
        if low > start:
            result.append((start, low - 1))
        start = max(start, high + 1)
    if start <= _MAX_RUNE:
        result.append((start, _MAX_RUNE))
    return tuple(result)


def _char(code: int) -> str:
    """One code point, written so that it is a literal in and out of brackets."""
    if code < 0x80 and chr(code).isalnum():
        return chr(code)
    if code < 0x80 and chr(code).isprintable():
        return "\\" + chr(code)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _brackets(ranges: Ranges, negated: bool = False) -> str:
    if not ranges:
        # Nothing in it: it never matches (negated, it matches any character).
        return "(?s:.)" if negated else "(?!)"
    body = "".join(_char(low) if low == high else f"{_char(low)}-{_char(high)}" for low, high in ranges)
    return f"[{'^' if negated else ''}{body}]"


@dataclass
class _Group:
    """An open group: whether `$` is a line end in it, and the flag groups a `(?flags)` in it
    opened (closed with it, and again around each of its alternatives)."""

    multiline: bool
    flag_groups: list[str] = field(default_factory=list)


class _Translation:
    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.at = 0
        self.out: list[str] = []
        self.groups = [_Group(multiline=False)]
        # Whether the last token was a repetition operator.
        self.repeated = False

    def fail(self, message: str) -> re.error:
        return re.error(message, self.pattern, self.at)

    def run(self) -> str:
        pattern = self.pattern
        while self.at < len(pattern):
            char = pattern[self.at]
            repeated, self.repeated = self.repeated, False
            if char == "+" and repeated:
                # Python 3.11 would read `a*+` as possessive; RE2 refuses it.
                raise self.fail("invalid nested repetition operator")
            if char in "*+?":
                self.repeated = True
            if char == "\\":
                self.escape()
            elif char == "[":
                self.at += 1
                self.out.append(self.bracket_class())
            elif char == "(":
                self.open_group()
            elif char == ")":
                if len(self.groups) == 1:
                    raise self.fail("unexpected )")
                self.out.append(")" * len(self.groups.pop().flag_groups) + ")")
                self.at += 1
            elif char == "|":
                flag_groups = self.groups[-1].flag_groups
                self.out.append(")" * len(flag_groups) + "|" + "".join(flag_groups))
                self.at += 1
            elif char == "$":
                self.out.append("(?:$)" if self.groups[-1].multiline else r"(?:\Z)")
                self.at += 1
            elif char == "^":
                self.out.append("(?:^)")
                self.at += 1
            elif char == "{":
                self.repeat()
            else:
                self.out.append(char)
                self.at += 1
        if len(self.groups) > 1:
            raise self.fail("missing )")
        return "".join(self.out) + ")" * len(self.groups[0].flag_groups)

    # -- outside brackets ------------------------------------------------------------------

    def escape(self) -> None:
        pattern, at = self.pattern, self.at
        if at + 1 >= len(pattern):
            raise self.fail("trailing backslash at end of expression")
        letter = pattern[at + 1]
        if letter == "Q":
            end = pattern.find("\\E", at + 2)
            literal = pattern[at + 2 :] if end < 0 else pattern[at + 2 : end]
            self.out.append("".join(_char(ord(char)) for char in literal))
            self.at = len(pattern) if end < 0 else end + 2
            return
        # Python 3.11's `\B` never matches an empty text; RE2's does (no word on either side).
        simple = {"A": r"(?:\A)", "z": r"(?:\Z)", "b": r"(?a:\b)", "B": r"(?a:(?!\b))"}.get(letter)
        if simple is not None:
            self.out.append(simple)
            self.at += 2
            return
        perl = self.perl_class()
        if perl is not None:
            self.out.append(_brackets(*perl))
            return
        self.out.append(_char(self.literal_escape()))

    def open_group(self) -> None:
        pattern, at = self.pattern, self.at
        current = self.groups[-1]
        if not pattern.startswith("(?", at):
            self.groups.append(_Group(current.multiline))
            self.out.append("(")
            self.at += 1
            return
        named = _NAMED_GROUP.match(pattern, at)
        if named is not None:
            # A name changes nothing of a match (and Python's rules for names are not RE2's).
            self.groups.append(_Group(current.multiline))
            self.out.append("(")
            self.at = named.end()
            return
        flags = _FLAG.match(pattern, at)
        if flags is None or (flags.group(2) == "" and "-" in flags.group(0)):
            raise self.fail("invalid or unsupported Perl syntax (RE2 has no lookarounds nor backreferences)")
        on, off = set(flags.group(1)), set(flags.group(2) or "")
        on -= off
        multiline = "m" in on or ("m" not in off and current.multiline)
        # `U` (ungreedy) does not change whether there is a match: it is left out.
        python_on, python_off = "".join(sorted(on - {"U"})), "".join(sorted(off - {"U"}))
        opener = f"(?{python_on}{'-' + python_off if python_off else ''}:" if python_on or python_off else ""
        self.at = flags.end()
        if flags.group(3) == ":":
            self.groups.append(_Group(multiline))
            self.out.append(opener or "(?:")
        else:
            current.multiline = multiline
            if opener:
                current.flag_groups.append(opener)
                self.out.append(opener)

    def repeat(self) -> None:
        found = _REPEAT.match(self.pattern, self.at)
        if found is None or any(len(n) > 1 and n[0] == "0" for n in found.groups("") if n != ","):
            # Not a repetition, so a literal in RE2 (`x{,3}` and `x{01}` too, which Python
            # would repeat).
            self.out.append(r"\{")
            self.at += 1
            return
        low, comma, high = found.groups()
        if int(low) > _MAX_REPEAT or (high and (int(high) > _MAX_REPEAT or int(high) < int(low))):
            raise self.fail("invalid repeat count")
        self.out.append("{" + low + (comma or "") + (high or "") + "}")
        self.at = found.end()
        self.repeated = True

    # -- inside brackets ------------------------------------------------------------------

    def bracket_class(self) -> str:
        """From just after `[` to just after its `]`, RE2's parseClass."""
        pattern = self.pattern
        negated = pattern.startswith("^", self.at)
        if negated:
            self.at += 1
        ranges: list[tuple[int, int]] = []
        first = True
        while self.at < len(pattern) and (pattern[self.at] != "]" or first):
            first = False
            if pattern.startswith("[:", self.at):
                end = pattern.find(":]", self.at + 2)
                if end >= 0:
                    name = pattern[self.at + 2 : end]
                    found = POSIX_CLASSES.get(name.removeprefix("^"))
                    if found is None:
                        raise self.fail(f"invalid character class range [:{name}:]")
                    ranges.extend(_complement(found) if name.startswith("^") else found)
                    self.at = end + 2
                    continue
            perl = self.perl_class()
            if perl is not None:
                ranges.extend(_complement(perl[0]) if perl[1] else perl[0])
                continue
            low = high = self.class_char()
            # `a-` before the `]` is `a` and `-` (RE2, as Python).
            if pattern[self.at : self.at + 1] == "-" and pattern[self.at + 1 : self.at + 2] not in ("", "]"):
                self.at += 1
                high = self.class_char()
                if high < low:
                    raise self.fail("invalid character class range")
            ranges.append((low, high))
        if self.at >= len(pattern):
            raise self.fail("missing closing ]")
        self.at += 1
        return _brackets(tuple(ranges), negated)

    def class_char(self) -> int:
        if self.at >= len(self.pattern):
            raise self.fail("missing closing ]")
        if self.pattern[self.at] == "\\":
            return self.literal_escape()
        self.at += 1
        return ord(self.pattern[self.at - 1])

    # -- escapes, in and out of brackets --------------------------------------------------

    def perl_class(self) -> tuple[Ranges, bool] | None:
        """`\\d \\s \\w` and their negations: (RE2's ranges, negated); refuses `\\p`."""
        pattern, at = self.pattern, self.at
        if not pattern.startswith("\\", at) or at + 1 >= len(pattern):
            return None
        letter = pattern[at + 1]
        if letter in "pP":
            raise self.fail(r"Unicode classes (\p, \P) are not supported")
        ranges = PERL_CLASSES.get(letter.lower())
        if ranges is None:
            return None
        self.at += 2
        return ranges, letter.isupper()

    def literal_escape(self) -> int:
        """One escaped character, RE2's parseEscape: punctuation, octal, hex, `\\a\\f\\n\\r\\t\\v`."""
        pattern = self.pattern
        start = self.at
        if start + 1 >= len(pattern):
            raise self.fail("trailing backslash at end of expression")
        letter = pattern[start + 1]
        self.at = start + 2
        if letter < "\x80" and not letter.isalnum():
            return ord(letter)
        if letter in _OCTAL and (letter == "0" or pattern[self.at : self.at + 1] in tuple(_OCTAL)):
            # `\0`, or two or three octal digits (a single other digit is a backreference).
            digits = letter
            while len(digits) < 3 and pattern[self.at : self.at + 1] in tuple(_OCTAL):
                digits += pattern[self.at]
                self.at += 1
            return int(digits, 8)
        if letter == "x":
            if pattern.startswith("{", self.at):
                end = pattern.find("}", self.at)
                digits = pattern[self.at + 1 : end] if end >= 0 else ""
                if digits and all(digit in _HEX for digit in digits) and int(digits, 16) <= _MAX_RUNE:
                    self.at = end + 1
                    return int(digits, 16)
            else:
                digits = pattern[self.at : self.at + 2]
                if len(digits) == 2 and all(digit in _HEX for digit in digits):
                    self.at += 2
                    return int(digits, 16)
        elif letter in _LETTER_ESCAPES:
            return _LETTER_ESCAPES[letter]
        self.at = start
        raise self.fail(f"invalid escape sequence \\{letter}")
