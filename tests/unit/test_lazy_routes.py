"""The API function's cold start imports what every request needs, and a request imports the
one handler module of its route (handlers.lazy_routes, handlers.api.ROUTE_MODULES)."""

from __future__ import annotations

import importlib
import json

from auth import routes
from handlers import api as api_function
from handlers.lazy_routes import LazyRouteResolver
from handlers.openapi_document import document_json
from tests.support.fresh_interpreter import ROOT, modules_after

# What a cold start of the API function leaves for the first request that needs it.
LAZY = (
    "handlers.routes_",
    "handlers.bodies",
    "handlers.http_json",
    "handlers.lazy_routes",
    "handlers.openapi_document",
    "aws_lambda_powertools.event_handler",
    "pydantic",
    "jwt",
    "cryptography",
    "bcrypt",
    "pyotp",
    "zxcvbn",
    "auth.accounts",
    "auth.factors",
    "auth.factor_cipher",
    "auth.mfa_sign_in",
    "auth.refresh_tokens",
    "auth.user_admin",
)


def test_a_cold_start_imports_no_route_module_nor_the_resolver() -> None:
    loaded = modules_after("import handlers.api\nfrom handlers import api_context\napi_context.services()")
    # What boto3 brings itself is not the API's doing (here, pyOpenSSL's cryptography).
    boto3 = set(modules_after("import boto3\nboto3.client('dynamodb')"))
    assert [module for module in loaded if module.startswith(LAZY) and module not in boto3] == []


def test_a_container_initialized_ahead_of_requests_imports_every_route_module() -> None:
    # SnapStart and provisioned concurrency run init before any request: it is free there.
    loaded = modules_after("import handlers.api", {"AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start"})
    assert set(api_function.ROUTE_MODULES) <= set(loaded)


def test_a_request_imports_only_its_own_route_module() -> None:
    code = (
        "from tests.support.events import FakeLambdaContext, http_event\n"
        "from handlers import api\n"
        "route = '/api/v1/users/{username}/personalAccessTokens'\n"
        "event = http_event('GET', '/api/v1/users/alice/personalAccessTokens', route)\n"
        "api.handler(event, FakeLambdaContext())\n"
    )
    loaded = modules_after(f"import sys\nsys.path.append({str(ROOT)!r})\n{code}")
    routes_loaded = [module for module in loaded if module.startswith("handlers.routes_")]
    assert routes_loaded == ["handlers.routes_pats"]


def test_the_table_lists_each_route_under_the_module_that_registers_it() -> None:
    listed = [route for served in api_function.ROUTE_MODULES.values() for route in served]
    assert sorted(route.key for route in listed) == sorted(route.key for route in routes.ROUTES)
    for module, served in api_function.ROUTE_MODULES.items():
        router = importlib.import_module(module).router
        # Powertools keys a router's routes by (rule, methods, ...); rules use <name>.
        keys = router._routes
        registered = {(rule.replace("<", "{").replace(">", "}"), methods) for rule, methods, *_ in keys}
        declared = {(route.path, (route.method,)) for route in served}
        assert registered == declared, f"{module}: list its routes in handlers.api.ROUTE_MODULES"


def test_a_route_key_missing_from_the_table_loads_every_module() -> None:
    table = {"handlers.routes_settings": (routes.GET_SETTINGS,), "handlers.routes_pats": (routes.LIST_PATS,)}
    resolver = LazyRouteResolver(table, enable_validation=True)
    resolver.include_for(routes.GET_SETTINGS.key)
    assert resolver.included == {"handlers.routes_settings"}
    # Included once: a second request for it registers nothing again.
    before = len(resolver._static_routes) + len(resolver._dynamic_routes)
    resolver.include_for(routes.GET_SETTINGS.key)
    assert len(resolver._static_routes) + len(resolver._dynamic_routes) == before
    resolver.include_for("GET /api/v1/not-in-the-table")
    assert resolver.included == set(table)


def test_the_document_describes_every_route_whatever_was_loaded_before() -> None:
    resolver = LazyRouteResolver(api_function.ROUTE_MODULES, enable_validation=True)
    resolver.include_for(routes.GET_SETTINGS.key)
    paths = json.loads(document_json(resolver))["paths"]
    assert set(paths) == {route.path for route in routes.ROUTES}
