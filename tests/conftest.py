"""Fixtures shared by every test: AWS on moto built from template.yaml, and a clock."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends
from moto.secretsmanager.models import secretsmanager_backends

from auth.config import Config
from auth.wiring import ApiServices, AuthorizerServices, build_api_services, build_authorizer_services
from devstack.provision import create_all
from devstack.template import Template, load_template
from tests.support import shared_dynamodb
from tests.support.audit import RecordingAudit
from tests.support.clock import FakeClock
from tests.support.oidc_provider import oidc_provider  # noqa: F401 - the session's OpenID provider (SPEC §8)

REGION = "us-east-1"
_SHARED_DYNAMODB = pytest.StashKey[shared_dynamodb.Shared | None]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_SHARED_DYNAMODB] = shared_dynamodb.start(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    shared_dynamodb.stop(config.stash.get(_SHARED_DYNAMODB, None))


@pytest.fixture(scope="session")
def template() -> Template:
    return load_template()


@pytest.fixture(scope="session")
def boto_session() -> boto3.session.Session:
    # One session for every test's clients: it keeps the service models it has read, which a
    # client of boto3's default session reads again after each mock_aws() resets it (~0.3 s a
    # test). moto is imported above, so its stubber is among this session's handlers.
    return boto3.session.Session(region_name=REGION)


@contextmanager
def moto_aws(
    monkeypatch: pytest.MonkeyPatch, template: Template, boto_session: boto3.session.Session
) -> Iterator[dict[str, Any]]:
    """moto in-process, with every table and the secret of template.yaml."""
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SECRETS_MANAGER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        dynamodb = boto_session.client("dynamodb", region_name=REGION)
        secretsmanager = boto_session.client("secretsmanager", region_name=REGION)
        _provision(template, dynamodb, secretsmanager)
        yield {"dynamodb": dynamodb, "secretsmanager": secretsmanager, "template": template}


# What create_all left in moto's stores, by template: a later test starts from a copy of it
# (creating the tables through the API took ~70 ms a test; a copy takes ~1 ms). The copy
# is moto's state as the API made it, so every test still starts from what create_all does.
_PROVISIONED: dict[Path, tuple[Any, Any]] = {}


def _provision(template: Template, dynamodb: Any, secretsmanager: Any) -> None:
    tables = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION]
    secrets = secretsmanager_backends[DEFAULT_ACCOUNT_ID][REGION]
    made = _PROVISIONED.get(template.path)
    if made is None:
        create_all(template, dynamodb, secretsmanager)
        _PROVISIONED[template.path] = (copy.deepcopy(tables.tables), copy.deepcopy(secrets.secrets))
    else:
        tables.tables, secrets.secrets = copy.deepcopy(made)


@pytest.fixture
def aws(
    monkeypatch: pytest.MonkeyPatch, template: Template, boto_session: boto3.session.Session
) -> Iterator[dict[str, Any]]:
    with moto_aws(monkeypatch, template, boto_session) as world:
        yield world


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def config() -> Config:
    # Cost 4 keeps the suite fast; the cost itself is tested in test_passwords.
    return Config(bcrypt_cost=4)


@pytest.fixture
def audit() -> RecordingAudit:
    return RecordingAudit()


@pytest.fixture
def api(aws: dict[str, Any], clock: FakeClock, config: Config, audit: RecordingAudit) -> ApiServices:
    return build_api_services(config, clock, aws["dynamodb"], aws["secretsmanager"], audit)


@pytest.fixture
def authorizer_services(aws: dict[str, Any], clock: FakeClock, config: Config) -> AuthorizerServices:
    return build_authorizer_services(config, clock, aws["dynamodb"], aws["secretsmanager"])


# `make test` hands whole files to three xdist workers in collection order (`--dist loadfile
# --no-loadscope-reorder`; xdist's own order is by number of tests): the files that start a
# local stack or a browser, the longest, go first, so that the last ones left are short unit
# modules and no worker waits long for the others at the end.
_LONGEST_FIRST = ("e2e", "browser", "devstack")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        folder = item.path.parent.name
        return _LONGEST_FIRST.index(folder) if folder in _LONGEST_FIRST else len(_LONGEST_FIRST)

    items.sort(key=rank)
