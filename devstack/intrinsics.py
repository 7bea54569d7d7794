"""CloudFormation YAML loading and the few intrinsic functions a local stack can resolve."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import yaml

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
STACK_NAME = "memos-auth-local"


def arn(service: str, resource: str) -> str:
    """The ARN of a resource of the local stack's account and region."""
    return f"arn:aws:{service}:{REGION}:{ACCOUNT_ID}:{resource}"


PSEUDO_PARAMETERS: dict[str, str] = {
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT_ID,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": STACK_NAME,
    "AWS::StackId": arn("cloudformation", f"stack/{STACK_NAME}/local"),
    "AWS::NoValue": "",
}


class TemplateError(ValueError):
    """The template uses something the local stack cannot reproduce."""


# libyaml's loader where PyYAML was built with it: the template is read by every test's
# moto fixture and every local stack, and the pure-Python parser takes ~1 s for it.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _CfnLoader(_SafeLoader):  # type: ignore[valid-type,misc]  # a class chosen at import time
    """A safe loader that turns short-form tags (!Ref, !GetAtt, !Sub ...) into long form."""


def _construct_intrinsic(loader: _CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        # !GetAtt Foo.Arn is shorthand for [Foo, Arn]; the long form is what we resolve.
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # neither scalar nor sequence: a mapping
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_intrinsic)


def load_yaml(text: str) -> dict[str, Any]:
    data = yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass  # nosec B506
    if not isinstance(data, dict):
        raise TemplateError("template is not a mapping")
    return data


RefResolver = Callable[[str], str]
GetAttResolver = Callable[[str, str], str]

_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


class Resolver:
    """Resolves intrinsic functions to plain strings, given how Ref and GetAtt resolve."""

    def __init__(self, ref: RefResolver, get_att: GetAttResolver) -> None:
        self._ref = ref
        self._get_att = get_att

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, Mapping):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            handler = self._functions().get(key)
            if handler is not None:
                return handler(argument)
            if key.startswith("Fn::") or key == "Ref":
                raise TemplateError(f"{key} is not supported by the local stack")
        return {key: self.resolve(item) for key, item in value.items()}

    def string(self, value: Any) -> str:
        resolved = self.resolve(value)
        if isinstance(resolved, bool):
            return "true" if resolved else "false"
        if isinstance(resolved, str | int | float):
            return str(resolved)
        raise TemplateError(f"expected a scalar, got {resolved!r}")

    def _functions(self) -> dict[str, Callable[[Any], Any]]:
        return {
            "Ref": lambda name: self._ref(str(name)),
            "Fn::GetAtt": self._fn_get_att,
            "Fn::Sub": self._fn_sub,
            "Fn::Join": self._fn_join,
            "Fn::Select": lambda args: self.resolve(args[1])[int(self.resolve(args[0]))],
        }

    def _fn_get_att(self, argument: Any) -> str:
        parts = argument if isinstance(argument, list) else str(argument).split(".", 1)
        if len(parts) != 2:
            raise TemplateError(f"malformed Fn::GetAtt {argument!r}")
        return self._get_att(str(parts[0]), str(self.resolve(parts[1])))

    def _fn_sub(self, argument: Any) -> str:
        if isinstance(argument, list):
            text, variables = argument[0], {k: self.string(v) for k, v in argument[1].items()}
        else:
            text, variables = argument, {}

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return variables[name]
            if "." in name and name not in PSEUDO_PARAMETERS:
                logical_id, attribute = name.split(".", 1)
                return self._get_att(logical_id, attribute)
            return self._ref(name)

        return _SUB_VARIABLE.sub(substitute, str(text)).replace("${!", "${")

    def _fn_join(self, argument: Any) -> str:
        delimiter, items = argument
        return str(delimiter).join(self.string(item) for item in self.resolve(items))
