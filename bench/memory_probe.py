"""Run in a fresh interpreter by bench.memory: N authorizer invocations on the in-process
fakes, then print the process's peak RSS as JSON.

The seeded tables and the events come from a JSON file the parent wrote, so this process
imports only what the authorizer's container does, plus the fakes.
"""

import json
import resource
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]


def _peak_rss_mb() -> float:
    """This process's peak RSS: VmHWM, the high-water mark of its own address space.

    Not ru_maxrss alone: Linux carries the forking parent's high-water mark across
    fork+exec, so a probe started by the (larger) bench process would report the bench's.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    # Elsewhere ru_maxrss (kilobytes on Linux) is the best there is.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(seed_path: str, invocations: int) -> None:
    from auth import aws
    from auth.clock import SystemClock
    from auth.config import Config
    from auth.keys import CURRENT_STAGE
    from auth.wiring import build_authorizer_services
    from bench.invoke import container, invoke
    from tests.support.fake_aws import FakeDynamoDB, FakeSecretsManager

    # The clients a container builds stay resident, though the fakes answer the calls.
    clients = (aws.dynamodb_client(), aws.secretsmanager_client())
    seed = json.loads(Path(seed_path).read_text())
    before_invocations = _peak_rss_mb()
    dynamodb = FakeDynamoDB({name: tuple(keys) for name, keys in seed["key_names"].items()}, seed["tables"])
    secretsmanager = FakeSecretsManager({CURRENT_STAGE: seed["secret"]})
    services = build_authorizer_services(Config(), SystemClock(), dynamodb, secretsmanager)
    events = seed["events"]
    allowed = 0
    with container(services):
        for index in range(invocations):
            allowed += invoke(events[index % len(events)])
    print(
        json.dumps(
            {
                "invocations": invocations,
                "idle_clients": len(clients),
                "allowed": allowed,
                "peak_rss_before_invocations_mb": round(before_invocations, 1),
                "peak_rss_mb": round(_peak_rss_mb(), 1),
                "ru_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
