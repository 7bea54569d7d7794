"""End-to-end fixtures: a real local stack (`python -m devstack`, as `make run` starts it)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from devstack.stack import LocalStack

PASSWORD = "correct horse battery"
_names = itertools.count()


class Api:
    """A thin HTTP client for one stack."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.base = stack.url + "/api/v1"

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        timeout = kwargs.pop("timeout", 30)
        return requests.request(method, self.base + path, timeout=timeout, **kwargs)

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


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    # Revocation lag 0, so a revoked credential must fail on the very next request.
    with LocalStack(env_overrides={"REVOCATION_LAG_SECONDS": "0"}) as running:
        yield running


@pytest.fixture(scope="session")
def api(stack: LocalStack) -> Api:
    client = Api(stack)
    # The very first user of this stack is its admin; later ones are users.
    assert client.sign_up("admin").json()["role"] == "ADMIN"
    return client
