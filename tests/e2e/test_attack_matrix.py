"""Issue 5: the attack matrix of tests/support/attacks.py over HTTP, against the local stack.

The authorizer's 401 is API Gateway's own answer, `{"message": "Unauthorized"}`. Two
Authorization headers are sent as two header lines; the gateway joins them with a comma.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Api
from tests.support import attacks

pytestmark = pytest.mark.e2e

ME = "/auth/me"
UNAUTHORIZED = {"message": "Unauthorized"}


@pytest.fixture(scope="module")
def material(api: Api) -> attacks.Material:
    return api.material()


def send(api: Api, sent: attacks.Sent, path: str = ME, method: str = "GET") -> tuple[int, object]:
    headers = [("Authorization", value) for value in sent.authorization]
    if sent.cookies:
        headers.append(("Cookie", "; ".join(sent.cookies)))
    return api.raw(method, path, headers)


@pytest.mark.parametrize("name", attacks.GENUINE)
def test_the_genuine_credentials_pass(api: Api, material: attacks.Material, name: str) -> None:
    status, body = send(api, attacks.GENUINE[name](material))
    assert status == 200, body


@pytest.mark.parametrize("name", attacks.ACCEPTED_VARIANTS)
def test_the_accepted_variants_pass_as_their_owner(api: Api, material: attacks.Material, name: str) -> None:
    status, body = send(api, attacks.ACCEPTED_VARIANTS[name](material))
    assert status == 200, body
    # The same user as the genuine header names.
    assert (status, body) == send(api, attacks.GENUINE["access token"](material))


@pytest.mark.parametrize("attack", attacks.ALL_ATTACKS, ids=attacks.ATTACK_IDS)
def test_attack_is_unauthorized(api: Api, material: attacks.Material, attack: attacks.Attack) -> None:
    if not attack.over_http:
        pytest.skip("differs from the genuine header only in whitespace that HTTP strips (RFC 9110 §5.5)")
    status, body = send(api, attack.build(material))
    if attack.http_status != 401:
        # Refused by the HTTP server before the authorizer runs (see attacks.Attack.http_status).
        assert status == attack.http_status, body
        return
    assert (status, body) == (401, UNAUTHORIZED)


@pytest.mark.parametrize("name", attacks.REFRESH_ATTACKS)
def test_refresh_route_refuses_what_is_not_a_refresh_token(
    api: Api, material: attacks.Material, name: str
) -> None:
    cookie = f"memos_refresh={attacks.REFRESH_ATTACKS[name](material)}"
    status, body = api.raw("POST", "/auth/refresh", [("Cookie", cookie)])
    assert status == 401 and isinstance(body, dict) and body["code"] == 16, body
