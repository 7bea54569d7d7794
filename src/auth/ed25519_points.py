"""Whether 32 bytes are an Ed25519 public key a signature could ever verify with.

`cryptography` loads any 32 bytes as an Ed25519 public key, unchecked. This module decodes
them as RFC 8032 §5.1.3 says (and refuses what that decoding fails on: a y of p or more, a
y whose x² = (y² - 1) / (d·y² + 1) has no square root mod p, an x of 0 with its sign bit
set), and tells a point of small order (one whose eightfold is the identity: 8 is the
curve's cofactor, 2^c with RFC 8032 §5.1's c = 3), which no honest key is (an honest key
is its secret scalar times the base point, of prime order). The curve is edwards25519:
-x² + y² = 1 + d·x²·y² over GF(p), with RFC 8032 §5.1's constants. Pure Python and
light: a registration decodes one key.
"""

from __future__ import annotations

# RFC 8032 §5.1: p = 2^255 - 19, d = -121665/121666 mod p, and a square root of -1 mod p.
P = 2**255 - 19
D = -121665 * pow(121666, -1, P) % P
SQRT_MINUS_ONE = pow(2, (P - 1) // 4, P)
IDENTITY = (0, 1)

Point = tuple[int, int]


def decode(encoded: bytes) -> Point | None:
    """The affine point (x, y) that `encoded` is, per RFC 8032 §5.1.3; None when it is not
    one (not 32 bytes, a non-canonical y ≥ p, no x on the curve for y, or x = 0 stated
    negative)."""
    if len(encoded) != 32:
        return None
    number = int.from_bytes(encoded, "little")
    x_sign, y = number >> 255, number & ((1 << 255) - 1)
    if y >= P:
        return None
    # x² = u / v; v is never 0 (d is not a square mod p, so neither is -1/d).
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x_squared = u * pow(v, -1, P) % P
    x = pow(x_squared, (P + 3) // 8, P)
    if (x * x - x_squared) % P != 0:
        x = x * SQRT_MINUS_ONE % P
    if (x * x - x_squared) % P != 0:
        return None
    if x == 0 and x_sign == 1:
        return None
    if x & 1 != x_sign:
        x = P - x
    return x, y


def add(first: Point, second: Point) -> Point:
    """The sum of two points of edwards25519: RFC 8032 §3's affine formulas with a = -1.
    They are complete (RFC 8032 §3): no denominator is 0 for points on the curve."""
    (x1, y1), (x2, y2) = first, second
    t = D * x1 * x2 * y1 * y2 % P
    x3 = (x1 * y2 + x2 * y1) * pow(1 + t, -1, P) % P
    y3 = (y1 * y2 + x1 * x2) * pow(1 - t, -1, P) % P
    return x3, y3


def has_small_order(point: Point) -> bool:
    """Whether the cofactor (8) times `point` is the identity: a point of order 1, 2, 4 or 8."""
    twice = add(point, point)
    four_times = add(twice, twice)
    return add(four_times, four_times) == IDENTITY


def refusal(encoded: bytes) -> str | None:
    """Why no signature could verify with the Ed25519 public key `encoded`, or None when it
    is a point of the curve of large order."""
    point = decode(encoded)
    if point is None:
        return "an Ed25519 key that does not decode to a point on the curve (RFC 8032 §5.1.3)"
    if has_small_order(point):
        return "an Ed25519 key that is a point of small order"
    return None
