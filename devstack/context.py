"""A stand-in for the context object the Lambda Python runtime passes to handlers."""

from __future__ import annotations

import os
import time
import uuid
from typing import Any


class LambdaContext:
    """Mirrors awslambdaric's LambdaContext, including its string memory_limit_in_mb."""

    def __init__(self, function_arn: str, timeout_seconds: float, request_id: str | None = None) -> None:
        self.aws_request_id = request_id or str(uuid.uuid4())
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.invoked_function_arn = function_arn
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = f"local/[$LATEST]{uuid.uuid4().hex}"
        self.identity: Any = None
        self.client_context: Any = None
        self.tenant_id: str | None = None
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))
