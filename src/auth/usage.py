"""Recording that a credential was used (SPEC §4): a PAT's `lastUsedAt`, a session's
`lastAccessedAt`, written at most once a minute per credential, so that a busy client
costs one write a minute rather than one a request."""

from __future__ import annotations

from collections.abc import Callable

from auth.errors import Unavailable

WRITE_INTERVAL_SECONDS = 60


def note_use(
    last_written: int | None, now: int, write: Callable[[], bool | None], on_first_use: Callable[[], None]
) -> None:
    """Run `write` unless the use was written less than a minute ago (`last_written`, None
    when never), and `on_first_use` when it says this was the credential's first use.

    Best effort: a failed bookkeeping write never refuses a valid credential.
    """
    if last_written is not None and now - last_written < WRITE_INTERVAL_SECONDS:
        return
    try:
        first_use = write()
    except Unavailable:
        return
    if first_use:
        on_first_use()
