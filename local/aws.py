"""Creates template.yaml's own AWS resources in a moto server, and resolves their names and ARNs."""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3

from local.template import Intrinsics, parameter_values

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
#: Provisioned here; the other resource types are Lambda/API plumbing that the local stack replaces.
PROVISIONED_TYPES = (
    "AWS::SQS::Queue",
    "AWS::DynamoDB::Table",
    "AWS::S3::Bucket",
    "AWS::Events::EventBus",
    "AWS::SecretsManager::Secret",
    "AWS::Events::Rule",
)
#: Created in this order (rules last: they name buses, queues and buckets); the rest in between.
_FIRST, _LAST = ("AWS::SQS::Queue",), ("AWS::Events::Rule",)
DEFAULT_BUS = "default"


@dataclass
class ProvisionedStack:
    stack_name: str
    refs: dict[str, str]
    attributes: dict[tuple[str, str], str]
    conditions: dict[str, Any] = field(default_factory=dict)

    @property
    def intrinsics(self) -> Intrinsics:
        return Intrinsics(self.refs, self.attributes, self.conditions)


def aws_client(service: str, endpoint_url: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's dummy credentials
    )


def plan(
    resources: Mapping[str, Any],
    parameters: Mapping[str, Any],
    *,
    endpoint_url: str,
    stack_name: str,
    conditions: Mapping[str, Any] | None = None,
) -> ProvisionedStack:
    """The names, URLs and ARNs `provision` gives the resources, without creating them (`make
    env-json`). A secret is named by its name, which Secrets Manager takes wherever it takes an ARN:
    the ARN it is given on creation ends in a random suffix."""
    refs: dict[str, str] = {
        "AWS::StackName": stack_name,
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT_ID,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }
    refs.update(parameter_values(parameters))
    stack = ProvisionedStack(stack_name, refs, {}, dict(conditions or {}))
    for logical_id, resource in _in_creation_order(resources):
        kind, props = resource["Type"], resource.get("Properties", {})
        physical = f"{stack_name}-{logical_id}"
        if kind == "AWS::SQS::Queue":
            url = f"{endpoint_url}/{ACCOUNT_ID}/{physical}"
            refs[logical_id] = url
            stack.attributes.update(
                {
                    (logical_id, "Arn"): f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{physical}",
                    (logical_id, "QueueName"): physical,
                    (logical_id, "QueueUrl"): url,
                }
            )
        elif kind == "AWS::DynamoDB::Table":
            refs[logical_id] = physical
            stack.attributes[(logical_id, "Arn")] = f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{physical}"
        elif kind == "AWS::S3::Bucket":
            refs[logical_id] = physical.lower()
            stack.attributes[(logical_id, "Arn")] = f"arn:aws:s3:::{physical.lower()}"
        elif kind == "AWS::Events::EventBus":
            name = stack.intrinsics.resolve(props.get("Name", physical))
            refs[logical_id] = name
            arn = f"arn:aws:events:{REGION}:{ACCOUNT_ID}:event-bus/{name}"
            stack.attributes.update({(logical_id, "Arn"): arn, (logical_id, "Name"): name})
        elif kind == "AWS::SecretsManager::Secret":
            refs[logical_id] = physical
        elif kind == "AWS::Events::Rule":
            bus = stack.intrinsics.resolve(props.get("EventBusName", DEFAULT_BUS))
            path = physical if bus == DEFAULT_BUS else f"{bus}/{physical}"
            refs[logical_id] = physical
            stack.attributes[(logical_id, "Arn")] = f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{path}"
    # Lambda and API plumbing is replaced by the local stack; its names still resolve.
    for logical_id in resources:
        refs.setdefault(logical_id, f"{stack_name}-{logical_id}")
    return stack


def provision(
    resources: Mapping[str, Any],
    parameters: Mapping[str, Any],
    *,
    endpoint_url: str,
    stack_name: str,
    secret_values: Mapping[str, str] | None = None,
    conditions: Mapping[str, Any] | None = None,
) -> ProvisionedStack:
    """Create every provisioned resource under the names `plan` gives it; ``secret_values`` are merged
    into each generated secret. The references are what AWS answered (a secret's is its ARN)."""
    stack = plan(
        resources, parameters, endpoint_url=endpoint_url, stack_name=stack_name, conditions=conditions
    )
    refs = stack.refs
    client = lambda service: aws_client(service, endpoint_url)  # noqa: E731
    pending_redrives: dict[str, Any] = {}

    for logical_id, resource in _in_creation_order(resources):
        kind, props = resource["Type"], resource.get("Properties", {})
        name = refs[logical_id]
        if kind == "AWS::SQS::Queue":
            attributes = {
                key: str(props[key])
                for key in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds")
                if key in props
            }
            queue_name = stack.attributes[(logical_id, "QueueName")]
            url = client("sqs").create_queue(QueueName=queue_name, Attributes=attributes)["QueueUrl"]
            refs[logical_id] = stack.attributes[(logical_id, "QueueUrl")] = url
            if "RedrivePolicy" in props:
                pending_redrives[url] = props["RedrivePolicy"]
        elif kind == "AWS::DynamoDB::Table":
            _create_table(client("dynamodb"), name, props)
        elif kind == "AWS::S3::Bucket":
            _create_bucket(client("s3"), name, props)
        elif kind == "AWS::Events::EventBus":
            stack.attributes[(logical_id, "Arn")] = client("events").create_event_bus(Name=name)[
                "EventBusArn"
            ]
        elif kind == "AWS::SecretsManager::Secret":
            value = _generated_secret(props, secret_values or {})
            refs[logical_id] = client("secretsmanager").create_secret(Name=name, SecretString=value)["ARN"]
        elif kind == "AWS::Events::Rule":
            arn = _create_rule(client("events"), name, stack.intrinsics.resolve(props))
            stack.attributes[(logical_id, "Arn")] = arn

    for url, policy in pending_redrives.items():
        resolved = stack.intrinsics.resolve(policy)
        client("sqs").set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": json.dumps(resolved)})
    return stack


def _in_creation_order(resources: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The provisioned resources, queues first and rules last (they name buses, queues and buckets)."""
    ordered = sorted(
        resources.items(), key=lambda item: (item[1]["Type"] not in _FIRST) + (item[1]["Type"] in _LAST)
    )
    return [
        (logical_id, resource) for logical_id, resource in ordered if resource["Type"] in PROVISIONED_TYPES
    ]


def _create_table(dynamodb: Any, name: str, props: Mapping[str, Any]) -> None:
    kwargs = {
        key: props[key]
        for key in ("AttributeDefinitions", "KeySchema", "BillingMode", "GlobalSecondaryIndexes")
        if key in props
    }
    dynamodb.create_table(TableName=name, **kwargs)
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)


def _create_rule(events: Any, name: str, props: Mapping[str, Any]) -> str:
    """The rule and its targets, as EventBridge would run them (moto delivers to SQS targets)."""
    bus = props.get("EventBusName", DEFAULT_BUS)
    arn: str = events.put_rule(
        Name=name,
        EventBusName=bus,
        EventPattern=json.dumps(props["EventPattern"]),
        State=props.get("State", "ENABLED"),
        Description=props.get("Description", ""),
    )["RuleArn"]
    targets = [
        {key: target[key] for key in ("Id", "Arn", "Input", "InputPath", "InputTransformer") if key in target}
        for target in props.get("Targets", [])
    ]
    if targets:
        events.put_targets(Rule=name, EventBusName=bus, Targets=targets)
    return arn


def _create_bucket(s3: Any, name: str, props: Mapping[str, Any]) -> None:
    s3.create_bucket(Bucket=name)
    notifications = props.get("NotificationConfiguration", {})
    if notifications.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled"):
        # S3 then sends every object event to the default bus, where the template's rules pick.
        s3.put_bucket_notification_configuration(
            Bucket=name, NotificationConfiguration={"EventBridgeConfiguration": {}}
        )
    rules = props.get("LifecycleConfiguration", {}).get("Rules", [])
    if rules:
        s3.put_bucket_lifecycle_configuration(
            Bucket=name,
            LifecycleConfiguration={
                "Rules": [
                    {
                        "ID": rule.get("Id", f"rule-{index}"),
                        "Status": rule["Status"],
                        "Filter": {"Prefix": rule.get("Prefix", "")},
                        **{
                            key: rule[key]
                            for key in ("AbortIncompleteMultipartUpload", "Expiration")
                            if key in rule
                        },
                    }
                    for index, rule in enumerate(rules)
                ]
            },
        )


def _generated_secret(props: Mapping[str, Any], overrides: Mapping[str, str]) -> str:
    if "SecretString" in props:
        return str(props["SecretString"])
    spec = props.get("GenerateSecretString", {})
    if "SecretStringTemplate" not in spec:
        return secrets.token_urlsafe(32)
    values: dict[str, str] = json.loads(spec["SecretStringTemplate"])
    # As Secrets Manager generates it: PasswordLength characters, letters and digits only when
    # ExcludePunctuation is set (the notify key must then be valid base64).
    alphabet = string.ascii_letters + string.digits
    if not spec.get("ExcludePunctuation"):
        alphabet += "!#$%&()*+,-.:;<=>?@[]^_{|}~"
    length = int(spec.get("PasswordLength", 32))
    values[spec["GenerateStringKey"]] = "".join(secrets.choice(alphabet) for _ in range(length))
    values.update({key: value for key, value in overrides.items() if key in values})
    return json.dumps(values)
