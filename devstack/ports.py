"""Free ports and waiting for a local server to answer."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable

HOST = "127.0.0.1"


def free_port() -> int:
    # The port may be taken again before the backend binds it; on a developer machine
    # that race is rare enough, and the backends give no way to report the port they bound.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def answers_http(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - our own local URL  # nosec B310
            return True
    except urllib.error.HTTPError:
        # Any HTTP answer (DynamoDB Local says 400 to a bare GET) means it is listening.
        return True
    except (OSError, ValueError):
        return False


def wait_until(ready: Callable[[], bool], timeout: float, alive: Callable[[], bool]) -> bool:
    """Poll `ready` until it is true; give up early once `alive` says the server died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return True
        if not alive():
            return False
        time.sleep(0.05)
    return False
