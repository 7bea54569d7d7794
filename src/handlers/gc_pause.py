"""The garbage collector while a container starts: paused, and what the start built frozen.

A function's start (importing its module at init, then building its services on the first
request: boto3, its service models, the clients) leaves some 100,000 objects that live as
long as the container. CPython's collector runs after every 700 new objects and rescans the
survivors again and again: measured in the authorizer's start, one full collection of
~30 ms and a dozen younger ones of 1-3 ms, about half of the start's own time. Paused, and
with the survivors then moved out of its reach by `gc.freeze` (the collector's own
documentation advises the same for what a process builds before it forks), the start pays
none of that, and no later request pays a full scan of them (~50 ms) either. The price is
the start's own cyclic garbage, some 700 objects, which stays.

Two pauses make a start: init, from an entry module's first import to its last line
(handlers.init_pause), and the first build of each handlers.lazy.Lazy (`paused`).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


def pause() -> bool:
    """Pause the collector; False when it was paused already (by a pause around this one)."""
    if not gc.isenabled():
        return False
    gc.disable()
    return True


def freeze_and_resume() -> None:
    """End a pause: what stands now is left out of every later collection."""
    gc.freeze()
    gc.enable()


@contextmanager
def paused() -> Iterator[None]:
    """The collector paused for the block, and what stands after it frozen; a block that
    fails only resumes the collector. Inside another pause, it leaves that one be."""
    mine = pause()
    try:
        yield
    except BaseException:
        if mine:
            gc.enable()
        raise
    if mine:
        freeze_and_resume()
