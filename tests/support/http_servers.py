"""Serving a test's own HTTP server (a scripted provider, an attacker's page, a throttling
DynamoDB) from a thread, for as long as a block runs."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

# shutdown() returns at the serving loop's next poll: at socketserver's default of 0.5 s,
# every test with a server of its own would end half a second late.
POLL_SECONDS = 0.05

Server = TypeVar("Server", bound=socketserver.BaseServer)


@contextmanager
def serving(server: Server) -> Iterator[Server]:
    """`server`, answering from a thread of its own; shut down and closed when the block ends."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": POLL_SECONDS}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
