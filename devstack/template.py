"""What the local stack needs from template.yaml: functions, routes, tables and secrets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.intrinsics import PSEUDO_PARAMETERS, Resolver, TemplateError, arn, load_yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"

# The stage the local stack always runs as (SPEC §6), whatever the template's default is.
# The local stack's values of parameters that have no default (a deployment must choose).
# AllowedOrigins: none, unless the ALLOWED_ORIGINS variable given to `make run` names some.
# The passkey origin names port 3000; devstack.app puts the port it serves on instead.
LOCAL_PARAMETERS = {
    "Stage": "local",
    "AllowedOrigins": "",
    "WebAuthnRpId": "localhost",
    "WebAuthnOrigins": "http://localhost:3000",
}
LOCAL_API_ID = "local"

FUNCTION_TYPE = "AWS::Serverless::Function"
HTTP_API_TYPE = "AWS::Serverless::HttpApi"
TABLE_TYPE = "AWS::DynamoDB::Table"
SECRET_TYPE = "AWS::SecretsManager::Secret"
# SAM's name for the API that HttpApi events without an ApiId attach to.
IMPLICIT_API = "ServerlessHttpApi"


@dataclass(frozen=True)
class Authorizer:
    """A Lambda authorizer of an HttpApi (`Auth.Authorizers`), by the function it runs."""

    name: str
    function: str


@dataclass(frozen=True)
class Route:
    """A function's HttpApi event: what API Gateway matches, who authorizes it (None:
    nobody), and the stage of its API."""

    method: str
    path: str
    function: str
    authorizer: Authorizer | None
    stage: str

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class Function:
    """A function as the local runtime starts it: Globals.Function under its own properties,
    environment values resolved, code_uri an absolute path."""

    logical_id: str
    handler: str
    code_uri: Path
    environment: Mapping[str, str]
    timeout_seconds: int
    memory_mb: int
    runtime: str

    @property
    def arn(self) -> str:
        return function_arn(self.logical_id)


def function_arn(logical_id: str) -> str:
    return arn("lambda", f"function:{logical_id}")


@dataclass(frozen=True)
class Table:
    """A table named after its logical id, as the local backends create it."""

    logical_id: str
    name: str
    # Keyword arguments for DynamoDB CreateTable, already translated from the template.
    create_args: Mapping[str, Any]
    ttl_attribute: str | None


@dataclass(frozen=True)
class Secret:
    """A secret named after its logical id; the stack creates it without a value."""

    logical_id: str
    name: str
    description: str


@dataclass(frozen=True)
class Template:
    path: Path
    functions: Mapping[str, Function]
    routes: tuple[Route, ...]
    tables: Mapping[str, Table]
    secrets: Mapping[str, Secret]
    parameters: Mapping[str, str] = field(default_factory=dict)


def load_template(path: Path | str = DEFAULT_TEMPLATE) -> Template:
    path = Path(path).resolve()
    return _Parser(path, load_yaml(path.read_text(encoding="utf-8"))).parse()


class _Parser:
    def __init__(self, path: Path, document: dict[str, Any]) -> None:
        self._path = path
        self._resources: dict[str, Any] = document.get("Resources") or {}
        self._globals: dict[str, Any] = document.get("Globals") or {}
        self._parameters = self._parameter_values(document.get("Parameters") or {})
        self._resolver = Resolver(self._ref, self._get_att)

    def parse(self) -> Template:
        functions = {
            logical_id: self._function(logical_id, resource.get("Properties") or {})
            for logical_id, resource in self._of_type(FUNCTION_TYPE)
        }
        tables = {
            logical_id: self._table(logical_id, resource.get("Properties") or {})
            for logical_id, resource in self._of_type(TABLE_TYPE)
        }
        secrets = {
            logical_id: Secret(
                logical_id=logical_id,
                name=self._ref(logical_id),
                description=str((resource.get("Properties") or {}).get("Description", "")),
            )
            for logical_id, resource in self._of_type(SECRET_TYPE)
        }
        routes = tuple(self._routes())
        for route in routes:
            if route.authorizer is not None and route.authorizer.function not in functions:
                raise TemplateError(
                    f"authorizer {route.authorizer.name}: no function {route.authorizer.function}"
                )
        return Template(
            path=self._path,
            functions=functions,
            routes=routes,
            tables=tables,
            secrets=secrets,
            parameters=dict(self._parameters),
        )

    # -- intrinsic resolution -------------------------------------------------------------

    @staticmethod
    def _parameter_values(parameters: Mapping[str, Any]) -> dict[str, str]:
        values = {}
        for name, spec in parameters.items():
            if name in LOCAL_PARAMETERS:
                values[name] = LOCAL_PARAMETERS[name]
            elif "Default" in (spec or {}):
                default = spec["Default"]
                values[name] = ("true" if default else "false") if isinstance(default, bool) else str(default)
        return values

    def _ref(self, name: str) -> str:
        if name in self._parameters:
            return self._parameters[name]
        if name in PSEUDO_PARAMETERS:
            return PSEUDO_PARAMETERS[name]
        resource = self._resources.get(name)
        if resource is None:
            raise TemplateError(f"!Ref {name}: no such parameter or resource (or no Default)")
        if resource.get("Type") in (HTTP_API_TYPE, "AWS::ApiGatewayV2::Api"):
            return LOCAL_API_ID
        # Tables, secrets and functions are named after their logical id locally, so the
        # names are stable and readable in tests and in the DynamoDB Local shell.
        return name

    def _get_att(self, logical_id: str, attribute: str) -> str:
        resource_type = (self._resources.get(logical_id) or {}).get("Type")
        arns: dict[tuple[str | None, str], str] = {
            (FUNCTION_TYPE, "Arn"): function_arn(logical_id),
            (TABLE_TYPE, "Arn"): arn("dynamodb", f"table/{logical_id}"),
            (SECRET_TYPE, "Id"): logical_id,
        }
        try:
            return arns[(resource_type, attribute)]
        except KeyError:
            raise TemplateError(f"!GetAtt {logical_id}.{attribute} is not supported locally") from None

    # -- resources --------------------------------------------------------------------------

    def _of_type(self, resource_type: str) -> list[tuple[str, dict[str, Any]]]:
        return [
            (logical_id, resource)
            for logical_id, resource in self._resources.items()
            if isinstance(resource, dict) and resource.get("Type") == resource_type
        ]

    def _function(self, logical_id: str, properties: Mapping[str, Any]) -> Function:
        defaults = self._globals.get("Function") or {}

        def setting(name: str, fallback: Any = None) -> Any:
            return properties.get(name, defaults.get(name, fallback))

        handler = setting("Handler")
        code_uri = setting("CodeUri", ".")
        if not isinstance(handler, str) or not isinstance(code_uri, str):
            raise TemplateError(f"{logical_id}: Handler and a local CodeUri path are required")
        environment = {
            **self._variables(defaults),
            **self._variables(properties),
        }
        return Function(
            logical_id=logical_id,
            handler=handler,
            code_uri=(self._path.parent / code_uri).resolve(),
            environment=environment,
            timeout_seconds=int(self._resolver.string(setting("Timeout", 3))),
            memory_mb=int(self._resolver.string(setting("MemorySize", 128))),
            runtime=str(setting("Runtime", "python3.12")),
        )

    def _variables(self, properties: Mapping[str, Any]) -> dict[str, str]:
        variables = ((properties.get("Environment") or {}).get("Variables")) or {}
        return {name: self._resolver.string(value) for name, value in variables.items()}

    def _table(self, logical_id: str, properties: Mapping[str, Any]) -> Table:
        # Only what CreateTable needs: deployment-only settings (deletion protection, which
        # the template chooses per stage with Fn::If) mean nothing to a local backend.
        resolved = self._resolver.resolve({key: properties[key] for key in _TABLE_KEYS if key in properties})
        create_args: dict[str, Any] = {
            "TableName": self._ref(logical_id),
            "AttributeDefinitions": resolved["AttributeDefinitions"],
            "KeySchema": resolved["KeySchema"],
            # On-demand locally whatever the template says: nothing to size.
            "BillingMode": "PAY_PER_REQUEST",
        }
        for index_kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if resolved.get(index_kind):
                create_args[index_kind] = [
                    {key: value for key, value in index.items() if key in _INDEX_KEYS}
                    for index in resolved[index_kind]
                ]
        if resolved.get("StreamSpecification"):
            create_args["StreamSpecification"] = {"StreamEnabled": True, **resolved["StreamSpecification"]}
        ttl = resolved.get("TimeToLiveSpecification") or {}
        enabled = ttl.get("Enabled") in (True, "true", "True")
        return Table(
            logical_id=logical_id,
            name=create_args["TableName"],
            create_args=create_args,
            ttl_attribute=ttl.get("AttributeName") if enabled else None,
        )

    # -- routes -------------------------------------------------------------------------------

    def _apis(self) -> dict[str, tuple[str, str | None, dict[str, Authorizer]]]:
        """Each HTTP API's stage, default authorizer and authorizers, by logical id."""
        apis = {}
        implicit = {"Properties": self._globals.get("HttpApi") or {}}
        for logical_id, resource in [(IMPLICIT_API, implicit), *self._of_type(HTTP_API_TYPE)]:
            properties = resource.get("Properties") or {}
            auth = properties.get("Auth") or {}
            authorizers = {
                name: Authorizer(name=name, function=self._authorizer_function(name, spec))
                for name, spec in (auth.get("Authorizers") or {}).items()
            }
            stage = (
                self._resolver.string(properties["StageName"]) if "StageName" in properties else "$default"
            )
            apis[logical_id] = (stage, auth.get("DefaultAuthorizer"), authorizers)
        return apis

    def _authorizer_function(self, name: str, spec: Mapping[str, Any]) -> str:
        arn = spec.get("FunctionArn")
        if isinstance(arn, dict) and "Fn::GetAtt" in arn:
            target = arn["Fn::GetAtt"]
            return str(target[0] if isinstance(target, list) else str(target).split(".")[0])
        # SAM's `!Ref <Function>.Alias` (AutoPublishAlias): locally, the function itself.
        if isinstance(arn, dict) and str(arn.get("Ref", "")).endswith(".Alias"):
            return str(arn["Ref"]).removesuffix(".Alias")
        if spec.get("JwtConfiguration") is not None:
            raise TemplateError(f"authorizer {name}: JWT authorizers are not supported locally")
        raise TemplateError(f"authorizer {name}: FunctionArn must be <Function>.Arn or <Function>.Alias")

    def _routes(self) -> list[Route]:
        apis = self._apis()
        routes = []
        for logical_id, resource in self._of_type(FUNCTION_TYPE):
            events = (resource.get("Properties") or {}).get("Events") or {}
            for event_name, event in events.items():
                if (event or {}).get("Type") != "HttpApi":
                    continue
                properties = event.get("Properties") or {}
                api_id = properties.get("ApiId", {"Ref": IMPLICIT_API})
                api_logical_id = api_id["Ref"] if isinstance(api_id, dict) and "Ref" in api_id else None
                if api_logical_id not in apis:
                    raise TemplateError(f"{logical_id}.{event_name}: ApiId must be !Ref an HttpApi")
                stage, default_authorizer, authorizers = apis[api_logical_id]
                authorizer_name = (properties.get("Auth") or {}).get("Authorizer", default_authorizer)
                authorizer = None
                if authorizer_name not in (None, "NONE"):
                    if authorizer_name not in authorizers:
                        raise TemplateError(f"{logical_id}.{event_name}: no authorizer {authorizer_name}")
                    authorizer = authorizers[authorizer_name]
                routes.append(
                    Route(
                        method=str(properties.get("Method", "ANY")).upper(),
                        path=str(properties.get("Path", "$default")),
                        function=logical_id,
                        authorizer=authorizer,
                        stage=stage,
                    )
                )
        return routes


_INDEX_KEYS = ("IndexName", "KeySchema", "Projection")
_TABLE_KEYS = (
    "AttributeDefinitions",
    "KeySchema",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "StreamSpecification",
    "TimeToLiveSpecification",
)
