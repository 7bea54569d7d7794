"""The account pages' function (SPEC §10): serves src/pages, and nothing else.

`GET /account` and `GET /account/{proxy+}`, without the authorizer: the pages are the same
for everyone and sign in through the API (a session cookie), so this function reads no
table, no secret and no credential. Standard library only, and every file is read once
per container, at import, into a table of known names: a request can name only what is
in the table, so no path reaches the file system (no traversal by construction).

Static files live under `static/<version>/`, where the version is a hash of all of them:
their URLs change whenever any file does, so they are cached for a year, immutable, and
a module's relative imports (`./api.js`) stay on the same version. Pages are `no-store`.
Every page is one level below /account/, so their relative URLs resolve the same way.
A page's file holds only its body; `layout.html` is the one shell around each (its title,
the style sheet, and its script module: the static file named like the page).

Markup that two pages (or two places of one page) share is a partial, `partials/<name>.html`,
which a body includes with a line of its own: `{{> name}}`, or `{{> name key=value ...}}`
where the partial holds `{{key}}`. Partials are put in when the site is loaded, like the
layout; a body can name only a partial of the table read then (no path is built from it),
and a value is letters, digits and hyphens, so it needs no escaping wherever it lands. An
unknown partial, a value it does not use, or any mark left unfilled fails the load.
"""

from __future__ import annotations

# First: it pauses the garbage collector until init_pause.end() below ends this init.
from handlers import init_pause

# isort: split
import base64
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PAGES_DIR = Path(__file__).resolve().parent.parent / "pages"
STATIC = "static"
# Written into each page where it names its scripts and styles.
STATIC_MARK = "{{static}}"
LAYOUT = "layout.html"
PARTIALS = "partials"
# `{{> name key=value ...}}` alone on its line, kept indented as the line is.
INCLUDE = re.compile(r"^([ \t]*)\{\{> ([a-z0-9-]+)((?: [a-z]+=[a-z0-9-]+)*)\}\}$", re.MULTILINE)

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
# What each page path of /account/{proxy+} serves ("" is /account/ itself): the page's
# file (its body; its script is static/<same name>.js) and its title.
PAGES = {
    "": ("account.html", "Your account"),
    "signin": ("signin.html", "Sign in"),
    "signup": ("signup.html", "Sign up"),
    "admin": ("admin.html", "Administration"),
    # Where an identity provider sends the browser back (SPEC §8).
    "callback": ("callback.html", "Signing in"),
}

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        # The TOTP QR code arrives as an SVG data: URI (handlers.qr_codes).
        "img-src 'self' data:",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "object-src 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # The pages' URLs say nothing secret, but nothing needs them either.
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
}
NO_STORE = "no-store"
IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class File:
    """One answer, ready to send: its bytes and the two headers that differ between files."""

    body: bytes
    content_type: str
    cache_control: str


@dataclass(frozen=True)
class Site:
    """Everything the function serves: the static files' version (the hash in their URLs),
    each page by its path below /account/, and each static file by its name below the
    version."""

    version: str
    pages: dict[str, File]
    static: dict[str, File]


def load_site(root: Path = PAGES_DIR) -> Site:
    """Every page and static file under `root`, read once."""
    static_dir = root / STATIC
    static_files = sorted(path for path in static_dir.rglob("*") if path.is_file())
    digest = hashlib.sha256()
    for path in static_files:
        name = path.relative_to(static_dir).as_posix()
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    version = digest.hexdigest()[:16]
    static = {
        path.relative_to(static_dir).as_posix(): File(path.read_bytes(), _content_type(path), IMMUTABLE)
        for path in static_files
    }
    layout = (root / LAYOUT).read_text(encoding="utf-8")
    partials = {path.stem: path.read_text(encoding="utf-8") for path in (root / PARTIALS).glob("*.html")}
    pages = {
        route: File(
            render(
                layout,
                include_partials(name, (root / name).read_text(encoding="utf-8"), partials),
                title,
                f"{Path(name).stem}.js",
                f"{STATIC}/{version}",
            ),
            CONTENT_TYPES[".html"],
            NO_STORE,
        )
        for route, (name, title) in PAGES.items()
    }
    return Site(version, pages, static)


def include_partials(page: str, body: str, partials: Mapping[str, str]) -> str:
    """`body` (of the file `page`) with each of its include lines replaced by the partial it
    names, its values filled in; ValueError for anything the grammar above does not allow."""

    def partial(include: re.Match[str]) -> str:
        indent, name, arguments = include.groups()
        if name not in partials:
            raise ValueError(f"{page}: no partial {name!r}")
        text = partials[name].rstrip("\n")
        for argument in arguments.split():
            key, _, value = argument.partition("=")
            if "{{" + key + "}}" not in text:
                raise ValueError(f"{page}: partial {name!r} takes no {key!r}")
            text = text.replace("{{" + key + "}}", value)
        return "\n".join(indent + line if line else line for line in text.split("\n"))

    included = INCLUDE.sub(partial, body)
    if "{{" in included:
        # A misspelt include, a value not given, or a partial that includes another.
        raise ValueError(f"{page}: a mark is left unfilled")
    return included


def render(layout: str, body: str, title: str, script: str, static_prefix: str) -> bytes:
    """One page: its body in the layout, with its title, its script and the static files' URLs.

    The body goes in last, so nothing it holds is taken for one of the layout's marks.
    """
    page = layout.replace("{{title}}", title).replace("{{script}}", script)
    return page.replace(STATIC_MARK, static_prefix).replace("{{body}}", body.rstrip("\n")).encode()


def _content_type(path: Path) -> str:
    return CONTENT_TYPES.get(path.suffix, "application/octet-stream")


SITE = load_site()


def find(site: Site, proxy: str) -> File | None:
    """The file `proxy` (the path below /account/, decoded) names, None when none."""
    if proxy in site.pages:
        return site.pages[proxy]
    head, _, rest = proxy.partition("/")
    version, _, name = rest.partition("/")
    # An old version's URL is not answered with the new content, which would then be
    # cached for a year under the old name.
    if head == STATIC and version == site.version:
        return site.static.get(name)
    return None


def _answer(status: int, headers: dict[str, str], body: bytes = b"") -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {**SECURITY_HEADERS, **headers},
        "body": body.decode("utf-8"),
        "isBase64Encoded": False,
    }


def _binary(file: File) -> dict[str, Any]:
    answer = _answer(200, {"Content-Type": file.content_type, "Cache-Control": file.cache_control})
    answer.update(body=base64.b64encode(file.body).decode("ascii"), isBase64Encoded=True)
    return answer


def respond(site: Site, event: dict[str, Any]) -> dict[str, Any]:
    route_key = str(event.get("routeKey", ""))
    raw_path = str(event.get("rawPath", ""))
    if route_key == "GET /account" and not raw_path.endswith("/"):
        # /account itself: its relative URLs would miss the directory, so move to /account/.
        # Relative, so a stage or a custom domain's base path is kept.
        return _answer(302, {"Location": "account/", "Cache-Control": NO_STORE})
    proxy = "" if route_key == "GET /account" else str((event.get("pathParameters") or {}).get("proxy", ""))
    file = find(site, proxy)
    if file is None:
        return _answer(
            404, {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": NO_STORE}, b"not found\n"
        )
    if not file.content_type.startswith("text/"):
        return _binary(file)
    return _answer(200, {"Content-Type": file.content_type, "Cache-Control": file.cache_control}, file.body)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return respond(SITE, event)


init_pause.end()
