"""Importing this module pauses the garbage collector for a function's init (handlers.gc_pause).

Only an entry module of template.yaml imports it, before every other import (`# isort:
split` keeps it there), and calls `end()` as its last line; any other importer would leave
the collector paused (tests/unit/test_gc_pause.py holds both).
"""

from __future__ import annotations

from handlers import gc_pause

_paused = gc_pause.pause()


def end() -> None:
    """End the pause that importing this module began; a second call does nothing."""
    global _paused
    if _paused:
        _paused = False
        gc_pause.freeze_and_resume()
