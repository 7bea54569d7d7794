"""A small, fully in-memory world for the authorizer: three users and real credentials.

The authorizer's real services (key ring, stores, authenticator) run over the stand-ins of
tests/support/fake_aws, so a suite can call the handler thousands of times in seconds.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from auth.config import Config
from auth.keys import CURRENT_STAGE
from auth.models import ClientInfo, Role, SignIn, State, User
from auth.pats import generate_pat, hash_pat
from auth.sessions import hash_secret, session_cookie_value
from auth.stores.pat_store import PatRecord, pat_to_item
from auth.stores.session_store import SessionRecord, SessionStore
from auth.stores.user_store import UserStore, user_to_item
from auth.tokens import SigningKey, mint_access_token, mint_refresh_token
from auth.user_agents import parse_user_agent
from auth.wiring import AuthorizerServices, build_authorizer_services
from devstack.template import load_template
from tests.support.attacks import Material
from tests.support.clock import FakeClock
from tests.support.fake_aws import FakeDynamoDB, FakeSecretsManager, key_names

KID = "v1"
SECRET = "a-fixed-signing-key-for-tests-only-0123456789"
CLIENT = ClientInfo("pytest", "203.0.113.7")


@dataclass(frozen=True)
class World:
    services: AuthorizerServices
    dynamodb: FakeDynamoDB
    admin: Material
    alice: Material
    # An archived user: every credential of theirs is genuine, and none may pass.
    archived: Material


def _user(user_id: int, username: str, role: Role, state: State, now: int) -> User:
    return User(user_id, username, role, state, "", "", "", now, now)


def _material(config: Config, dynamodb: FakeDynamoDB, user: User, other: User, now: int) -> Material:
    key = SigningKey(KID, SECRET.encode())
    dynamodb.put_item(TableName=config.users_table, Item=user_to_item(user))
    pat = generate_pat()
    dynamodb.put_item(
        TableName=config.personal_access_tokens_table,
        Item=pat_to_item(
            PatRecord(hash_pat(pat), str(uuid.uuid4()), user.id, "ci", now, None, None, user.as_owner)
        ),
    )
    secret, public_id = str(uuid.uuid4()), str(uuid.uuid4())
    users = UserStore(dynamodb, config.users_table, config.settings_table)
    SessionStore(dynamodb, config.sessions_table, users).create(
        SessionRecord(
            hash_secret(secret),
            public_id,
            user.id,
            now,
            now,
            now + config.session_ttl,
            CLIENT,
            parse_user_agent("pytest"),
            SignIn.with_password(now),
        ),
        user,
    )
    return Material(
        kid=KID,
        key=key.secret,
        now=now,
        user_id=user.id,
        other_user_id=other.id,
        access_token=mint_access_token(user, key, now, config.access_token_ttl).token,
        refresh_token=mint_refresh_token(
            user.id, str(uuid.uuid4()), str(uuid.uuid4()), key, now, config.refresh_token_ttl
        ).token,
        pat=pat,
        session=session_cookie_value(user.id, secret),
        session_public_id=public_id,
    )


def build_world(clock: FakeClock | None = None, config: Config | None = None) -> World:
    clock = clock or FakeClock()
    config = config or Config()
    now = int(clock.now())
    dynamodb = FakeDynamoDB(key_names(load_template()))
    secretsmanager = FakeSecretsManager({CURRENT_STAGE: json.dumps({"kid": KID, "key": SECRET})})
    admin = _user(1, "root", Role.ADMIN, State.NORMAL, now)
    alice = _user(2, "alice", Role.USER, State.NORMAL, now)
    carol = _user(3, "carol", Role.USER, State.ARCHIVED, now)
    services = build_authorizer_services(config, clock, dynamodb, secretsmanager)
    return World(
        services=services,
        dynamodb=dynamodb,
        admin=_material(config, dynamodb, admin, alice, now),
        alice=_material(config, dynamodb, alice, admin, now),
        archived=_material(config, dynamodb, carol, alice, now),
    )
