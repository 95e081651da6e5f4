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
from videojobs.models import Job, JobStatus

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _to_attribute(value: Any) -> Any:
    # DynamoDB wants Decimal, not float; a JSON round trip also turns datetimes into ISO strings.
    plain = json.loads(json.dumps(value, default=str), parse_float=Decimal)
    return _serializer.serialize(plain)


def _to_item(job: Job) -> dict[str, Any]:
    data = job.model_dump(mode="json", exclude_none=True)
    return {key: _to_attribute(value) for key, value in data.items()}


def _from_item(item: Mapping[str, Any]) -> Job:
    return Job.model_validate({key: _deserializer.deserialize(value) for key, value in item.items()})


class DynamoDBJobStore:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def create(self, job: Job) -> None:
        try:
            self._client.put_item(
                TableName=self._table,
                Item=_to_item(job),
                ConditionExpression="attribute_not_exists(job_id)",
            )
        except (ClientError, BotoCoreError) as error:
            raise DependencyUnavailable(f"could not store job: {error}") from error

    def get(self, job_id: str) -> Job | None:
        try:
            response = self._client.get_item(
                TableName=self._table, Key={"job_id": {"S": job_id}}, ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as error:
            raise DependencyUnavailable(f"could not read job: {error}") from error
        item = response.get("Item")
        return _from_item(item) if item else None

    def transition(
        self,
        job_id: str,
        *,
        to: JobStatus,
        allowed_from: Iterable[JobStatus],
        changes: Mapping[str, Any] | None = None,
        now: datetime,
    ) -> Job | None:
        names = {"#status": "status", "#updated_at": "updated_at", "#job_id": "job_id"}
        values: dict[str, Any] = {":to": {"S": to.value}, ":now": _to_attribute(now.isoformat())}
        sets = ["#status = :to", "#updated_at = :now"]
        removes: list[str] = []
        for index, (field, value) in enumerate((changes or {}).items()):
            names[f"#f{index}"] = field
            if value is None:
                removes.append(f"#f{index}")
            else:
                values[f":f{index}"] = _to_attribute(value)
                sets.append(f"#f{index} = :f{index}")
        allowed = sorted(status.value for status in allowed_from)
        for index, status in enumerate(allowed):
            values[f":from{index}"] = {"S": status}
        condition = "attribute_exists(#job_id) AND #status IN ({})".format(
            ", ".join(f":from{index}" for index in range(len(allowed)))
        )
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key={"job_id": {"S": job_id}},
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return None
            raise DependencyUnavailable(f"could not update job: {error}") from error
        except BotoCoreError as error:
            raise DependencyUnavailable(f"could not update job: {error}") from error
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
            raise DependencyUnavailable(f"could not record transfer error: {error}") from error
