"""Lambda SnapStart: what must not outlive a snapshot (template.yaml, parameter SnapStart).

With SnapStart on, Lambda runs a function's init once, when a version is published, and
starts every new container from a copy of that memory. Init only imports (handlers.api
builds its resolver and every route module then; the authorizer loads PyJWT): the services,
their boto3 clients and connections, the signing keys and every cache are built on the
first request after a restore, never into the snapshot. What could still be shared by every
container restored from one snapshot is forgotten by the hook registered here, which the
runtime calls after each restore:

- `random`'s state (the retry jitter of auth.stores.pat_store): reseeded from os.urandom,
  or every container would draw the same sequence. `secrets` and os.urandom need nothing;
- boto3's default session, which holds the credentials it resolved: a new one is made;
- each handler's services (a `handlers.lazy.Lazy`): rebuilt on the next request, with new
  clients (new connections, fresh credentials), a key ring that reads the secret again and
  empty caches of users and verified tokens.

The hooks come from the runtime's `snapshot_restore_py` (included in the Python 3.12+
managed runtimes); outside Lambda it is absent and the hooks are only kept here, where the
tests call them.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from typing import Any

from handlers.lazy import Lazy

# Registered hooks, in order: the runtime's list outside our reach, this one for the tests.
_registered: list[Callable[[], None]] = []


def _register_with_runtime(hook: Callable[[], None]) -> None:
    try:
        # Provided by Lambda's Python runtimes, not a dependency of ours.
        from snapshot_restore_py import register_after_restore  # type: ignore[import-not-found]  # see above
    except ImportError:
        return
    register_after_restore(hook)


def forget_after_restore(*singletons: Lazy[Any]) -> None:
    """After a SnapStart restore: reseed `random`, drop boto3's default session, and
    build each of `singletons` afresh on its next use."""

    def restored() -> None:
        random.seed()
        if "boto3" in sys.modules:
            import boto3

            boto3.DEFAULT_SESSION = None
        for singleton in singletons:
            singleton.replace(None)

    _registered.append(restored)
    _register_with_runtime(restored)


def registered_hooks() -> tuple[Callable[[], None], ...]:
    return tuple(_registered)
