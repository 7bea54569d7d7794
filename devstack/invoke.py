"""`python -m devstack.invoke FN EVENT_FILE` (= `make invoke FN=... EVENT=...`).

A Docker-free stand-in for `sam local invoke FN -e EVENT_FILE`: starts fresh local
backends (moto for DynamoDB too, unless DEVSTACK_DYNAMODB=dynamodb-local), creates the
template's tables and secret (empty, as on a first deployment), runs the function once
in a worker process with its template environment (variables in the OS environment
override it, e.g. `MEMOS_DEMO=true`), prints the function's JSON result, or the error
as `{"errorMessage", "errorType", "stackTrace"}` like sam does, and exits 0 either way.
Everything it started is stopped before it returns.

The tables are first loaded with `events/seed.json` (`--seed`; `--seed none` for empty
tables): the users and sign-in that the sample events name. Their tokens are signed with
the demo key, so `make invoke` runs with MEMOS_DEMO=true unless told otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from devstack.app import App
from devstack.backends import CHOICE_VARIABLE, MOTO
from devstack.provision import client
from devstack.seed import load_seed
from devstack.template import DEFAULT_TEMPLATE, REPO_ROOT

# The users and sign-in the sample events of events/ name (devstack.sample_events).
DEFAULT_SEED = REPO_ROOT / "events" / "seed.json"


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devstack.invoke", description=__doc__)
    parser.add_argument("function", help="logical id of the function, e.g. AuthorizerFunction")
    parser.add_argument("event_file", type=Path, help="JSON event, e.g. events/authorizer-*.json")
    parser.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE)
    parser.add_argument(
        "--seed",
        type=Path,
        default=None,
        help="items to load first (DynamoDB JSON by table logical id; default events/seed.json "
        "with the project's template); 'none' for empty tables",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = _arguments(argv)
    event = json.loads(arguments.event_file.read_text(encoding="utf-8"))
    # One invocation against empty tables gains nothing from the JVM's start-up time:
    # moto answers in a second. DEVSTACK_DYNAMODB=dynamodb-local asks for the real thing.
    environ = {CHOICE_VARIABLE: MOTO, **os.environ}
    app = App(arguments.template, port=0, environ=environ, max_workers=1)
    if arguments.function not in app.template.functions:
        known = ", ".join(sorted(app.template.functions))
        print(
            f"no function {arguments.function} in {arguments.template} (functions: {known})", file=sys.stderr
        )
        return 2
    try:
        app.start(serve_http=False, warm=False)
        seed = arguments.seed or (DEFAULT_SEED if arguments.template == DEFAULT_TEMPLATE else None)
        if seed is not None and seed.name != "none":
            load_seed(client("dynamodb", app.endpoints.dynamodb), app.template, seed)
        outcome = app.invoke(arguments.function, event)
    finally:
        app.stop()
    print(json.dumps(outcome.error if outcome.failed else outcome.result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
