"""Issue 5: races on personal access tokens and refresh tokens, with real parallel requests to
the local stack on DynamoDB Local (moto's conditional writes are not atomic across threads, so
races are only meaningful here). The sign-up races live in test_first_slice.py, the
first-admin race in test_first_user_race.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import jwt
import pytest
import requests

from auth.clock import SystemClock
from auth.errors import SignInOutdated
from auth.models import NO_SIGN_IN, ClientInfo
from auth.sessions import Sessions
from auth.stores.session_store import SessionStore
from auth.stores.user_store import UserStore
from tests.e2e.conftest import PASSWORD, Api
from tests.support.local_stacks import local_stack

pytestmark = pytest.mark.e2e

WORKERS = 20


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def create_pat(api: Api, username: str, access: str) -> requests.Response:
    return api.call(
        "POST",
        f"/users/{username}/personalAccessTokens",
        json={"description": "race"},
        headers=bearer(access),
    )


def delete_pat(api: Api, username: str, access: str, token_id: str) -> requests.Response:
    return api.call("DELETE", f"/users/{username}/personalAccessTokens/{token_id}", headers=bearer(access))


def token_id(created: dict[str, Any]) -> str:
    return created["personalAccessToken"]["name"].rsplit("/", 1)[1]


def stored_pats(api: Api, user_id: int) -> list[dict[str, Any]]:
    return [item for item in api.scan("PersonalAccessTokensTable") if item["userId"]["N"] == str(user_id)]


def test_concurrent_pat_creation_and_deletion_lose_nothing_and_leave_nothing(api: Api) -> None:
    username, access, _ = api.new_user()
    doomed = [create_pat(api, username, access).json() for _ in range(WORKERS // 2)]

    def work(i: int) -> requests.Response:
        if i % 2:
            return delete_pat(api, username, access, token_id(doomed[i // 2]))
        return create_pat(api, username, access)

    with ThreadPoolExecutor(WORKERS) as pool:
        responses = list(pool.map(work, range(WORKERS)))
    assert [r.status_code for r in responses] == [200] * WORKERS
    created = [r.json() for i, r in enumerate(responses) if i % 2 == 0]
    # No lost token: every one created is listed, stored once and works.
    listed = api.call("GET", f"/users/{username}/personalAccessTokens", headers=bearer(access)).json()
    assert sorted(p["name"] for p in listed["personalAccessTokens"]) == sorted(
        c["personalAccessToken"]["name"] for c in created
    )
    assert len(assert_copies_agree(api, api.user_id(access))) == len(created)
    for body in created:
        assert api.call("GET", "/auth/me", headers=bearer(body["token"])).status_code == 200
    # No orphan: every deleted one is gone and refused.
    for body in doomed:
        assert api.call("GET", "/auth/me", headers=bearer(body["token"])).status_code == 401


def test_concurrent_deletes_of_one_pat_succeed_once(api: Api) -> None:
    username, access, _ = api.new_user()
    created = create_pat(api, username, access).json()
    with ThreadPoolExecutor(WORKERS) as pool:
        statuses = [
            r.status_code
            for r in pool.map(lambda _: delete_pat(api, username, access, token_id(created)), range(WORKERS))
        ]
    assert statuses.count(200) == 1 and statuses.count(404) == WORKERS - 1
    assert stored_pats(api, api.user_id(access)) == []


def test_pats_created_while_their_user_is_deleted_leave_no_orphan(api: Api) -> None:
    username, access, _ = api.new_user()
    user_id = api.user_id(access)

    def work(i: int) -> requests.Response:
        if i == WORKERS // 2:
            return api.call("DELETE", f"/users/{username}", headers=bearer(access))
        return create_pat(api, username, access)

    with ThreadPoolExecutor(WORKERS) as pool:
        responses = list(pool.map(work, range(WORKERS)))
    assert responses[WORKERS // 2].status_code == 200
    # Creations before the deletion succeeded, later ones were refused (401 at the
    # authorizer, or 404 from the handler); either way nothing of the user is left.
    assert {r.status_code for r in responses} <= {200, 401, 404}
    assert stored_pats(api, user_id) == []
    assert not [item for item in api.scan("UsersTable") if item["pk"]["S"] == f"user#{user_id}"]


def stored_user(api: Api, user_id: int) -> dict[str, Any]:
    return next(item for item in api.scan("UsersTable") if item["pk"]["S"] == f"user#{user_id}")


def assert_copies_agree(api: Api, user_id: int) -> list[dict[str, Any]]:
    """Every PAT of the user carries the user's username, role and state, and the user's
    count is the number of their PATs: what the authorizer and role changes rely on."""
    user = stored_user(api, user_id)
    pats = stored_pats(api, user_id)
    for item in pats:
        copy = [item[name]["S"] for name in ("ownerUsername", "ownerRole", "ownerState")]
        assert copy == [user[name]["S"] for name in ("username", "role", "state")]
    assert int(user.get("patCount", {"N": "0"})["N"]) == len(pats)
    return pats


def test_pats_created_while_their_user_changes_role_all_carry_the_final_role(
    api: Api, admin_token: str
) -> None:
    username, access, _ = api.new_user()
    user_id = api.user_id(access)

    def work(i: int) -> requests.Response:
        if i % 4 == 0:  # five role changes among fifteen creations
            role = "ADMIN" if i % 8 == 0 else "USER"
            return api.call("PATCH", f"/users/{username}", headers=bearer(admin_token), json={"role": role})
        return create_pat(api, username, access)

    with ThreadPoolExecutor(WORKERS) as pool:
        responses = list(pool.map(work, range(WORKERS)))
    assert [r.status_code for r in responses] == [200] * WORKERS, [
        r.text for r in responses if r.status_code != 200
    ]
    assert len(assert_copies_agree(api, user_id)) == WORKERS - WORKERS // 4
    final = api.call("GET", f"/users/{username}").json()["role"]
    expected = 200 if final == "ADMIN" else 403
    for i, response in enumerate(responses):
        if i % 4:
            pat = response.json()["token"]
            assert api.call("GET", "/users", headers=bearer(pat)).status_code == expected


def test_a_user_with_the_most_pats_is_archived_in_one_transaction(api: Api, admin_token: str) -> None:
    from auth.stores.pat_store import MAX_TOKENS_PER_USER

    username, access, _ = api.new_user()
    with ThreadPoolExecutor(4) as pool:
        created = list(pool.map(lambda _: create_pat(api, username, access), range(MAX_TOKENS_PER_USER)))
    assert {r.status_code for r in created} == {200}
    one_too_many = create_pat(api, username, access)
    assert one_too_many.status_code == 400 and "at most" in one_too_many.json()["message"]
    archived = api.call(
        "PATCH", f"/users/{username}", headers=bearer(admin_token), json={"state": "ARCHIVED"}
    )
    assert archived.status_code == 200, archived.text
    assert len(assert_copies_agree(api, api.user_id(access))) == MAX_TOKENS_PER_USER
    for response in created[:: MAX_TOKENS_PER_USER // 10]:
        assert api.call("GET", "/auth/me", headers=bearer(response.json()["token"])).status_code == 401


# -- refresh: one token, refreshed 20 times at once -----------------------------------------


@pytest.fixture(scope="module")
def no_grace_api() -> Iterator[Api]:
    """A stack of its own with the retry grace off (REFRESH_REUSE_GRACE_SECONDS=0)."""
    with local_stack(REFRESH_REUSE_GRACE_SECONDS="0") as running:
        yield Api(running)


def refresh_with(api: Api, token: str) -> requests.Response:
    return api.call("POST", "/auth/refresh", cookies={"memos_refresh": token})


def refresh_all_at_once(api: Api, token: str) -> list[requests.Response]:
    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(lambda _: refresh_with(api, token), range(WORKERS)))


def claims(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def families_of(api: Api, user_id: int) -> list[dict[str, Any]]:
    return [item for item in api.scan("RefreshTokensTable") if item["userId"]["N"] == str(user_id)]


def test_concurrent_refreshes_with_one_token_all_answer_for_one_family(api: Api) -> None:
    # The default grace (30 s): one request wins the conditional update, the 19 others find
    # the token they sent is the one just rotated away, and are answered for the new one.
    _, access, refresh = api.new_user()
    responses = refresh_all_at_once(api, refresh)
    assert [r.status_code for r in responses] == [200] * WORKERS, [r.text for r in responses]
    (family,) = families_of(api, api.user_id(access))  # one sign-in, one family: no fork
    assert family["revoked"] == {"BOOL": False}
    assert family["familyId"]["S"] == claims(refresh)["fid"]
    assert family["previousTokenId"]["S"] == claims(refresh)["tid"]
    returned = [claims(r.cookies["memos_refresh"]) for r in responses]
    assert {c["fid"] for c in returned} == {family["familyId"]["S"]}
    assert {c["tid"] for c in returned} == {family["currentTokenId"]["S"]}
    for response in responses:
        assert api.call("GET", "/auth/me", headers=bearer(response.json()["accessToken"])).status_code == 200
    # Any of the 20 tokens rotates on; the family moves once more, still unforked.
    onward = refresh_with(api, responses[-1].cookies["memos_refresh"])
    assert onward.status_code == 200, onward.text
    (family,) = families_of(api, api.user_id(access))
    assert family["currentTokenId"]["S"] == claims(onward.cookies["memos_refresh"])["tid"]
    assert family["previousTokenId"]["S"] == returned[0]["tid"]


def test_without_the_grace_concurrent_refreshes_with_one_token_let_exactly_one_through(
    no_grace_api: Api,
) -> None:
    api = no_grace_api
    _, access, refresh = api.new_user()
    responses = refresh_all_at_once(api, refresh)
    statuses = [response.status_code for response in responses]
    assert statuses.count(200) == 1 and statuses.count(401) == WORKERS - 1
    # The 19 losers presented a token that had just been rotated away: a reuse, so the whole
    # family is revoked (RFC 9700 §4.14.2) and the winner's new token is refused as well.
    (winner,) = [response for response in responses if response.status_code == 200]
    (family,) = families_of(api, api.user_id(access))
    assert family["revoked"] == {"BOOL": True}
    assert refresh_with(api, winner.cookies["memos_refresh"]).status_code == 401


# -- sign-ins with the old password, racing its change ----------------------------------------

NEW_PASSWORD = "an entirely new passphrase"


def test_sign_ins_with_the_old_password_racing_its_change_do_not_survive_it(api: Api) -> None:
    username, access, refresh = api.new_user()
    user_id = api.user_id(access)
    old = {"passwordCredentials": {"username": username, "password": PASSWORD}}
    change = {"password": NEW_PASSWORD, "currentPassword": PASSWORD}

    def work(i: int) -> requests.Response:
        if i == WORKERS // 2:
            return api.call(
                "PATCH",
                f"/users/{username}",
                json=change,
                headers=bearer(access),
                cookies={"memos_refresh": refresh},
            )
        return api.call("POST", "/auth/sessions" if i % 2 else "/auth/signin", json=old)

    with ThreadPoolExecutor(WORKERS) as pool:
        responses = list(pool.map(work, range(WORKERS)))
    changed = responses.pop(WORKERS // 2)
    assert changed.status_code == 200, changed.text
    # Each sign-in got in before the change (and was ended by it) or was refused: a wrong
    # password's 400, whether it read the new hash or verified the old one too late, or the
    # throttle once the wrong passwords added up.
    assert {r.status_code for r in responses} <= {200, 400, 429}, [r.text for r in responses]
    for response in responses:
        if response.status_code == 400:
            assert response.json()["message"] == "unmatched username and password"
        if "user_session" in response.cookies:
            session = {"user_session": response.cookies["user_session"]}
            assert api.call("GET", "/auth/me", cookies=session).status_code == 401
        if "memos_refresh" in response.cookies:
            assert refresh_with(api, response.cookies["memos_refresh"]).status_code == 401
    # Nothing of the sign-ins is left live: only the changer's own, which the change kept.
    assert [item for item in api.scan("SessionsTable") if item["userId"]["N"] == str(user_id)] == []
    live = [family for family in families_of(api, user_id) if not family["revoked"]["BOOL"]]
    assert [family["familyId"]["S"] for family in live] == [claims(refresh)["fid"]]
    # From another address: the racers' wrong passwords may have throttled this one, and the
    # throttle never locks the owner out from elsewhere.
    assert api.sign_in(username, NEW_PASSWORD, source="127.0.0.2").status_code == 200


def test_dynamodb_local_stores_a_sign_ins_session_only_on_the_record_it_verified(api: Api) -> None:
    """The check of the user as DynamoDB itself evaluates it (moto accepts more, such as an
    unused expression value): both of its forms (a cut-off that never moved, one that did),
    a record read before a password change, and a user who is gone."""
    dynamodb, tables = api.stack.client("dynamodb"), api.stack.tables
    users = UserStore(dynamodb, tables["UsersTable"], tables["SettingsTable"])
    sessions = Sessions(SessionStore(dynamodb, tables["SessionsTable"], users), SystemClock(), ttl=60)
    username, access, _ = api.new_user()
    before = users.get(api.user_id(access), consistent=True)
    assert before is not None and before.tokens_not_before == 0
    sessions.create(before, ClientInfo(), NO_SIGN_IN)
    # An item written before the attribute was (0 is what a missing one reads as).
    key = {"pk": {"S": f"user#{before.id}"}}
    dynamodb.update_item(TableName=tables["UsersTable"], Key=key, UpdateExpression="REMOVE tokensNotBefore")
    sessions.create(before, ClientInfo(), NO_SIGN_IN)
    change = {"password": NEW_PASSWORD, "currentPassword": PASSWORD}
    changed = api.call("PATCH", f"/users/{username}", json=change, headers=bearer(access))
    assert changed.status_code == 200, changed.text
    after = users.get(before.id, consistent=True)
    assert after is not None and after.tokens_not_before > 0
    sessions.create(after, ClientInfo(), NO_SIGN_IN)
    earlier = replace(after, tokens_not_before=after.tokens_not_before - 1)
    gone = replace(after, id=after.id + 10**6)
    for stale in (before, earlier, gone):
        with pytest.raises(SignInOutdated):
            sessions.create(stale, ClientInfo(), NO_SIGN_IN)
