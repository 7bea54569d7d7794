"""The environment a function sees: the template's variables, local overrides, fake AWS."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from devstack.intrinsics import REGION
from devstack.template import Function

# Credentials that only the local backends accept: a function run locally can never
# reach a real AWS account, whatever profile or keys the developer's shell holds.
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
LOCAL_ACCESS_KEY_ID = FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"]


@dataclass(frozen=True)
class Endpoints:
    dynamodb: str
    secretsmanager: str
    # A DynamoDB Local shared by several stacks keeps one database per access key
    # (devstack.backends.start_shared_dynamodb_local): this stack's own key is its namespace.
    access_key_id: str = LOCAL_ACCESS_KEY_ID


def aws_environment(endpoints: Endpoints) -> dict[str, str]:
    """What boto3 needs to talk to the local backends (it honours these natively)."""
    return {
        **FAKE_CREDENTIALS,
        "AWS_ACCESS_KEY_ID": endpoints.access_key_id,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL_DYNAMODB": endpoints.dynamodb,
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": endpoints.secretsmanager,
        # No instance metadata to probe on a laptop; skipping it saves seconds on failure.
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def function_environment(
    function: Function, endpoints: Endpoints, os_environ: Mapping[str, str]
) -> dict[str, str]:
    """The complete environment of one function's workers.

    The OS environment passes through (so `MEMOS_DEMO=true make run` reaches the handlers,
    SPEC §6) and overrides the template's values, except AWS_* variables: a stray
    AWS_PROFILE or AWS_SESSION_TOKEN must not point a local run at a real account.
    """
    passthrough = {name: value for name, value in os_environ.items() if not name.startswith("AWS_")}
    return {
        **passthrough,
        **{name: os_environ.get(name, value) for name, value in function.environment.items()},
        **_lambda_runtime_variables(function),
        **aws_environment(endpoints),
    }


def _lambda_runtime_variables(function: Function) -> dict[str, str]:
    # The reserved variables Lambda sets in every container; libraries such as Powertools
    # read them to know they run "in Lambda".
    return {
        "AWS_LAMBDA_FUNCTION_NAME": function.logical_id,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.logical_id}",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.runtime}",
        "LAMBDA_TASK_ROOT": str(function.code_uri),
        # What `sam local` sets: Powertools then keeps X-Ray off instead of sending
        # segments to a daemon that is not there.
        "AWS_SAM_LOCAL": "true",
        "TZ": ":UTC",
    }
