"""SnapStart (handlers.snapshots): after a restore, no container shares its random state,
its AWS clients, its credentials or its caches with the others restored from one snapshot."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from handlers import api_context, authorizer, snapshots


@pytest.fixture
def built(aws: dict[str, Any]) -> Iterator[None]:
    """Both functions' services built from the environment, as on Lambda (the `aws`
    fixture supplies moto's credentials and region)."""
    api_context.services.replace()
    authorizer.services.replace()
    yield
    api_context.services.replace()
    authorizer.services.replace()


def _restore() -> None:
    for hook in snapshots.registered_hooks():
        hook()


def test_both_functions_register_a_hook() -> None:
    # One per handler module imported above (each forgets its own services).
    assert len(snapshots.registered_hooks()) >= 2


def test_a_restore_reseeds_random() -> None:
    snapshot = random.getstate()
    _restore()
    after_restore = [random.random() for _ in range(4)]
    random.setstate(snapshot)
    as_in_the_snapshot = [random.random() for _ in range(4)]
    assert after_restore != as_in_the_snapshot


@pytest.mark.usefixtures("built")
def test_a_restore_builds_new_services_clients_and_credentials() -> None:
    api_before, authorizer_before = api_context.services(), authorizer.services()
    session_before = boto3.DEFAULT_SESSION
    assert session_before is not None
    _restore()
    assert boto3.DEFAULT_SESSION is None
    api_after, authorizer_after = api_context.services(), authorizer.services()
    assert api_after is not api_before
    assert authorizer_after is not authorizer_before
    # New clients, from a new session (so credentials resolved again), and new caches.
    assert api_after.users._client is not api_before.users._client
    assert boto3.DEFAULT_SESSION is not session_before
    assert authorizer_after.authenticator is not authorizer_before.authenticator


def test_a_restore_with_nothing_built_builds_nothing() -> None:
    api_context.services.replace()
    _restore()
    assert api_context.services._value is None
