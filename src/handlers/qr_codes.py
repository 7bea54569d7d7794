"""QR codes for the account pages (SPEC §10): the TOTP enrolment's otpauth URI as an SVG
`data:` URI, made by segno (a maintained QR library), for an <img> the pages' CSP allows
(`img-src data:`). The SVG has no style attribute and no script; an image runs neither.

Made here, in the answer to the enrolment that already carries the secret, so the URI is
never sent anywhere else and never logged.
"""

from __future__ import annotations

# Dark modules on white whatever the page's colour scheme: scanners need the contrast.
_LIGHT = "#ffffff"
_DARK = "#000000"


def svg_data_uri(text: str) -> str:
    # Imported on first use: only an enrolment pays for it, never a cold start.
    import segno

    code = segno.make(text, error="m", micro=False)
    return str(code.svg_data_uri(scale=4, border=4, dark=_DARK, light=_LIGHT))
