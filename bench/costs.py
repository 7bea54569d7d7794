"""What a million authorizer requests cost, from the measured durations and call counts.

AWS list prices, us-east-1, as used here (standard tiers, before free tier):
Lambda arm64 $0.0000133334 per GB-second and $0.20 per million requests; API Gateway HTTP
API $1.00 per million requests; DynamoDB on-demand $0.125 per million read request units
and $0.625 per million write request units; Secrets Manager $0.05 per 10,000 API calls.
"""

from __future__ import annotations

import math
from typing import Any

from bench.bcrypt_cost import lambda_ms

MILLION = 1_000_000
LAMBDA_GB_SECOND_USD = 0.0000133334
LAMBDA_REQUEST_USD = 0.20 / MILLION
HTTP_API_REQUEST_USD = 1.00 / MILLION
DYNAMODB_READ_UNIT_USD = 0.125 / MILLION
DYNAMODB_WRITE_UNIT_USD = 0.625 / MILLION
SECRETS_MANAGER_CALL_USD = 0.05 / 10_000
# template.yaml's Globals: every function runs with 256 MB on arm64.
AUTHORIZER_MEMORY_MB = 256


def per_million(median_us: float, counts: dict[str, Any]) -> dict[str, float]:
    """Dollars per million requests of one path, by line item.

    Duration: the local median scaled to the function's CPU share (bench.bcrypt_cost) and
    rounded up to Lambda's 1 ms billing unit; runtime overhead outside the handler is not in it.
    """
    requests = counts["requests"]
    billed_ms = max(1, math.ceil(lambda_ms(median_us / 1000, AUTHORIZER_MEMORY_MB)))
    gb_seconds = billed_ms / 1000 * AUTHORIZER_MEMORY_MB / 1024
    items = {
        "api_gateway": HTTP_API_REQUEST_USD,
        "lambda_requests": LAMBDA_REQUEST_USD,
        "lambda_duration": gb_seconds * LAMBDA_GB_SECOND_USD,
        "dynamodb": (
            counts["read_units"] * DYNAMODB_READ_UNIT_USD + counts["write_units"] * DYNAMODB_WRITE_UNIT_USD
        )
        / requests,
        "secrets_manager": counts["secretsmanager"] * SECRETS_MANAGER_CALL_USD / requests,
    }
    result = {name: round(usd * MILLION, 4) for name, usd in items.items()}
    result["total"] = round(sum(items.values()) * MILLION, 2)
    result["billed_ms"] = billed_ms
    return result
