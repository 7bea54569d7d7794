"""template.yaml as deployed: SAM translates it, and it keeps the promises of issue 4
(least privilege, every route with the right authorizer, throttles, data protection,
alarms on the metrics the code emits)."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from samtranslator.translator.transform import transform

from auth.routes import ROUTE_ACCESS, Access
from devstack.intrinsics import load_yaml
from devstack.template import DEFAULT_TEMPLATE, Template, load_template
from handlers.observability import METRICS_NAMESPACE, SERVICE, DenialReason, Metric

AUTHORIZER = "MemosAuthorizer"
# What each function's code calls, on which resource. A new permission is one line here,
# added in the same change as the code that needs it (issue 3: PATs and sessions).
READ_WRITE = {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
EXPECTED_ACTIONS: dict[str, dict[str, set[str]]] = {
    "AuthorizerFunction": {
        # Reads by key: a credential and its user, alone or (a session) together in one
        # BatchGetItem; a PAT carries its owner's role and state, so it is read alone.
        "UsersTable": {"dynamodb:GetItem", "dynamodb:BatchGetItem"},
        # ... and the once-a-minute lastUsedAt / lastAccessedAt write.
        "PersonalAccessTokensTable": {"dynamodb:GetItem", "dynamodb:UpdateItem"},
        "SessionsTable": {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:UpdateItem"},
        "SigningKeySecret": {"secretsmanager:GetSecretValue"},
    },
    "ApiFunction": {
        # User and username items, written and deleted together; Scan lists users (admin);
        # ConditionCheckItem: a PAT is stored only while its user exists, a sign-in's session
        # or refresh family only while its user is as the sign-in verified them.
        # BatchGetItem: a session cookie on a public route is read with its user.
        "UsersTable": READ_WRITE | {"dynamodb:Scan", "dynamodb:ConditionCheckItem", "dynamodb:BatchGetItem"},
        # Instance settings, the user-id counter, the first-user marker, throttle counters.
        "SettingsTable": READ_WRITE | {"dynamodb:BatchGetItem"},
        "RefreshTokensTable": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
        "SessionsTable": READ_WRITE | {"dynamodb:BatchGetItem"},
        "PersonalAccessTokensTable": READ_WRITE,
        # A user's logins and tokens, listed through each table's byUser index.
        "RefreshTokensTable/byUser": {"dynamodb:Query"},
        "SessionsTable/byUser": {"dynamodb:Query"},
        "PersonalAccessTokensTable/byUser": {"dynamodb:Query"},
        "SigningKeySecret": {"secretsmanager:GetSecretValue"},
        # SPEC §7: TOTP items and sign-in challenges (a second step is one transaction of an
        # Update and a Delete), and the key their secrets are sealed with; a user's passkeys
        # are read in one BatchGetItem.
        "FactorsTable": READ_WRITE | {"dynamodb:BatchGetItem"},
        "FactorKeySecret": {"secretsmanager:GetSecretValue"},
        # SPEC §8: providers (listed with a Scan) and links (a provider's by Query, a
        # user's through byUser); the Users table's ConditionCheckItem serves linking.
        "IdentityProvidersTable": {
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:DeleteItem",
            "dynamodb:Scan",
        },
        # ConditionCheckItem: an unlink that keeps another link checks it in its transaction.
        "LinkedIdentitiesTable": {
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:DeleteItem",
            "dynamodb:ConditionCheckItem",
            "dynamodb:Query",
        },
        "LinkedIdentitiesTable/byUser": {"dynamodb:Query"},
    },
    # SPEC §10: static pages; they reach the API through the browser, never AWS directly.
    "PagesFunction": {},
    "KeyRotationFunction": {
        "SigningKeySecret": {
            "secretsmanager:DescribeSecret",
            "secretsmanager:GetSecretValue",
            "secretsmanager:PutSecretValue",
            "secretsmanager:UpdateSecretVersionStage",
        },
    },
}
# Functions that may Scan, and the route that needs it.
SCAN_ALLOWED: dict[str, str] = {"ApiFunction": "GET /api/v1/users"}
ALLOWED_MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
}
# Routes an attacker would hammer: each gets a bucket tighter than the stage default.
# The routes that hash a password (about three times the cost of a request): their own ceiling.
PASSWORD_ROUTES = ("POST /api/v1/auth/signin", "POST /api/v1/auth/sessions", "POST /api/v1/users")
# SPEC §3: a route throttle is a cost ceiling far above honest peak traffic, never so tight
# that one client can use it up for everyone (the application throttles failed sign-ins).
LOWEST_CEILING_PER_SECOND = 1000
PROD_ONLY = {"Fn::If": ["IsProd", "Retain", "Delete"]}


@pytest.fixture(scope="module")
def source() -> dict[str, Any]:
    return load_yaml(Path(DEFAULT_TEMPLATE).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def translated(source: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The CloudFormation SAM would deploy: a broken SAM template fails here."""
    document = load_yaml(Path(DEFAULT_TEMPLATE).read_text(encoding="utf-8"))
    # SAM wants code in S3; `sam deploy` uploads it and rewrites CodeUri the same way.
    document["Globals"]["Function"]["CodeUri"] = "s3://memos-auth-artifacts/code.zip"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        yield transform(document, {}, _NoManagedPolicies())


class _NoManagedPolicies:
    """The template names no managed policy by name, so SAM never needs to look one up."""

    def load(self) -> dict[str, str]:
        return {}


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template()


def resources(document: Mapping[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in document["Resources"].items() if r["Type"] == resource_type}


def resource_name(resource: Any) -> str:
    """The logical id an IAM Resource points at (an index counts as its table's)."""
    if isinstance(resource, dict) and "Fn::GetAtt" in resource:
        return str(resource["Fn::GetAtt"][0])
    if isinstance(resource, dict) and "Ref" in resource:
        return str(resource["Ref"])
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        text = str(resource["Fn::Sub"])
        return text.split("${", 1)[1].split(".", 1)[0].split("}", 1)[0] + "/" + text.rsplit("/", 1)[-1]
    return str(resource)


def granted(translated: dict[str, Any], function: str) -> dict[str, set[str]]:
    role = translated["Resources"][f"{function}Role"]["Properties"]
    actions: dict[str, set[str]] = {}
    for policy in role.get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow", "deny statements would hide what is granted"
            statement_actions = statement["Action"]
            targets = statement["Resource"]
            for target in targets if isinstance(targets, list) else [targets]:
                name = resource_name(target)
                actions.setdefault(name, set()).update(
                    statement_actions if isinstance(statement_actions, list) else [statement_actions]
                )
    return actions


def test_sam_translates_the_template(translated: dict[str, Any]) -> None:
    types = {resource["Type"] for resource in translated["Resources"].values()}
    assert {"AWS::Lambda::Function", "AWS::ApiGatewayV2::Api", "AWS::ApiGatewayV2::Stage"} <= types


def test_every_function_is_in_the_least_privilege_table(translated: dict[str, Any]) -> None:
    assert set(resources(translated, "AWS::Lambda::Function")) == set(EXPECTED_ACTIONS)


@pytest.mark.parametrize("function", sorted(EXPECTED_ACTIONS))
def test_function_has_exactly_the_actions_its_code_uses(translated: dict[str, Any], function: str) -> None:
    assert granted(translated, function) == EXPECTED_ACTIONS[function]


@pytest.mark.parametrize("function", sorted(EXPECTED_ACTIONS))
def test_no_wildcards_and_only_the_basic_managed_policies(translated: dict[str, Any], function: str) -> None:
    role = translated["Resources"][f"{function}Role"]["Properties"]
    assert set(role.get("ManagedPolicyArns", [])) <= ALLOWED_MANAGED_POLICIES
    for resource, actions in granted(translated, function).items():
        assert "*" not in resource
        assert not any("*" in action for action in actions)


def test_no_function_can_scan_unless_a_route_needs_it(translated: dict[str, Any]) -> None:
    for function in EXPECTED_ACTIONS:
        scans = any("dynamodb:Scan" in actions for actions in granted(translated, function).values())
        assert scans == (function in SCAN_ALLOWED), function


def test_the_authorizer_writes_nothing_but_last_used_times(translated: dict[str, Any]) -> None:
    writes = {"dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
    for resource, actions in granted(translated, "AuthorizerFunction").items():
        assert not actions & writes, resource
        if "dynamodb:UpdateItem" in actions:
            assert resource in ("PersonalAccessTokensTable", "SessionsTable"), resource


# -- routes (SPEC §3) ---------------------------------------------------------------------


def template_routes(template: Template) -> dict[str, str | None]:
    return {route.route_key: route.authorizer.name if route.authorizer else None for route in template.routes}


@pytest.mark.parametrize(("route", "access"), sorted(ROUTE_ACCESS.items()))
def test_route_has_the_authorizer_its_access_demands(template: Template, route: str, access: Access) -> None:
    routes = template_routes(template)
    if route not in routes:
        pytest.skip("not in the template yet (issue 3 adds it)")
    assert routes[route] == (None if access is Access.PUBLIC else AUTHORIZER)


def test_every_template_route_is_in_the_access_table(template: Template) -> None:
    assert set(template_routes(template)) <= set(ROUTE_ACCESS)


def test_every_access_table_route_is_in_the_template(template: Template) -> None:
    assert set(ROUTE_ACCESS) <= set(template_routes(template))


def test_every_handler_in_the_template_imports(template: Template) -> None:
    for function in template.functions.values():
        module, name = function.handler.rsplit(".", 1)
        assert callable(getattr(importlib.import_module(module), name)), function.handler


# -- API Gateway ----------------------------------------------------------------------------


def http_api(source: dict[str, Any]) -> dict[str, Any]:
    return source["Resources"]["HttpApi"]["Properties"]


def _parameter_default(source: dict[str, Any], value: Any) -> float:
    """The default of the parameter a setting names; a fixed number is not allowed."""
    assert isinstance(value, dict) and set(value) == {"Ref"}, f"not a parameter: {value!r}"
    parameter = source["Parameters"][value["Ref"]]
    assert parameter["Type"] == "Number"
    return float(parameter["Default"])


def test_every_route_throttle_is_a_parameter_whose_default_is_a_cost_ceiling(source: dict[str, Any]) -> None:
    api = http_api(source)
    for settings in [api["DefaultRouteSettings"], *api["RouteSettings"].values()]:
        rate = _parameter_default(source, settings["ThrottlingRateLimit"])
        burst = _parameter_default(source, settings["ThrottlingBurstLimit"])
        assert rate >= LOWEST_CEILING_PER_SECOND and burst >= rate


def test_the_routes_that_hash_a_password_share_their_own_ceiling(source: dict[str, Any]) -> None:
    api = http_api(source)
    sign_in = {
        "ThrottlingBurstLimit": {"Ref": "SignInThrottleBurstLimit"},
        "ThrottlingRateLimit": {"Ref": "SignInThrottleRateLimit"},
    }
    assert api["RouteSettings"] == dict.fromkeys(PASSWORD_ROUTES, sign_in)
    assert api["DefaultRouteSettings"] == {
        "ThrottlingBurstLimit": {"Ref": "ThrottleBurstLimit"},
        "ThrottlingRateLimit": {"Ref": "ThrottleRateLimit"},
    }


def test_the_deployed_stage_takes_the_throttle_parameters(translated: dict[str, Any]) -> None:
    (stage,) = resources(translated, "AWS::ApiGatewayV2::Stage").values()
    properties = stage["Properties"]
    assert properties["DefaultRouteSettings"]["ThrottlingRateLimit"] == {"Ref": "ThrottleRateLimit"}
    assert properties["DefaultRouteSettings"]["ThrottlingBurstLimit"] == {"Ref": "ThrottleBurstLimit"}
    assert set(properties["RouteSettings"]) == set(PASSWORD_ROUTES)


def test_route_settings_name_only_existing_routes(source: dict[str, Any], template: Template) -> None:
    # API Gateway refuses a stage whose RouteSettings name a route that does not exist.
    assert set(http_api(source)["RouteSettings"]) <= set(template_routes(template))


def test_cors_allows_credentials_for_the_listed_origins_only(source: dict[str, Any]) -> None:
    cors = http_api(source)["CorsConfiguration"]
    assert cors["AllowCredentials"] is True
    assert cors["AllowOrigins"] == {"Ref": "AllowedOrigins"}
    assert "Default" not in source["Parameters"]["AllowedOrigins"], "an operator names the origins"
    # What a listed app must read of an answer (SPEC §3): a 429's delay, a reauth 401's max_age.
    assert set(cors["ExposeHeaders"]) == {"retry-after", "www-authenticate"}
    assertion = source["Rules"]["NoWildcardOriginWithCredentials"]["Assertions"][0]["Assert"]
    assert assertion == {"Fn::Not": [{"Fn::Contains": [{"Ref": "AllowedOrigins"}, "*"]}]}


def test_demo_mode_is_refused_on_prod(source: dict[str, Any]) -> None:
    rule = source["Rules"]["DemoModeIsNotForProd"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}
    assert rule["Assertions"][0]["Assert"] == {"Fn::Equals": [{"Ref": "DemoMode"}, "false"]}


def test_access_logs_are_json_without_credentials(source: dict[str, Any]) -> None:
    settings = http_api(source)["AccessLogSettings"]
    assert settings["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    fields = settings["Format"]
    assert fields.startswith("{") and fields.endswith("}") and '"requestId":"$context.requestId"' in fields
    for leak in ("authorization", "cookie", "header"):
        assert leak not in fields.lower()


def test_parameters_cover_the_operators_choices(source: dict[str, Any]) -> None:
    assert source["Parameters"]["Stage"]["AllowedValues"] == ["local", "dev", "prod"]
    assert source["Parameters"]["KeyRotationDays"]["Default"] == 30
    for name in (
        "BcryptCost",
        "AccessTokenTtlSeconds",
        "RefreshTokenTtlSeconds",
        "RevocationLagSeconds",
        "LogLevel",
    ):
        assert name in source["Parameters"]


def test_the_api_function_gets_the_refresh_reuse_grace(
    source: dict[str, Any], translated: dict[str, Any], template: Template
) -> None:
    grace = source["Parameters"]["RefreshReuseGraceSeconds"]
    assert (grace["Default"], grace["MinValue"]) == (30, 0), "SPEC §3: default 30, 0 turns it off"
    # SAM merges a function's variables into the Globals ones (it does not replace them):
    # the deployed API function has both, and the local stack reads them the same way.
    deployed = translated["Resources"]["ApiFunction"]["Properties"]["Environment"]["Variables"]
    assert deployed["REFRESH_REUSE_GRACE_SECONDS"] == {"Ref": "RefreshReuseGraceSeconds"}
    assert "REVOCATION_LAG_SECONDS" in deployed
    assert template.functions["ApiFunction"].environment["REFRESH_REUSE_GRACE_SECONDS"] == "30"
    assert "REVOCATION_LAG_SECONDS" in template.functions["ApiFunction"].environment


# -- data -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "table",
    [
        "UsersTable",
        "SessionsTable",
        "RefreshTokensTable",
        "PersonalAccessTokensTable",
        "SettingsTable",
        "FactorsTable",
        "IdentityProvidersTable",
        "LinkedIdentitiesTable",
    ],
)
def test_table_is_recoverable_expiring_encrypted_and_kept_on_prod(source: dict[str, Any], table: str) -> None:
    resource = source["Resources"][table]
    properties = resource["Properties"]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    # The PAT table's counts would not survive items deleted by DynamoDB itself (pats.create).
    expiring = table != "PersonalAccessTokensTable"
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": expiring}
    assert properties["SSESpecification"]["SSEEnabled"] is True
    assert properties["DeletionProtectionEnabled"] == {"Fn::If": ["IsProd", True, False]}
    assert resource["DeletionPolicy"] == resource["UpdateReplacePolicy"] == PROD_ONLY


def test_every_table_of_the_template_is_checked(source: dict[str, Any]) -> None:
    assert len(resources(source, "AWS::DynamoDB::Table")) == 8


def test_signing_key_is_kept_on_prod_and_rotated_on_schedule(source: dict[str, Any]) -> None:
    secret = source["Resources"]["SigningKeySecret"]
    assert secret["DeletionPolicy"] == PROD_ONLY
    schedule = source["Resources"]["SigningKeyRotationSchedule"]
    assert schedule["Properties"]["RotationLambdaARN"] == {"Fn::GetAtt": ["KeyRotationFunction", "Arn"]}
    assert schedule["Properties"]["RotationRules"]["ScheduleExpression"] == {
        "Fn::Sub": "rate(${KeyRotationDays} days)"
    }
    permission = source["Resources"]["KeyRotationPermission"]["Properties"]
    assert permission["Principal"] == "secretsmanager.amazonaws.com"
    assert permission["SourceArn"] == {"Ref": "SigningKeySecret"}


# -- observability --------------------------------------------------------------------------


def test_every_function_is_traced_and_logs_to_its_own_group(source: dict[str, Any]) -> None:
    assert source["Globals"]["Function"]["Tracing"] == "Active"
    for name, function in resources(source, "AWS::Serverless::Function").items():
        group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert source["Resources"][group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, (
            name
        )


def alarm_metrics(source: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for alarm in resources(source, "AWS::CloudWatch::Alarm").values():
        properties = alarm["Properties"]
        if "MetricName" in properties:
            found.append(properties)
        for query in properties.get("Metrics", []):
            if "MetricStat" in query:
                found.append(query["MetricStat"]["Metric"])
    return found


def test_alarms_watch_metrics_the_code_emits(source: dict[str, Any]) -> None:
    custom = [metric for metric in alarm_metrics(source) if metric["Namespace"] != "AWS/Lambda"]
    assert {metric["MetricName"] for metric in custom} == {
        Metric.REFRESH_REUSE_DETECTED,
        Metric.AUTHORIZER_DENIED,
    }
    for metric in custom:
        assert metric["Namespace"] == METRICS_NAMESPACE
        dimensions = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
        assert dimensions.pop("service") == SERVICE
        assert set(dimensions.values()) <= set(DenialReason)


def test_alarms_exist_for_authorizer_errors_and_reuse(source: dict[str, Any]) -> None:
    assert {"AuthorizerErrorsAlarm", "RefreshReuseAlarm"} <= set(resources(source, "AWS::CloudWatch::Alarm"))


def test_only_the_api_function_reaches_second_factors(
    source: dict[str, Any], translated: dict[str, Any], template: Template
) -> None:
    """SPEC §7: TOTP secrets are sealed with a key of their own, which the authorizer (and the
    rotation function) can neither read nor name; kept on prod like the data it opens."""
    for function in EXPECTED_ACTIONS:
        reached = {"FactorsTable", "FactorKeySecret"} & set(granted(translated, function))
        assert reached == (set() if function != "ApiFunction" else {"FactorsTable", "FactorKeySecret"})
    assert "FACTOR_KEY_SECRET_ID" not in template.functions["AuthorizerFunction"].environment
    assert "FACTORS_TABLE" not in template.functions["AuthorizerFunction"].environment
    assert template.functions["ApiFunction"].environment["FACTOR_KEY_SECRET_ID"] == "FactorKeySecret"
    secret = source["Resources"]["FactorKeySecret"]
    assert secret["DeletionPolicy"] == secret["UpdateReplacePolicy"] == PROD_ONLY
    generated = secret["Properties"]["GenerateSecretString"]
    assert generated["GenerateStringKey"] == "key" and generated["PasswordLength"] >= 32


def test_only_the_api_function_reaches_identity_providers(
    translated: dict[str, Any], template: Template
) -> None:
    """SPEC §8: the providers (with their sealed client secrets) and the links are the API
    function's alone; the authorizer cannot even name them."""
    tables = {"IdentityProvidersTable", "LinkedIdentitiesTable"}
    for function in EXPECTED_ACTIONS:
        reached = tables & set(granted(translated, function))
        assert reached == (set() if function != "ApiFunction" else tables)
    environment = template.functions["AuthorizerFunction"].environment
    assert "IDENTITY_PROVIDERS_TABLE" not in environment and "LINKED_IDENTITIES_TABLE" not in environment


# SnapStart (parameter SnapStart, handlers.snapshots): the functions that answer requests.
SNAPSTART_FUNCTIONS = ("AuthorizerFunction", "ApiFunction")


def _if_snapstart(value: Any, enabled: bool) -> Any:
    """`value` as CloudFormation resolves it with the SnapStart parameter on or off."""
    if isinstance(value, dict) and list(value) == ["Fn::If"]:
        condition, when_true, when_false = value["Fn::If"]
        assert condition == "SnapStartEnabled"
        return when_true if enabled else when_false
    return value


def test_snapstart_is_a_parameter_off_by_default(source: dict[str, Any]) -> None:
    parameter = source["Parameters"]["SnapStart"]
    assert (parameter["Default"], parameter["AllowedValues"]) == ("Disabled", ["Enabled", "Disabled"])
    assert source["Conditions"]["SnapStartEnabled"] == {"Fn::Equals": [{"Ref": "SnapStart"}, "Enabled"]}


@pytest.mark.parametrize("enabled", [True, False])
@pytest.mark.parametrize("function", SNAPSTART_FUNCTIONS)
def test_snapstart_applies_to_published_versions_when_on(
    translated: dict[str, Any], function: str, enabled: bool
) -> None:
    properties = translated["Resources"][function]["Properties"]
    applied = _if_snapstart(properties["SnapStart"]["ApplyOn"], enabled)
    assert applied == ("PublishedVersions" if enabled else "None")


@pytest.mark.parametrize("function", SNAPSTART_FUNCTIONS)
def test_requests_reach_a_published_version_through_the_alias(
    translated: dict[str, Any], function: str
) -> None:
    # SnapStart never applies to $LATEST: with it on, whatever calls $LATEST gets no snapshot.
    deployed = translated["Resources"]
    (alias_id,) = [
        name
        for name, resource in resources(translated, "AWS::Lambda::Alias").items()
        if resource["Properties"]["FunctionName"] == {"Ref": function}
    ]
    assert deployed[alias_id]["Properties"]["Name"] == "live"
    assert "FunctionVersion" in deployed[alias_id]["Properties"]
    # The HTTP API's routes and its authorizer are an OpenAPI body: each names a function ARN.
    (api,) = resources(translated, "AWS::ApiGatewayV2::Api").values()
    body = json.dumps(api["Properties"]["Body"])
    calls_alias = (json.dumps({"Ref": alias_id}), "${" + alias_id + "}")
    assert any(form in body for form in calls_alias), f"nothing calls {function}"
    calls_latest = (json.dumps({"Fn::GetAtt": [function, "Arn"]}), "${" + function + ".Arn}")
    assert not any(form in body for form in calls_latest)
    # API Gateway may invoke the alias (what it calls), whichever the route.
    permitted = [
        resource["Properties"]["FunctionName"]
        for resource in resources(translated, "AWS::Lambda::Permission").values()
        if function in json.dumps(resource["Properties"]["FunctionName"])
    ]
    assert permitted
    assert all(alias_id in json.dumps(name) for name in permitted)


def test_key_rotation_takes_no_snapshot(source: dict[str, Any]) -> None:
    # Called once a rotation step, every KeyRotationDays: no cold start worth a snapshot.
    assert "SnapStart" not in source["Resources"]["KeyRotationFunction"]["Properties"]
