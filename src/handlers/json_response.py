"""JSON answers in one shape, so no route builds a response by hand."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.shared.cookies import Cookie

# The route annotation from which Powertools documents and validates a JSON answer; the
# body stays a dict so the validation sees it before serialization.
JsonResponse = Response[dict[str, Any]]


def json_response(
    body: dict[str, Any], cookies: list[Cookie] | None = None, status: int = 200
) -> JsonResponse:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=body,
        cookies=cookies or [],
    )
