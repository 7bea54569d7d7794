"""Time-based one-time passwords: RFC 6238's rules, computed by pyotp (SPEC §7).

Kept here, cited by section, so the parameters a user's authenticator app must agree on
live in one place. pyotp's own `verify` says only yes or no; the step a code matched is
what makes a code single-use (auth.factors stores the last accepted one), so this module
asks pyotp for each candidate step and compares itself.
"""

from __future__ import annotations

import hmac
import re

import pyotp

# RFC 6238 §1.2 / RFC 4226 §5.3: HOTP truncated to 6 decimal digits (pyotp's default digest
# is SHA-1, the RFC's mandatory HMAC-SHA-1 of §1.2).
DIGITS = 6
# RFC 6238 §4.1 (X) and §5.2: a 30-second time step, T0 = 0 (the Unix epoch).
STEP_SECONDS = 30
# RFC 6238 §5.2: "at most one time step is allowed as the network delay"; we accept one step
# either side, for clocks that drift (§6) as well as for slow typing.
DRIFT_STEPS = 1
# RFC 4226 §4 R6 (which RFC 6238 §5.1 applies): a shared secret of at least 128 bits, 160
# recommended; 32 base32 characters are 160 bits (SPEC §7: at least 160).
SECRET_CHARS = 32
ISSUER = "memos"

_CODE = re.compile(f"[0-9]{{{DIGITS}}}")


def new_secret() -> str:
    """A fresh shared secret, base32 (RFC 4648 §6) as authenticator apps take it."""
    return pyotp.random_base32(SECRET_CHARS)


def provisioning_uri(secret: str, username: str) -> str:
    """The otpauth:// URI an app scans: `otpauth://totp/memos:<username>?secret=…&issuer=memos`."""
    return _totp(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def is_well_formed(code: str) -> bool:
    """Six ASCII digits: anything else is refused before any secret is touched."""
    return _CODE.fullmatch(code) is not None


def current_step(now: float) -> int:
    """RFC 6238 §4.2: T = floor((now - T0) / X)."""
    return int(now) // STEP_SECONDS


def matching_step(secret: str, code: str, now: float) -> int | None:
    """The time step (RFC 6238 §4.2's T) within the drift window whose code is `code`, or None.

    Every candidate is compared, in constant time each (no early exit), so the time taken
    does not say which step matched. Were two steps to share the code, the later wins: it
    spends more of the window, never less.
    """
    if not is_well_formed(code):
        return None
    totp = _totp(secret)
    current = current_step(now)
    found: int | None = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
