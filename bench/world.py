"""A seeded stack for the bench: config, clock, AWS clients, signing key and users.

The same World runs on the in-process fakes (timing, memory) and on moto (call counting),
so every measurement sees the same tables, key and credentials.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from auth.clock import Clock
from auth.config import Config
from auth.keys import CURRENT_STAGE, parse_secret
from auth.models import Role, State, User
from auth.stores.user_store import user_to_item
from auth.wiring import AuthorizerServices, build_authorizer_services
from devstack.template import load_template
from tests.support.fake_aws import FakeDynamoDB, FakeSecretsManager, key_names

if TYPE_CHECKING:
    from auth.wiring import ApiServices

# A fixed key, so a run is reproducible; never a real secret.
SECRET_STRING = json.dumps({"kid": "v1", "key": "bench-signing-key-0123456789abcdefghijklmnop"})
REGION = "us-east-1"


@dataclass
class World:
    config: Config
    clock: Clock
    dynamodb: Any
    secretsmanager: Any
    users: list[User] = field(default_factory=list)

    @property
    def signing_key(self) -> Any:
        return parse_secret(SECRET_STRING)

    def authorizer_services(self) -> AuthorizerServices:
        """What a fresh container builds: empty key and user caches."""
        return build_authorizer_services(self.config, self.clock, self.dynamodb, self.secretsmanager)

    @cached_property
    def api(self) -> ApiServices:
        """The API's services, to create PATs and sessions the way the API does."""
        from auth.wiring import build_api_services

        return build_api_services(self.config, self.clock, self.dynamodb, self.secretsmanager)

    def add_users(self, count: int) -> list[User]:
        now = int(self.clock.now())
        while len(self.users) < count:
            user_id = len(self.users) + 1
            user = User(user_id, f"user{user_id}", Role.USER, State.NORMAL, "", "", "", now, now)
            self.dynamodb.put_item(TableName=self.config.users_table, Item=user_to_item(user))
            self.users.append(user)
        return self.users[:count]


def fake_world(clock: Clock, config: Config | None = None) -> World:
    dynamodb = FakeDynamoDB(key_names(load_template()))
    secretsmanager = FakeSecretsManager({CURRENT_STAGE: SECRET_STRING})
    return World(config or Config(), clock, dynamodb, secretsmanager)


@contextmanager
def moto_world(clock: Clock, config: Config | None = None) -> Iterator[World]:
    """moto in-process, tables and secret from template.yaml, as the unit tests build them."""
    import boto3
    from moto import mock_aws

    from devstack.provision import create_all

    with mock_aws():
        template = load_template()
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        secretsmanager = boto3.client("secretsmanager", region_name=REGION)
        create_all(template, dynamodb, secretsmanager)
        for secret in template.secrets.values():
            secretsmanager.put_secret_value(SecretId=secret.name, SecretString=SECRET_STRING)
        yield World(config or Config(), clock, dynamodb, secretsmanager)
