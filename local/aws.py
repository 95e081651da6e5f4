"""Creates template.yaml's own AWS resources in a moto server, and resolves their names and ARNs."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3

from local.template import Intrinsics

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
#: Provisioned here; the other resource types are Lambda/API plumbing that the local stack replaces.
PROVISIONED_TYPES = (
    "AWS::SQS::Queue",
    "AWS::DynamoDB::Table",
    "AWS::S3::Bucket",
    "AWS::Events::EventBus",
    "AWS::SecretsManager::Secret",
)


@dataclass
class ProvisionedStack:
    stack_name: str
    refs: dict[str, str]
    attributes: dict[tuple[str, str], str]

    @property
    def intrinsics(self) -> Intrinsics:
        return Intrinsics(self.refs, self.attributes)


def aws_client(service: str, endpoint_url: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's dummy credentials
    )


def provision(
    resources: Mapping[str, Any],
    parameters: Mapping[str, Any],
    *,
    endpoint_url: str,
    stack_name: str,
    secret_values: Mapping[str, str] | None = None,
) -> ProvisionedStack:
    """Create every provisioned resource; ``secret_values`` are merged into each generated secret."""
    refs: dict[str, str] = {
        "AWS::StackName": stack_name,
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT_ID,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }
    refs.update({name: str(spec.get("Default", "")) for name, spec in parameters.items()})
    stack = ProvisionedStack(stack_name, refs, {})
    client = lambda service: aws_client(service, endpoint_url)  # noqa: E731
    pending_redrives: dict[str, Any] = {}

    ordered = sorted(resources.items(), key=lambda item: item[1]["Type"] != "AWS::SQS::Queue")
    for logical_id, resource in ordered:
        kind = resource["Type"]
        if kind not in PROVISIONED_TYPES:
            continue
        props = resource.get("Properties", {})
        physical = f"{stack_name}-{logical_id}"
        if kind == "AWS::SQS::Queue":
            attributes = {
                key: str(props[key])
                for key in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds")
                if key in props
            }
            url = client("sqs").create_queue(QueueName=physical, Attributes=attributes)["QueueUrl"]
            arn = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{physical}"
            refs[logical_id] = url
            stack.attributes.update(
                {(logical_id, "Arn"): arn, (logical_id, "QueueName"): physical, (logical_id, "QueueUrl"): url}
            )
            if "RedrivePolicy" in props:
                pending_redrives[url] = props["RedrivePolicy"]
        elif kind == "AWS::DynamoDB::Table":
            _create_table(client("dynamodb"), physical, props)
            refs[logical_id] = physical
            stack.attributes[(logical_id, "Arn")] = f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{physical}"
        elif kind == "AWS::S3::Bucket":
            bucket = physical.lower()
            _create_bucket(client("s3"), bucket, props)
            refs[logical_id] = bucket
            stack.attributes[(logical_id, "Arn")] = f"arn:aws:s3:::{bucket}"
        elif kind == "AWS::Events::EventBus":
            name = stack.intrinsics.resolve(props.get("Name", physical))
            arn = client("events").create_event_bus(Name=name)["EventBusArn"]
            refs[logical_id] = name
            stack.attributes.update({(logical_id, "Arn"): arn, (logical_id, "Name"): name})
        elif kind == "AWS::SecretsManager::Secret":
            value = _generated_secret(props, secret_values or {})
            arn = client("secretsmanager").create_secret(Name=physical, SecretString=value)["ARN"]
            refs[logical_id] = arn

    for url, policy in pending_redrives.items():
        resolved = stack.intrinsics.resolve(policy)
        client("sqs").set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": json.dumps(resolved)})
    return stack


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


def _create_bucket(s3: Any, name: str, props: Mapping[str, Any]) -> None:
    s3.create_bucket(Bucket=name)
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
    values[spec["GenerateStringKey"]] = secrets.token_urlsafe(int(spec.get("PasswordLength", 32)))
    values.update({key: value for key, value in overrides.items() if key in values})
    return json.dumps(values)
