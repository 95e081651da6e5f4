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
SUPPORTED_EVENT_TYPES = frozenset({"HttpApi", "SQS"})


class UnsupportedTrigger(ValueError):
    """template.yaml gives a function a trigger the local stack does not run."""


@dataclass(frozen=True)
class HttpRoute:
    method: str
    path: str
    function_id: str
    #: "AWS_IAM" when callers must sign with SigV4; "NONE" for an open route.
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


@dataclass(frozen=True)
class Application:
    functions: dict[str, FunctionSpec]
    routes: list[HttpRoute]
    queue_triggers: list[QueueTrigger]
    resources: dict[str, Any]
    parameters: dict[str, Any]
    conditions: dict[str, Any] = field(default_factory=dict)


def _default_authorizer(resources: Mapping[str, Any], api: Any) -> str:
    """The HttpApi's DefaultAuthorizer; routes of an API without one are open."""
    api_id = api.get("Ref") if isinstance(api, dict) else None
    if api_id is None:
        return "NONE"
    auth = resources[api_id].get("Properties", {}).get("Auth", {})
    authorizer: str = auth.get("DefaultAuthorizer", "NONE")
    if authorizer not in ("AWS_IAM", "NONE"):
        raise UnsupportedTrigger(f"{api_id}: the local front cannot check the {authorizer} authorizer")
    return authorizer


def read_application(template: Mapping[str, Any] | None = None) -> Application:
    template = template if template is not None else load_template()
    globals_ = template.get("Globals", {}).get("Function", {})
    resources: dict[str, Any] = template["Resources"]
    functions: dict[str, FunctionSpec] = {}
    routes: list[HttpRoute] = []
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
        )
        for event_id, event in props.get("Events", {}).items():
            event_props = event.get("Properties", {})
            if event["Type"] not in SUPPORTED_EVENT_TYPES:
                # Silently skipping a trigger would make a door that works deployed and not here.
                raise UnsupportedTrigger(
                    f"{logical_id}.{event_id}: the local stack cannot run {event['Type']} events; "
                    f"route them through an SQS queue (see InputDropsRule) or teach local/ to"
                )
            if event["Type"] == "HttpApi":
                authorizer = event_props.get("Auth", {}).get("Authorizer") or _default_authorizer(
                    resources, event_props.get("ApiId")
                )
                routes.append(
                    HttpRoute(event_props["Method"].upper(), event_props["Path"], logical_id, authorizer)
                )
            elif event["Type"] == "SQS":
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
        routes=routes,
        queue_triggers=triggers,
        resources=resources,
        parameters=template.get("Parameters", {}),
        conditions=template.get("Conditions", {}),
    )
