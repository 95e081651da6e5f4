"""JobStore on DynamoDB: one item per job, every status change a conditional update."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from videojobs.errors import DependencyUnavailable
from videojobs.models import Job, JobStatus, Notification
from videojobs.observability import logger
from videojobs.ports import Lost

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _json_default(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _to_attribute(value: Any) -> Any:
    # DynamoDB wants Decimal, not float; a JSON round trip also turns datetimes into ISO strings
    # (one spelling, so that a condition comparing a stored time with a read one holds).
    plain = json.loads(json.dumps(value, default=_json_default), parse_float=Decimal)
    return _serializer.serialize(plain)


def _to_item(job: Job) -> dict[str, Any]:
    data = job.model_dump(mode="json", exclude_none=True)
    return {key: _to_attribute(value) for key, value in data.items()}


def _plain(value: Any) -> Any:
    """DynamoDB's numbers (Decimal) as the JSON numbers they were: the request model is strict."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _from_item(item: Mapping[str, Any]) -> Job:
    return Job.model_validate({key: _plain(_deserializer.deserialize(value)) for key, value in item.items()})


def _update_expression(changes: Mapping[str, Any], names: dict[str, str], values: dict[str, Any]) -> str:
    """SET the status, the time and each change; REMOVE each change to None. Fills names and values."""
    sets = ["#status = :to", "#updated_at = :now"]
    removes: list[str] = []
    for index, (field, value) in enumerate(changes.items()):
        names[f"#f{index}"] = field
        if value is None:
            removes.append(f"#f{index}")
        else:
            values[f":f{index}"] = _to_attribute(value)
            sets.append(f"#f{index} = :f{index}")
    return "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")


def _condition(
    allowed_from: Iterable[JobStatus],
    expect: Mapping[str, Any],
    names: dict[str, str],
    values: dict[str, Any],
) -> str:
    """The job exists, its status is one of ``allowed_from`` and each expected field holds its value
    (None: is unset). Fills names and values."""
    allowed = sorted(status.value for status in allowed_from)
    for index, status in enumerate(allowed):
        values[f":from{index}"] = {"S": status}
    condition = "attribute_exists(#job_id) AND #status IN ({})".format(
        ", ".join(f":from{index}" for index in range(len(allowed)))
    )
    for index, (field, value) in enumerate(expect.items()):
        names[f"#e{index}"] = field
        if value is None:
            condition += f" AND attribute_not_exists(#e{index})"
        else:
            values[f":e{index}"] = _to_attribute(value)
            condition += f" AND #e{index} = :e{index}"
    return condition


class DynamoDBJobStore:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def create_if_absent(self, job: Job) -> Job | None:
        try:
            self._client.put_item(
                TableName=self._table,
                Item=_to_item(job),
                ConditionExpression="attribute_not_exists(job_id)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if _condition_failed(error):
                existing: Mapping[str, Any] | None = error.response.get("Item")  # type: ignore[assignment]
                return _from_item(existing) if existing else self.get(job.job_id)
            raise DependencyUnavailable("could not store the job") from error
        except BotoCoreError as error:
            raise DependencyUnavailable("could not store the job") from error
        return None

    def get(self, job_id: str) -> Job | None:
        try:
            response = self._client.get_item(
                TableName=self._table, Key={"job_id": {"S": job_id}}, ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as error:
            raise DependencyUnavailable("could not read the job") from error
        item = response.get("Item")
        return _from_item(item) if item else None

    def transition(
        self,
        job_id: str,
        *,
        to: JobStatus,
        allowed_from: Iterable[JobStatus],
        changes: Mapping[str, Any] | None = None,
        expect: Mapping[str, Any] | None = None,
        now: datetime,
    ) -> Job | Lost:
        names = {"#status": "status", "#updated_at": "updated_at", "#job_id": "job_id"}
        values: dict[str, Any] = {":to": {"S": to.value}, ":now": _to_attribute(now.isoformat())}
        expression = _update_expression(changes or {}, names, values)
        condition = _condition(allowed_from, expect or {}, names, values)
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key={"job_id": {"S": job_id}},
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if _condition_failed(error):
                found: Mapping[str, Any] | None = error.response.get("Item")  # type: ignore[assignment]
                return Lost(_from_item(found) if found else None)
            raise DependencyUnavailable("could not update the job") from error
        except BotoCoreError as error:
            raise DependencyUnavailable("could not update the job") from error
        return _from_item(response["Attributes"])

    def record_transfer_error(self, job_id: str, message: str, *, now: datetime) -> None:
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"job_id": {"S": job_id}},
                UpdateExpression="SET transfer_error = :message, updated_at = :now",
                ConditionExpression="attribute_exists(job_id)",
                ExpressionAttributeValues={":message": {"S": message[:1000]}, ":now": {"S": now.isoformat()}},
            )
        except (ClientError, BotoCoreError) as error:
            raise DependencyUnavailable("could not record the transfer error") from error

    def record_notification(self, job_id: str, notification: Notification, *, now: datetime) -> None:
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"job_id": {"S": job_id}},
                UpdateExpression="SET notification = :notification, updated_at = :now",
                ConditionExpression="attribute_exists(job_id)",
                ExpressionAttributeValues={
                    ":notification": _to_attribute(notification.model_dump(mode="json", exclude_none=True)),
                    ":now": {"S": now.isoformat()},
                },
            )
        except ClientError as error:
            if _condition_failed(error):
                return
            raise DependencyUnavailable("could not record the notification") from error
        except BotoCoreError as error:
            raise DependencyUnavailable("could not record the notification") from error

    def claim_pending_event(self, job_id: str, detail_type: str, *, now: datetime, until: datetime) -> bool:
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"job_id": {"S": job_id}},
                UpdateExpression="SET event_claimed_until = :until",
                ConditionExpression=(
                    "pending_event = :detail_type AND "
                    "(attribute_not_exists(event_claimed_until) OR event_claimed_until < :now)"
                ),
                ExpressionAttributeValues={
                    ":detail_type": {"S": detail_type},
                    ":until": {"N": str(int(until.timestamp()))},
                    ":now": {"N": str(int(now.timestamp()))},
                },
            )
        except ClientError as error:
            if _condition_failed(error):
                return False
            raise DependencyUnavailable("could not claim the pending event") from error
        except BotoCoreError as error:
            raise DependencyUnavailable("could not claim the pending event") from error
        return True

    def release_event_claim(self, job_id: str) -> None:
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"job_id": {"S": job_id}},
                UpdateExpression="REMOVE event_claimed_until",
                ConditionExpression="attribute_exists(job_id)",
            )
        except (ClientError, BotoCoreError):
            # The claim then runs out by itself; nothing is lost, the event only waits longer.
            logger.warning("could not release the event claim", job_id=job_id)

    def clear_pending_event(self, job_id: str, detail_type: str) -> None:
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"job_id": {"S": job_id}},
                UpdateExpression="REMOVE pending_event, event_claimed_until",
                ConditionExpression="pending_event = :detail_type",
                ExpressionAttributeValues={":detail_type": {"S": detail_type}},
            )
        except ClientError as error:
            if _condition_failed(error):
                return
            raise DependencyUnavailable("could not record the event as published") from error
        except BotoCoreError as error:
            raise DependencyUnavailable("could not record the event as published") from error


def _condition_failed(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
