"""template.yaml as data: CloudFormation's short tags, intrinsic functions, functions and their events."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that reads !Ref, !GetAtt, !Sub ... into their long {"Fn::X": ...} forms."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with path.open() as handle:
        data: dict[str, Any] = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
    return data


class Intrinsics:
    """Resolves Ref, Fn::GetAtt and Fn::Sub against the local physical resources."""

    def __init__(
        self,
        refs: Mapping[str, str],
        attributes: Mapping[tuple[str, str], str],
        conditions: Mapping[str, Any] | None = None,
    ) -> None:
        self._refs = refs
        self._attributes = attributes
        self._conditions = conditions or {}

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Ref"}:
            return self._refs[value["Ref"]]
        if set(value) == {"Fn::GetAtt"}:
            logical_id, attribute = value["Fn::GetAtt"]
            return self._attributes[(logical_id, attribute)]
        if set(value) == {"Fn::Sub"}:
            return self._sub(value["Fn::Sub"])
        if set(value) == {"Fn::Join"}:
            separator, items = value["Fn::Join"]
            return separator.join(str(item) for item in self.resolve(items))
        if set(value) == {"Fn::If"}:
            condition, when_true, when_false = value["Fn::If"]
            return self.resolve(when_true if self.condition(condition) else when_false)
        return {key: self.resolve(item) for key, item in value.items()}

    def condition(self, name: str) -> bool:
        return self._truth(self._conditions[name])

    def _truth(self, value: Any) -> bool:
        if isinstance(value, dict) and set(value) == {"Fn::Equals"}:
            left, right = (self.resolve(item) for item in value["Fn::Equals"])
            return bool(left == right)
        if isinstance(value, dict) and set(value) == {"Fn::Not"}:
            return not self._truth(value["Fn::Not"][0])
        if isinstance(value, dict) and set(value) == {"Condition"}:
            return self.condition(value["Condition"])
        raise ValueError(f"condition not understood by the local stack: {value!r}")

    def _sub(self, spec: Any) -> str:
        text, extra = (spec, {}) if isinstance(spec, str) else (spec[0], self.resolve(spec[1]))

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in extra:
                return str(extra[name])
            if "." in name:
                logical_id, attribute = name.split(".", 1)
                return self._attributes[(logical_id, attribute)]
            return self._refs[name]

        return re.sub(r"\$\{([^}!]+)\}", replace, text)


#: Function event types the local stack runs. EventBridge rules are resources of their own
#: (AWS::Events::Rule) whose SQS targets moto feeds; S3 reaches them through its EventBridge switch.
#: API routes are resources too (AWS::ApiGatewayV2::Route), so that a parameter can pick their authorizer.
SUPPORTED_EVENT_TYPES = frozenset({"SQS"})


class UnsupportedTrigger(ValueError):
    """template.yaml gives a function a trigger the local stack does not run."""


@dataclass(frozen=True)
class HttpRoute:
    method: str
    path: str
    function_id: str
    #: The route's AuthorizationType: "AWS_IAM" (SigV4), "JWT" or "NONE" for an open route.
    authorizer: str = "NONE"


@dataclass(frozen=True)
class QueueTrigger:
    queue_id: str
    batch_size: int
    function_id: str
    report_batch_item_failures: bool


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_dir: Path
    handler: str
    timeout_seconds: int
    memory_mb: int
    environment: dict[str, Any] = field(default_factory=dict)
    #: ReservedConcurrentExecutions: at most this many containers at once (None: not reserved).
    reserved_concurrency: int | None = None


@dataclass(frozen=True)
class Application:
    functions: dict[str, FunctionSpec]
    routes: list[HttpRoute]
    queue_triggers: list[QueueTrigger]
    resources: dict[str, Any]
    parameters: dict[str, Any]
    conditions: dict[str, Any] = field(default_factory=dict)


def _api_routes(resources: Mapping[str, Any], intrinsics: Intrinsics) -> list[HttpRoute]:
    """Each AWS::ApiGatewayV2::Route, followed through its integration to the function it invokes."""
    routes = []
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::ApiGatewayV2::Route":
            continue
        props = resource["Properties"]
        route_key: str = props["RouteKey"]
        method, path = ("ANY", route_key) if route_key == "$default" else route_key.split(" ", 1)
        target = re.fullmatch(r"integrations/\$\{(\w+)\}", props["Target"].get("Fn::Sub", ""))
        if target is None:
            raise UnsupportedTrigger(f"{logical_id}: Target must be !Sub integrations/${{Integration}}")
        integration_id = target.group(1)
        integration = resources[integration_id]["Properties"]
        function_id = _invoked_function(integration)
        if function_id is None:
            raise UnsupportedTrigger(f"{integration_id}: the local front runs only Lambda proxy integrations")
        authorizer = str(intrinsics.resolve(props.get("AuthorizationType", "NONE")))
        routes.append(HttpRoute(method.upper(), path, function_id, authorizer))
    return routes


def _invoked_function(integration: Mapping[str, Any]) -> str | None:
    """The function a Lambda proxy integration invokes: ``!GetAtt F.Arn``, or ``!Ref F.Alias`` (the
    alias SAM publishes with AutoPublishAlias; the local stack runs the function's code either way)."""
    if integration["IntegrationType"] != "AWS_PROXY":
        return None
    uri = integration["IntegrationUri"]
    if "Fn::GetAtt" in uri:
        return str(uri["Fn::GetAtt"][0])
    reference = str(uri.get("Ref", ""))
    return reference.removesuffix(".Alias") if reference.endswith(".Alias") else None


def _reserved(props: Mapping[str, Any], intrinsics: Intrinsics) -> int | None:
    reserved = props.get("ReservedConcurrentExecutions")
    return None if reserved is None else int(intrinsics.resolve(reserved))


def parameter_values(
    parameters: Mapping[str, Any], overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Each parameter's value as `sam deploy --parameter-overrides` would set it."""
    values = {name: str(spec.get("Default", "")) for name, spec in parameters.items()}
    values.update(overrides or {})
    return values


def read_application(
    template: Mapping[str, Any] | None = None, parameter_overrides: Mapping[str, str] | None = None
) -> Application:
    template = template if template is not None else load_template()
    parameters: dict[str, Any] = template.get("Parameters", {})
    conditions: dict[str, Any] = template.get("Conditions", {})
    parameter_intrinsics = Intrinsics(parameter_values(parameters, parameter_overrides), {}, conditions)
    globals_ = template.get("Globals", {}).get("Function", {})
    resources: dict[str, Any] = template["Resources"]
    functions: dict[str, FunctionSpec] = {}
    triggers: list[QueueTrigger] = []
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = {**globals_, **resource.get("Properties", {})}
        environment = {
            **globals_.get("Environment", {}).get("Variables", {}),
            **resource.get("Properties", {}).get("Environment", {}).get("Variables", {}),
        }
        functions[logical_id] = FunctionSpec(
            logical_id=logical_id,
            code_dir=ROOT / props["CodeUri"],
            handler=props["Handler"],
            timeout_seconds=int(props.get("Timeout", 3)),
            memory_mb=int(props.get("MemorySize", 128)),
            environment=environment,
            reserved_concurrency=_reserved(props, parameter_intrinsics),
        )
        for event_id, event in props.get("Events", {}).items():
            event_props = event.get("Properties", {})
            if event["Type"] not in SUPPORTED_EVENT_TYPES:
                # Silently skipping a trigger would make a door that works deployed and not here.
                raise UnsupportedTrigger(
                    f"{logical_id}.{event_id}: the local stack cannot run {event['Type']} events; route "
                    f"them through an SQS queue (see InputDropsRule), declare API routes as "
                    f"AWS::ApiGatewayV2::Route resources (see CreateJobRoute), or teach local/ to"
                )
            if event["Type"] == "SQS":
                queue = event_props["Queue"]
                triggers.append(
                    QueueTrigger(
                        queue_id=queue["Fn::GetAtt"][0],
                        batch_size=int(event_props.get("BatchSize", 10)),
                        function_id=logical_id,
                        report_batch_item_failures="ReportBatchItemFailures"
                        in event_props.get("FunctionResponseTypes", []),
                    )
                )
    return Application(
        functions=functions,
        routes=_api_routes(resources, parameter_intrinsics),
        queue_triggers=triggers,
        resources=resources,
        parameters=parameters,
        conditions=conditions,
    )
