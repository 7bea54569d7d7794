"""A function's start runs without garbage collections, and what it built is frozen
(handlers.gc_pause, handlers.init_pause); every other time the collector runs as usual."""

from __future__ import annotations

import ast
import gc
from collections.abc import Iterator

import pytest

from devstack.template import load_template
from handlers import gc_pause
from handlers.lazy import Lazy
from tests.support.fresh_interpreter import ROOT, printed

ENTRY_MODULES = sorted(
    {function.handler.rsplit(".", 1)[0] for function in load_template().functions.values()}
)


def test_the_template_has_the_four_entry_modules() -> None:
    # If a function is added, it is held to the same start as these.
    assert ENTRY_MODULES == [
        "handlers.account_pages",
        "handlers.api",
        "handlers.authorizer",
        "handlers.rotation",
    ]


# Run first in a fresh interpreter: every collection that starts once the pause has begun
# (init_pause has set `_paused`) is listed. Loading the package and the two modules before
# that may run one of the youngest generation, where there is no .pyc to load (a Lambda
# package has none): they compile.
COUNT_COLLECTIONS = (
    "import gc, json, sys\n"
    "gc.collect()\n"
    "collections = []\n"
    "def counted(phase, info):\n"
    "    if phase == 'start' and hasattr(sys.modules.get('handlers.init_pause'), '_paused'):\n"
    "        collections.append(info)\n"
    "gc.callbacks.append(counted)\n"
)


@pytest.mark.parametrize("module", ENTRY_MODULES)
def test_an_entry_modules_init_collects_nothing_and_freezes_what_it_loaded(module: str) -> None:
    started = printed(
        f"{COUNT_COLLECTIONS}import {module}\n"
        "print(json.dumps({'collections': len(collections), 'enabled': gc.isenabled(),"
        " 'frozen': gc.get_freeze_count()}))"
    )
    assert started["collections"] == 0
    assert started["enabled"] is True
    # Every module, class and function the init loaded: far more than the interpreter's own.
    assert started["frozen"] > 10_000


def test_without_the_pause_the_same_init_collects() -> None:
    # What the test above would see with no pause: the pause is what keeps the count at 0.
    started = printed(
        f"{COUNT_COLLECTIONS}import handlers.gc_pause\n"
        "handlers.gc_pause.pause = lambda: False\n"
        "import handlers.authorizer\n"
        "print(json.dumps({'collections': len(collections), 'frozen': gc.get_freeze_count()}))"
    )
    assert started["collections"] > 0
    assert started["frozen"] == 0


def _imported(tree: ast.Module) -> set[str]:
    """Every module `tree` imports, by its full name (`from a import b` names a and a.b)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def test_only_entry_modules_import_init_pause_and_each_ends_it() -> None:
    # Another importer would leave the collector paused for good.
    src = ROOT / "src"
    trees = {
        ".".join(path.relative_to(src).with_suffix("").parts): ast.parse(path.read_text(encoding="utf-8"))
        for path in src.rglob("*.py")
    }
    importers = sorted(module for module, tree in trees.items() if "handlers.init_pause" in _imported(tree))
    assert importers == ENTRY_MODULES
    for module in ENTRY_MODULES:
        body = trees[module].body
        imports = [node for node in body if isinstance(node, ast.Import | ast.ImportFrom)]
        # After `from __future__ import annotations`, before anything the init loads.
        assert ast.unparse(imports[1]) == "from handlers import init_pause", module
        assert ast.unparse(body[-1]) == "init_pause.end()", module


@pytest.fixture
def collector() -> Iterator[None]:
    """The collector as every test finds it, with whatever a test froze let go again."""
    assert gc.isenabled()
    yield
    gc.unfreeze()
    gc.enable()


def _collected(value: object) -> bool:
    """Whether the collector still scans `value`: gc.get_objects() leaves out what is frozen."""
    return any(tracked is value for tracked in gc.get_objects())


def test_a_lazy_values_first_build_is_paused_and_frozen_a_rebuild_is_not(collector: None) -> None:
    enabled_while_building: list[bool] = []

    def build() -> list[list[int]]:
        enabled_while_building.append(gc.isenabled())
        return [[] for _ in range(100)]

    services = Lazy(build)
    first = services()
    assert enabled_while_building == [False]
    assert gc.isenabled()
    # What the start built is out of every collection from now on.
    assert not _collected(first) and not _collected(first[0])

    assert services() is first
    assert enabled_while_building == [False]

    # A rebuild is no start: the collector keeps running, and scans what it made.
    services.replace(None)
    rebuilt = services()
    assert enabled_while_building == [False, True]
    assert _collected(rebuilt) and _collected(rebuilt[0])


def test_a_first_build_that_fails_resumes_the_collector_and_freezes_nothing(collector: None) -> None:
    made: list[list[int]] = []

    def failing() -> object:
        made.append([])
        raise RuntimeError("no configuration")

    with pytest.raises(RuntimeError):
        Lazy(failing)()
    assert gc.isenabled()
    assert _collected(made[0])


def test_a_pause_inside_a_pause_leaves_the_outer_one_be(collector: None) -> None:
    with gc_pause.paused():
        with gc_pause.paused():
            inner: list[int] = []
        assert not gc.isenabled()
        assert _collected(inner)
    assert gc.isenabled()
    assert not _collected(inner)
