"""End-to-end fixtures: a real local stack (`python -m devstack`, as `make run` starts it)."""

from __future__ import annotations

import http.client
import itertools
import json
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from typing import Any

import jwt
import pytest
import requests
from requests.adapters import HTTPAdapter

from devstack.stack import LocalStack
from tests.support.attacks import Material
from tests.support.local_stacks import local_stack

PASSWORD = "correct horse battery"
_names = itertools.count()


class _FromAddress(HTTPAdapter):
    """Connects from the given local address: any 127.0.0.x reaches the stack, and the stack
    sees it as the caller's IP (the sign-in throttle counts by IP)."""

    def __init__(self, address: str) -> None:
        self._address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, source_address=(self._address, 0), **kwargs)


class Api:
    """A thin HTTP client for one stack."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.base = stack.url + "/api/v1"

    def call(self, method: str, path: str, source: str | None = None, **kwargs: Any) -> requests.Response:
        """`source`: the client's address (127.0.0.x) when it must be another IP."""
        timeout = kwargs.pop("timeout", 30)
        if source is None:
            return requests.request(method, self.base + path, timeout=timeout, **kwargs)
        with requests.Session() as session:
            session.mount("http://", _FromAddress(source))
            return session.request(method, self.base + path, timeout=timeout, **kwargs)

    def sign_up(self, username: str, password: str = PASSWORD, **kwargs: Any) -> requests.Response:
        return self.call(
            "POST", "/users", json={"user": {"username": username, "password": password}}, **kwargs
        )

    def sign_in(self, username: str, password: str = PASSWORD, **kwargs: Any) -> requests.Response:
        body = {"passwordCredentials": {"username": username, "password": password}}
        return self.call("POST", "/auth/signin", json=body, **kwargs)

    def new_user(self) -> tuple[str, str, str]:
        """A fresh signed-up and signed-in user: (username, access token, refresh token)."""
        username = f"user{next(_names)}"
        assert self.sign_up(username).status_code == 200
        signed_in = self.sign_in(username)
        assert signed_in.status_code == 200, signed_in.text
        return username, signed_in.json()["accessToken"], signed_in.cookies["memos_refresh"]

    def signing_key(self) -> tuple[str, bytes]:
        secret = self.stack.client("secretsmanager").get_secret_value(
            SecretId="SigningKeySecret", VersionStage="AWSCURRENT"
        )
        value = json.loads(secret["SecretString"])
        return value["kid"], value["key"].encode()

    def scan(self, table: str) -> list[dict[str, Any]]:
        return self.stack.client("dynamodb").scan(TableName=self.stack.tables[table])["Items"]

    def raw(self, method: str, path: str, headers: Sequence[tuple[str, str]]) -> tuple[int, Any]:
        """A request whose header lines are sent exactly as given: repeated, any case,
        non-ASCII (as UTF-8 bytes), which `requests` would refuse or merge."""
        url = urllib.parse.urlsplit(self.base + path)
        connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
        try:
            connection.putrequest(method, url.path, skip_accept_encoding=True)
            for name, value in headers:
                connection.putheader(name, value.encode("utf-8"))
            connection.endheaders()
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        try:
            return response.status, json.loads(body)
        except ValueError:
            return response.status, body

    def user_id(self, access_token: str) -> int:
        return int(jwt.decode(access_token, options={"verify_signature": False})["sub"])

    def material(self) -> Material:
        """Every kind of credential of a fresh user, and the key: what the attack rows forge from."""
        username, access, refresh = self.new_user()
        auth = {"Authorization": f"Bearer {access}"}
        created = self.call(
            "POST", f"/users/{username}/personalAccessTokens", json={"description": "e2e"}, headers=auth
        )
        assert created.status_code == 200, created.text
        body = {"passwordCredentials": {"username": username, "password": PASSWORD}}
        session = self.call("POST", "/auth/sessions", json=body)
        assert session.status_code == 200, session.text
        logins = self.call("GET", f"/users/{username}/sessions", headers=auth).json()["sessions"]
        (public_id,) = [login["id"] for login in logins if login["kind"] == "session"]
        kid, key = self.signing_key()
        return Material(
            kid=kid,
            key=key,
            now=int(time.time()),
            user_id=self.user_id(access),
            other_user_id=self.user_id(self.new_user()[1]),
            access_token=access,
            refresh_token=refresh,
            pat=created.json()["token"],
            session=session.cookies["user_session"],
            session_public_id=public_id,
        )


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    # The README walk-through runs on a stack of its own with the default settings.
    with local_stack() as running:
        yield running


@pytest.fixture(scope="session")
def api(stack: LocalStack) -> Api:
    client = Api(stack)
    # The very first user of this stack is its admin; later ones are users.
    assert client.sign_up("admin").json()["role"] == "ADMIN"
    return client


@pytest.fixture(scope="module")
def admin_token(api: Api) -> str:
    signed_in = api.sign_in("admin")
    assert signed_in.status_code == 200
    return signed_in.json()["accessToken"]
