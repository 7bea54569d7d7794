"""The account pages' function (SPEC §10): what it serves, with which headers, and what it
never serves. The pages' behaviour in a browser: tests/browser/test_account_pages.py."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from handlers import account_pages
from handlers.account_pages import IMMUTABLE, NO_STORE, PAGES, SITE, handler
from tests.support.events import FakeLambdaContext, http_event

PAGES_DIR = account_pages.PAGES_DIR
STATIC = f"static/{SITE.version}"


def get(proxy: str | None, raw_path: str | None = None) -> dict[str, Any]:
    """GET /account (proxy None) or /account/{proxy+}, as API Gateway delivers it."""
    if proxy is None:
        event = http_event("GET", raw_path or "/account", route="/account")
    else:
        path = raw_path or f"/account/{proxy}"
        event = http_event("GET", path, route="/account/{proxy+}", path_parameters={"proxy": proxy})
    return handler(event, FakeLambdaContext())


def body_of(answer: dict[str, Any]) -> bytes:
    body = answer["body"]
    return base64.b64decode(body) if answer["isBase64Encoded"] else body.encode()


@pytest.mark.parametrize(("proxy", "file"), [(p, f) for p, f in PAGES.items() if p])
def test_each_page_is_served_html_and_never_stored(proxy: str, file: str) -> None:
    answer = get(proxy)
    assert answer["statusCode"] == 200
    headers = answer["headers"]
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Cache-Control"] == NO_STORE
    page = body_of(answer).decode()
    assert page.startswith("<!doctype html>") and "{{static}}" not in page
    assert f'href="{STATIC}/style.css"' in page


def test_the_account_page_is_at_account_slash_and_account_moves_there() -> None:
    # API Gateway routes /account/ as GET /account; rawPath keeps the slash.
    answer = get(None, raw_path="/dev/account/")
    assert answer["statusCode"] == 200 and b"account.js" in body_of(answer)
    moved = get(None, raw_path="/dev/account")
    assert moved["statusCode"] == 302
    # Relative, so the stage (or a custom domain's base path) is kept.
    assert moved["headers"]["Location"] == "account/"
    assert moved["headers"]["Cache-Control"] == NO_STORE


def test_every_answer_carries_a_strict_content_security_policy() -> None:
    for answer in (get("signin"), get(f"{STATIC}/signin.js"), get("nothing-here"), get(None)):
        headers = answer["headers"]
        policy = dict(
            [*directive.split(" ", 1), ""][:2] for directive in headers["Content-Security-Policy"].split("; ")
        )
        assert policy["default-src"] == "'self'"
        assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
        assert policy["img-src"] == "'self' data:" and policy["connect-src"] == "'self'"
        assert policy["frame-ancestors"] == "'none'" and policy["base-uri"] == "'none'"
        assert policy["form-action"] == "'self'"
        assert "unsafe" not in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("style.css", "text/css; charset=utf-8"),
        ("api.js", "text/javascript; charset=utf-8"),
        ("account.js", "text/javascript; charset=utf-8"),
    ],
)
def test_static_files_are_versioned_typed_and_immutable(name: str, content_type: str) -> None:
    answer = get(f"{STATIC}/{name}")
    assert answer["statusCode"] == 200
    assert answer["headers"]["Content-Type"] == content_type
    assert answer["headers"]["Cache-Control"] == IMMUTABLE == "public, max-age=31536000, immutable"
    assert body_of(answer) == (PAGES_DIR / "static" / name).read_bytes()


def test_the_version_is_a_hash_of_the_files_so_any_change_moves_every_url(tmp_path: Path) -> None:
    copy = tmp_path / "pages"
    shutil.copytree(PAGES_DIR, copy)
    assert account_pages.load_site(copy).version == SITE.version
    (copy / "static" / "style.css").write_text("body { color: red; }\n", encoding="utf-8")
    changed = account_pages.load_site(copy)
    assert changed.version != SITE.version
    assert f"static/{changed.version}/style.css".encode() in changed.pages["signin"].body


def test_an_old_version_is_not_answered_with_new_content() -> None:
    assert get("static/0123456789abcdef/style.css")["statusCode"] == 404
    assert get("static/style.css")["statusCode"] == 404


@pytest.mark.parametrize(
    "proxy",
    [
        "nothing-here",
        "signin/",
        "signin.html",
        "account.html",
        "static",
        f"{STATIC}",
        f"{STATIC}/",
        f"{STATIC}/missing.js",
        # Traversal, decoded (as API Gateway passes path parameters) and not.
        f"{STATIC}/../signin.html",
        f"{STATIC}/../../handlers/account_pages.py",
        f"{STATIC}/../../../../../etc/passwd",
        f"{STATIC}/%2e%2e/signin.html",
        f"{STATIC}/..%2fsignin.html",
        f"{STATIC}/..\\..\\signin.html",
        "../handlers/account_pages.py",
        "/etc/passwd",
        f"{STATIC}//etc/passwd",
        f"{STATIC}/./style.css",
        f"{STATIC}/style.css\x00.png",
    ],
)
def test_unknown_paths_and_traversal_are_404(proxy: str) -> None:
    answer = get(proxy)
    assert answer["statusCode"] == 404
    assert answer["headers"]["Cache-Control"] == NO_STORE
    assert body_of(answer) == b"not found\n"


# -- the files themselves -------------------------------------------------------------------

# Pages as they are served: each body in the one layout, the static files' URLs filled in.
HTML = sorted(account_pages.PAGES)
STATIC_URL = f"{STATIC}/"
SCRIPTS = sorted((PAGES_DIR / "static").glob("*.js"))


def served(route: str) -> str:
    return SITE.pages[route].body.decode()


def test_every_page_file_is_served_in_the_layout() -> None:
    # Nothing under src/pages is left out, and no mark of the layout is left unfilled.
    bodies = {name for name, _ in account_pages.PAGES.values()}
    assert bodies | {account_pages.LAYOUT} == {path.name for path in PAGES_DIR.glob("*.html")}
    for route, (_, title) in account_pages.PAGES.items():
        page = served(route)
        assert "{{" not in page and f"<title>{title} · memos-auth</title>" in page
        assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")


def test_every_partial_is_included_and_served_in_place() -> None:
    partials = {path.stem: path.read_text(encoding="utf-8") for path in PAGES_DIR.glob("partials/*.html")}
    bodies = [(PAGES_DIR / name).read_text(encoding="utf-8") for name, _ in account_pages.PAGES.values()]
    for name in partials:
        assert any(f"{{{{> {name}" in body for body in bodies), f"partial {name} is never included"
    # The second step of a sign-in is one form, the same in both pages that run it.
    form = "\n".join("      " + line for line in partials["mfa-form"].rstrip("\n").split("\n"))
    for route in ("signin", "callback"):
        assert served(route).count('id="mfa-form"') == 1 and form in served(route)
    account = served("")
    for secret in ("totp-secret", "new-token"):
        assert f'<code id="{secret}" data-testid="{secret}"></code>' in account
        assert f'<button type="button" id="{secret}-copy" class="secondary">Copy</button>' in account


PARTIALS = {"row": '<div class="row">\n  <code id="{{id}}"></code>\n\n</div>\n', "plain": "<hr>\n"}


def test_a_partial_keeps_the_include_lines_indentation_and_takes_its_values() -> None:
    body = "<main>\n    {{> row id=new-token}}\n  {{> plain}}\n</main>\n"
    assert account_pages.include_partials("page.html", body, PARTIALS) == (
        '<main>\n    <div class="row">\n      <code id="new-token"></code>\n\n    </div>\n  <hr>\n</main>\n'
    )


@pytest.mark.parametrize(
    "include",
    [
        "{{> missing}}",
        # A partial is named, never a path.
        "{{> ../signin}}",
        "{{> partials/plain}}",
        "{{> /etc/passwd}}",
        "{{> ../../handlers/account_pages.py}}",
        "{{> Plain}}",
        # Values are letters, digits and hyphens: nothing that would need escaping.
        '{{> row id="x" onclick="alert(1)"}}',
        "{{> row id=<script>}}",
        "{{> row id=a/b}}",
        # A value the partial does not take, one it needs and is not given, one given twice.
        "{{> plain id=x}}",
        "{{> row}}",
        "{{> row id=a id=b}}",
        # Not alone on its line.
        "<p>{{> plain}}</p>",
        "{{>plain}}",
    ],
)
def test_an_include_outside_the_grammar_fails_the_load(include: str) -> None:
    with pytest.raises(ValueError, match=r"^page\.html: "):
        account_pages.include_partials("page.html", f"<main>\n  {include}\n</main>\n", PARTIALS)


def test_a_partial_includes_no_other() -> None:
    nested = {**PARTIALS, "outer": "<div>\n  {{> plain}}\n</div>\n"}
    with pytest.raises(ValueError, match="unfilled"):
        account_pages.include_partials("page.html", "{{> outer}}\n", nested)


def test_a_page_with_a_bad_include_fails_the_site_and_a_partials_change_moves_no_url(tmp_path: Path) -> None:
    copy = tmp_path / "pages"
    shutil.copytree(PAGES_DIR, copy)
    (copy / "partials" / "mfa-form.html").write_text('<form id="mfa-form" hidden></form>\n', encoding="utf-8")
    changed = account_pages.load_site(copy)
    # Pages are never stored, so only the static files' hash names a version.
    assert changed.version == SITE.version
    assert b'      <form id="mfa-form" hidden></form>\n' in changed.pages["signin"].body
    assert b"Two-factor authentication" not in changed.pages["callback"].body
    (copy / "partials" / "mfa-form.html").unlink()
    with pytest.raises(ValueError, match="no partial 'mfa-form'"):
        account_pages.load_site(copy)


@pytest.mark.parametrize("route", HTML)
def test_pages_hold_no_inline_script_style_or_handler(route: str) -> None:
    page = served(route)
    # Everything a page runs or styles with is a file (the CSP would block the rest).
    for script in re.findall(r"<script\b[^>]*>", page):
        assert 'type="module"' in script and f'src="{STATIC_URL}' in script
    assert not re.search(r"<script\b[^>]*>\s*[^<\s]", page), "inline script"
    assert "<style" not in page
    assert not re.search(r"\sstyle\s*=", page)
    assert not re.search(r"\son[a-z]+\s*=", page)
    assert not re.search(r"(src|href)=\"(https?:)?//", page), "a file from another host"


@pytest.mark.parametrize("route", HTML)
def test_every_file_a_page_names_exists(route: str) -> None:
    names = re.findall(re.escape(STATIC_URL) + r"([A-Za-z0-9_.-]+)", served(route))
    assert names, "a page without its style sheet and script"
    for name in names:
        assert (PAGES_DIR / "static" / name).is_file(), name


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_every_module_a_script_imports_is_a_sibling_file(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    for specifier in re.findall(r"^import .* from \"([^\"]+)\";$", source, flags=re.MULTILINE):
        assert specifier.startswith("./"), specifier
        assert (path.parent / specifier[2:]).is_file(), specifier
    assert "localStorage" not in source, "the pages keep no token in the browser's storage"
    assert ".innerHTML" not in source, "text is set as text, never parsed as HTML"


@pytest.mark.parametrize("route", HTML)
def test_every_input_has_a_label(route: str) -> None:
    page = served(route)
    labelled = set(re.findall(r'<label for="([^"]+)"', page))
    for tag in re.findall(r"<(?:input|select)\b[^>]*>", page):
        if 'type="checkbox"' in tag:
            continue  # wrapped in its label
        (input_id,) = re.findall(r'id="([^"]+)"', tag)
        assert input_id in labelled, input_id


@pytest.mark.parametrize("route", HTML)
def test_every_form_posts_and_cannot_be_submitted_before_its_script_runs(route: str) -> None:
    # ASVS V14.2.1: a form submitted before its module runs (a slow network, a password
    # manager's auto-submit, a script that failed) would send what was typed, a password or a
    # code, as a GET: into the address bar and the history. Every form posts, and its submit
    # buttons are disabled until the module that handles it enables them (api.js onSubmit).
    page = served(route)
    forms = re.findall(r"<form\b([^>]*)>(.*?)</form>", page, flags=re.DOTALL)
    assert forms, "every page has a form (the callback's is the second step's)"
    for attributes, inner in forms:
        assert 'method="post"' in attributes, attributes
        buttons = re.findall(r"<button\b[^>]*>", inner)
        submits = [button for button in buttons if 'type="button"' not in button]
        assert submits, attributes
        assert all(re.search(r"\sdisabled[\s>]", button) for button in submits), submits
    # The password managers' hints stay.
    if route in ("signin", "signup"):
        hint = "current-password" if route == "signin" else "new-password"
        assert f'autocomplete="{hint}"' in page and 'autocomplete="username' in page


def test_the_current_password_may_be_left_empty_for_a_user_who_has_none() -> None:
    # A user made by a first sign-in with an identity provider has no password to give (the
    # page cannot tell: no User says whether one is set); the API asks it of whoever has one.
    page = served("")
    (current,) = re.findall(r'<input id="current-password"[^>]*>', page)
    (new,) = re.findall(r'<input id="new-password"[^>]*>', page)
    assert not re.search(r"\srequired[\s>]", current) and re.search(r"\srequired[\s>]", new)
    assert "never set a password" in page


# -- its package ------------------------------------------------------------------------------


def test_its_package_serves_the_pages_with_the_standard_library_alone(tmp_path: Path) -> None:
    """`sam build` (src/Makefile's build-PagesFunction) packages the module and the pages;
    run without site-packages (-S), it still serves them."""
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    out = tmp_path / "package"
    src = Path(account_pages.__file__).resolve().parents[1]
    subprocess.run(  # noqa: S603 - make with our own Makefile
        [make, "-s", "-C", str(src), "build-PagesFunction", f"ARTIFACTS_DIR={out}"], check=True
    )
    assert sorted(p.name for p in (out / "handlers").iterdir()) == [
        "__init__.py",
        "account_pages.py",
        "gc_pause.py",
        "init_pause.py",
    ]
    code = (
        "import sys, json, handlers.account_pages as p\n"
        "answer = p.handler({'routeKey': 'GET /account/{proxy+}', 'rawPath': '/account/signin',"
        " 'pathParameters': {'proxy': 'signin'}}, None)\n"
        "ours = ('auth', 'aws_lambda_powertools', 'boto3')\n"
        "third_party = [m for m in sys.modules if m.split('.')[0] in ours]\n"
        "print(json.dumps([answer['statusCode'], third_party]))"
    )
    run = subprocess.run(  # noqa: S603 - our own interpreter and a fixed script
        [sys.executable, "-S", "-c", code], cwd=out, capture_output=True, text=True, check=True
    )
    assert run.stdout.strip() == "[200, []]"
