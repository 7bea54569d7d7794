"""Text people give that others' screens show takes no control character (auth.shown_text):
each route refuses it with a 400 naming the field and changes nothing; a provider's display
name has them dropped."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from auth import routes
from auth.errors import InvalidArgument
from auth.models import SignIn
from auth.wiring import ApiServices
from tests.support.authenticator import SoftAuthenticator
from tests.support.factors import factor_call
from tests.support.people import People, call_api, context_for
from tests.support.sso import IDP, as_admin, create_provider, oauth2_body

# A NUL, a newline that would fake a second line, a terminal's escape, a C1 control, a line
# separator, a right-to-left override.
CONTROLS = ["\x00", "\n", "\x1b[2J", "\x85", "\u2028", "\u202e"]


@pytest.mark.parametrize("control", CONTROLS, ids=["nul", "newline", "escape", "c1", "line-separator", "rlo"])
@pytest.mark.parametrize("field", ["displayName", "email"])
def test_a_profile_with_a_control_character_is_a_400_and_nothing_is_made(
    api: ApiServices, people: People, field: str, control: str
) -> None:
    value = f"ca{control}rol@example.com" if field == "email" else f"Ca{control}rol"
    body = {"user": {"username": "carol", "password": "correct horse battery", field: value}}
    answer = call_api(api, "POST", routes.SIGN_UP.path, routes.SIGN_UP.path, body=body)
    assert (answer.status, answer.body["message"]) == (400, f"{field} must not contain control characters")
    assert api.users.get_by_username("carol") is None
    path = routes.UPDATE_USER.path.format(username="alice")
    change = call_api(
        api, "PATCH", path, routes.UPDATE_USER.path, context_for(people.alice), body={field: value}
    )
    assert change.status == 400
    stored = api.users.get(people.alice.id, consistent=True)
    assert stored is not None and control not in stored.display_name + stored.email


def test_a_token_description_with_a_control_character_is_a_400_and_no_token_is_made(
    api: ApiServices, people: People
) -> None:
    path = routes.CREATE_PAT.path.format(username="alice")
    body = {"description": "ci\nfake line", "expiresInDays": 0}
    answer = call_api(api, "POST", path, routes.CREATE_PAT.path, context_for(people.alice), body=body)
    assert (answer.status, answer.body["message"]) == (400, "description must not contain control characters")
    assert api.pats.list_for_user(people.alice.id) == []


def test_a_provider_title_with_a_control_character_is_a_400_and_nothing_is_stored(
    api: ApiServices, people: People
) -> None:
    body = oauth2_body("https://idp.example.com", "client", title="Corp\x1b]0;owned\x07")
    answer = create_provider(api, people.admin, body, "corp")
    assert (answer.status, answer.body["message"]) == (400, "title must not contain control characters")
    assert api.idp_store.list_providers() == []


def test_a_passkey_name_with_a_control_character_is_a_400_and_nothing_is_stored(
    api: ApiServices, people: People
) -> None:
    authenticator = SoftAuthenticator()
    options = factor_call(api, routes.PASSKEY_REGISTRATION, people.alice)
    credential: Any = authenticator.register(options.body["options"], "ES256")
    body = {"credential": credential, "displayName": "Laptop\x00"}
    answer = factor_call(api, routes.REGISTER_PASSKEY, people.alice, body=body)
    assert (answer.status, answer.body["message"]) == (400, "displayName must not contain control characters")
    assert not api.passkeys.has_any(people.alice.id)


def test_the_rule_is_one_check_for_every_field() -> None:
    from auth.shown_text import check_shown_text, without_controls

    check_shown_text("title", "Zoë, 名前, اسم")
    with pytest.raises(InvalidArgument):
        check_shown_text("title", "tab\there")
    assert without_controls("Ann\x00\tB\x1b[31mLee\n\u202ex\u2028") == "Ann B[31mLee x "


def test_a_profile_stored_before_the_rule_does_not_keep_an_admin_from_changing_its_user(
    api: ApiServices, people: People
) -> None:
    # As a record written before control characters were refused, and a Memos client that
    # sends back the whole User it read.
    before = api.users.get(people.alice.id, consistent=True)
    assert before is not None
    api.users.update(before, replace(before, display_name="Alice\tA"))
    path = routes.UPDATE_USER.path.format(username="alice")
    admin = context_for(people.admin, sign_in=SignIn.with_password(api.clock.now()))
    body = {"state": "ARCHIVED", "displayName": "Alice\tA"}
    answer = call_api(api, "PATCH", path, routes.UPDATE_USER.path, admin, body=body)
    assert answer.status == 200, answer.body
    # A new one is still refused.
    body = {"displayName": "Alice\tB"}
    assert call_api(api, "PATCH", path, routes.UPDATE_USER.path, admin, body=body).status == 400


def test_a_provider_title_stored_before_the_rule_does_not_keep_an_admin_from_changing_it(
    api: ApiServices, people: People
) -> None:
    assert (
        create_provider(api, people.admin, oauth2_body("https://idp.example.com", "client"), "corp").status
        == 200
    )
    stored = api.idp_store.get_provider("corp")
    assert stored is not None
    old = replace(stored, provider=replace(stored.provider, title="Corp\x07"))
    assert api.idp_store.replace_provider(old, stored.provider.update_time)
    path = IDP.format(id="corp")
    kept = as_admin(api, "PATCH", path, IDP, people.admin, body={"title": "Corp\x07", "clientSecret": "new"})
    assert kept.status == 200, kept.body
    refused = as_admin(api, "PATCH", path, IDP, people.admin, body={"title": "Corp\x1b"})
    assert (refused.status, refused.body["message"]) == (400, "title must not contain control characters")
