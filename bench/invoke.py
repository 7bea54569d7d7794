"""Calling the authorizer as Lambda does, with its services swapped in and its logs muted."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from typing import Any

from auth.wiring import AuthorizerServices
from handlers import authorizer, observability
from tests.support.events import FakeLambdaContext

CONTEXT = FakeLambdaContext()


def invoke(event: dict[str, Any]) -> bool:
    """Whether the request was let through; a refusal is the 'Unauthorized' exception."""
    try:
        return bool(authorizer.handler(event, CONTEXT)["isAuthorized"])
    except Exception as refused:
        if str(refused) != "Unauthorized":
            raise
        return False


@contextmanager
def container(services: AuthorizerServices) -> Iterator[None]:
    """The authorizer module as a container holding `services`.

    Refusals are logged at INFO, and each denial writes its metric line to stdout: both are
    still formatted and written (Lambda pays for that too), to /dev/null instead of flooding
    the bench's output.
    """
    handler = observability.logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    with open(os.devnull, "w") as devnull, redirect_stdout(devnull):
        previous = handler.setStream(devnull)
        authorizer.services.replace(services)
        try:
            yield
        finally:
            authorizer.services.replace(None)
            handler.setStream(previous)
