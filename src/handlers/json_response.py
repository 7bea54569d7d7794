"""JSON answers in one shape, so no route builds a response by hand."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.shared.cookies import Cookie


def json_response(body: dict[str, Any], cookies: list[Cookie] | None = None, status: int = 200) -> Response:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body),
        cookies=cookies or [],
    )
