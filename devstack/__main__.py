"""`python -m devstack` (= `make run`): serve the template's HTTP API on 127.0.0.1.

Prints one line on stdout once every backend, table, secret and warm worker is ready:
`memos-auth is serving on http://127.0.0.1:<port> (DynamoDB: ...; Secrets Manager: ...)`,
saying which backends answer and where their data is kept. Then one line per request on
stderr (`--logs json`: the handlers' own JSON logs instead). SIGINT or SIGTERM stops every
process it started and exits 0.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import signal
import sys
from pathlib import Path
from types import FrameType

from devstack.app import READY_MESSAGE, App, note
from devstack.backends import BackendError
from devstack.intrinsics import TemplateError
from devstack.request_log import LOG_MODES, LOGS_VARIABLE, READABLE
from devstack.runtime import DEFAULT_MAX_WORKERS
from devstack.template import DEFAULT_TEMPLATE


class _Stop(Exception):
    """Raised from the signal handlers to unwind into the cleanup below."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def _ignore_signals() -> None:
    # A second Ctrl-C must not interrupt the cleanup that the first one started.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    parser.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE)
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("PORT") or 3000), help="0 picks a free port"
    )
    parser.add_argument("--ready-file", type=Path, help="write the stack's endpoints here as JSON")
    parser.add_argument("--log-dir", type=Path, help="keep the backends' logs here")
    parser.add_argument("--max-workers", type=int, default=DEFAULT_MAX_WORKERS)
    parser.add_argument(
        "--logs",
        choices=LOG_MODES,
        default=os.environ.get(LOGS_VARIABLE) or READABLE,
        help=f"readable: a line per request; json: the handlers' logs (default: ${LOGS_VARIABLE})",
    )
    parser.add_argument(
        "--data-dir", type=Path, help="keep DynamoDB Local's data and the secrets here between runs"
    )
    parser.add_argument("--fresh", action="store_true", help="empty --data-dir before starting")
    parser.add_argument(
        "--dynamodb-tap",
        action="store_true",
        help="put devstack.dynamodb_tap between the functions and DynamoDB (tests that lose an answer)",
    )
    parser.add_argument(
        "--shared-dynamodb-local",
        metavar="URL",
        help="use this running DynamoDB Local, in a namespace of the stack's own, instead of starting "
        "one (devstack.backends.start_shared_dynamodb_local starts it without -sharedDb)",
    )
    arguments = parser.parse_args(argv)
    if arguments.fresh and arguments.data_dir is None:
        parser.error("--fresh needs --data-dir")
    if arguments.shared_dynamodb_local and (arguments.data_dir is not None or arguments.dynamodb_tap):
        parser.error("--shared-dynamodb-local goes with neither --data-dir nor --dynamodb-tap")
    if arguments.logs not in LOG_MODES:
        # argparse checks `choices` only for values given on the command line.
        parser.error(f"{LOGS_VARIABLE}={arguments.logs}: expected one of {', '.join(LOG_MODES)}")
    return arguments


def _write_ready_file(path: Path, description: dict[str, object]) -> None:
    # Written whole and renamed, so a reader never sees half a file.
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(description, indent=2))
    partial.replace(path)


def main(argv: list[str] | None = None) -> int:
    arguments = _arguments(argv)
    signal.signal(signal.SIGINT, _raise_stop)
    signal.signal(signal.SIGTERM, _raise_stop)
    app = App(
        arguments.template,
        arguments.port,
        os.environ,
        arguments.log_dir,
        arguments.max_workers,
        log_mode=arguments.logs,
        data_dir=arguments.data_dir,
        fresh=arguments.fresh,
        dynamodb_tap=arguments.dynamodb_tap,
        shared_dynamodb_local=arguments.shared_dynamodb_local,
    )
    # A crash anywhere (even in startup) still stops the backends: atexit is the last resort.
    atexit.register(app.stop, failed=True)
    failed = True
    try:
        app.start()
        if arguments.ready_file is not None:
            _write_ready_file(arguments.ready_file, app.describe())
        print(READY_MESSAGE.format(url=app.url, backends=app.backends_summary()), flush=True)
        failed = False
        app.serve_forever()
    except _Stop:
        return 0
    except (OSError, BackendError, TemplateError) as error:
        failed = True
        note(f"cannot start: {error}")
        return 1
    finally:
        _ignore_signals()
        app.stop(failed=failed)
        if arguments.ready_file is not None:
            # A stopped stack must not look like a running one to the importer.
            arguments.ready_file.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
