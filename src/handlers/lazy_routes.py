"""The API's resolver, which imports a route's handler module on the first request for it.

A handler module (`handlers/routes_*.py`) brings in its request and response models
(handlers.bodies, pydantic model classes), the domain modules behind its routes (bcrypt,
TOTP, AES-GCM, PyJWT...) and its Powertools registrations: a cold start that imported them
all paid for every route to answer one. API Gateway names the route it matched in the
event's `routeKey` ("POST /api/v1/auth/signin", the key of an `auth.routes.Route`), so the
resolver includes the one module that serves it, once per container, and then routes as
Powertools always does.

The rule for a new route: declare it in auth.routes, register it in a handler module with
`handlers.openapi_document.route`, and list it under that module in `handlers.api.ROUTE_MODULES`.
`tests/unit/test_lazy_routes.py` holds the table and the modules together, and checks that
importing handlers.api imports no handler module. A route key missing from the table (or
an event without one) loads every module, so a forgotten entry costs time, never an answer.
The OpenAPI document is built from every module.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler.api_gateway import APIGatewayHttpResolver

from auth.routes import Route

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.models import OpenAPI
    from aws_lambda_powertools.utilities.typing import LambdaContext


class LazyRouteResolver(APIGatewayHttpResolver):
    def __init__(self, modules: Mapping[str, Sequence[Route]], **options: Any) -> None:
        super().__init__(**options)
        self._modules = tuple(modules)
        self._module_of = {route.key: module for module, served in modules.items() for route in served}
        self._included: set[str] = set()
        # The local stack may serve two first requests at once; a module is included once.
        self._lock = threading.Lock()

    def include(self, module: str) -> None:
        """Import `module` and register its `router`'s routes, unless done already."""
        with self._lock:
            if module in self._included:
                return
            self.include_router(importlib.import_module(module).router)
            self._included.add(module)

    def include_all(self) -> None:
        for module in self._modules:
            self.include(module)

    @property
    def included(self) -> frozenset[str]:
        return frozenset(self._included)

    def include_for(self, route_key: object) -> None:
        """Include the module serving API Gateway's `route_key`; every module, for a key
        missing from the table."""
        module = self._module_of.get(str(route_key))
        if module is None:
            self.include_all()
        else:
            self.include(module)

    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        self.include_for(event.get("routeKey"))
        return super().resolve(event, context)

    def get_openapi_schema(self, **options: Any) -> OpenAPI:
        self.include_all()
        return super().get_openapi_schema(**options)
