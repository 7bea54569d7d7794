"""Device, OS and browser from a User-Agent, for the sessions list (display only).

A small table of patterns instead of a dependency: the answer only labels a login for its
owner, so "Other" is an acceptable result for an agent the table does not know. Order
matters: Edge and Opera claim to be Chrome, and Chrome claims to be Safari.
"""

from __future__ import annotations

import re

from auth.models import Device

UNKNOWN = "Other"
# User-Agents can be long; nothing useful lies beyond this, and it bounds the regex work.
MAX_SCANNED_CHARS = 512

_BROWSERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("Edge", re.compile(r"Edg(?:e|A|iOS)?/")),
    ("Opera", re.compile(r"OPR/|Opera")),
    ("Samsung Internet", re.compile(r"SamsungBrowser/")),
    ("Firefox", re.compile(r"Firefox/|FxiOS/")),
    ("Chrome", re.compile(r"Chrome/|CriOS/")),
    ("Safari", re.compile(r"Version/[\d.]+.*Safari/")),
    ("curl", re.compile(r"^curl/")),
)

_SYSTEMS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("iOS", re.compile(r"iPhone|iPad|iPod")),
    ("Android", re.compile(r"Android")),
    ("ChromeOS", re.compile(r"CrOS")),
    ("Windows", re.compile(r"Windows")),
    ("macOS", re.compile(r"Macintosh|Mac OS X")),
    ("Linux", re.compile(r"Linux")),
)

_TABLET = re.compile(r"iPad|Tablet|Android(?!.*Mobile)")
_MOBILE = re.compile(r"Mobile|iPhone|iPod|Android")
_BOT = re.compile(r"bot|crawler|spider|curl/|python-requests|Go-http-client", re.IGNORECASE)


def _first(table: tuple[tuple[str, re.Pattern[str]], ...], agent: str) -> str:
    for name, pattern in table:
        if pattern.search(agent):
            return name
    return UNKNOWN


def _device_type(agent: str) -> str:
    if _BOT.search(agent):
        return "bot"
    if _TABLET.search(agent):
        return "tablet"
    if _MOBILE.search(agent):
        return "mobile"
    return "desktop"


def parse_user_agent(user_agent: str) -> Device:
    agent = user_agent[:MAX_SCANNED_CHARS]
    if not agent.strip():
        return Device(UNKNOWN, UNKNOWN, UNKNOWN)
    return Device(_device_type(agent), _first(_SYSTEMS, agent), _first(_BROWSERS, agent))
