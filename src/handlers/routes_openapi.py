"""GET /api/v1/openapi.json: the OpenAPI document of every route (handlers.openapi_document)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from auth import routes
from handlers.bodies import OpenApiDocument
from handlers.openapi_document import document_json, route

router = APIGatewayHttpRouter()


@route(router, routes.OPENAPI, OpenApiDocument)
def openapi() -> Response[str]:
    # Imported here: handlers.api imports this module (lazily) to serve the route.
    from handlers.api import resolver

    document = document_json(resolver())
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=document)
