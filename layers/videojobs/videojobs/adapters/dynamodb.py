"""JobStore on DynamoDB: one item per job, every status change a conditional update.

GET /jobs reads the table's global secondary indexes (template.yaml, JobsTable), never a Scan. Each
index is keyed by one filter's value and sorted by ``list_created`` (the creation time in epoch
microseconds); ``plan_query`` picks the one index a listing queries and filters the rest. The status
and provider indexes are keyed by the job's own ``status`` and ``provider`` attributes, so the
conditional update that changes a job's status moves it between the status index's partitions in the
same write. The other keys are written once, with the job (``_to_item``), and never change.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from videojobs.errors import DependencyUnavailable, InvalidCursor
from videojobs.models import Job, JobListFilters, JobStatus, Notification, OpenUpload
from videojobs.observability import logger
from videojobs.ports import JobsFound, Lost

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


#: The sort key of every listing index: when the job was created, in epoch microseconds. A number,
#: not the ISO text of ``created_at``, which drops zero microseconds and so does not sort as text.
LIST_SORT_KEY = "list_created"
#: The partition key of JobsByCreation, the index of every job, and its one value.
LIST_ALL_KEY = "list_all"
LIST_ALL_VALUE = "job"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class ListIndex:
    name: str
    #: The filter (a JobListFilters field) whose value is the partition key.
    filter_name: str
    #: The item attribute that holds it.
    partition_key: str


#: Most selective first: a client_reference names about one job, an end user a handful; a status or
#: provider a share of all jobs, an origin most of them. A listing queries the first whose filter it
#: has and filters the rest.
LIST_INDEXES = (
    ListIndex("JobsByClientReference", "client_reference", "list_client_reference"),
    ListIndex("JobsByEndUser", "end_user_id", "list_end_user_id"),
    ListIndex("JobsByStatus", "status", "status"),
    ListIndex("JobsByProvider", "provider", "provider"),
    ListIndex("JobsByOrigin", "origin", "list_origin"),
)
ALL_JOBS_INDEX = ListIndex("JobsByCreation", "", LIST_ALL_KEY)


@dataclass(frozen=True)
class QueryPlan:
    index: ListIndex
    partition_value: str
    #: The other filters, as (item attribute, value), applied by a FilterExpression.
    filtered: tuple[tuple[str, str], ...]
    #: Inclusive bounds on LIST_SORT_KEY, from created_after and created_before (both exclusive).
    lowest: int | None
    highest: int | None

    @property
    def empty(self) -> bool:
        return self.lowest is not None and self.highest is not None and self.lowest > self.highest


def _microseconds(moment: datetime) -> int:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return (aware - _EPOCH) // _MICROSECOND


def plan_query(filters: JobListFilters) -> QueryPlan:
    """Which index a listing with these filters queries, and what it filters on the way."""
    given = {
        index.filter_name: str(value)
        for index in LIST_INDEXES
        if (value := getattr(filters, index.filter_name)) is not None
    }
    chosen = next((index for index in LIST_INDEXES if index.filter_name in given), None)
    filtered = tuple(
        (index.partition_key, given[index.filter_name])
        for index in LIST_INDEXES
        if index is not chosen and index.filter_name in given
    )
    after, before = filters.created_after, filters.created_before
    return QueryPlan(
        index=chosen or ALL_JOBS_INDEX,
        partition_value=given[chosen.filter_name] if chosen else LIST_ALL_VALUE,
        filtered=filtered,
        lowest=_microseconds(after) + 1 if after is not None else None,
        highest=_microseconds(before) - 1 if before is not None else None,
    )


def _list_keys(job: Job) -> dict[str, Any]:
    """The listing indexes' keys, beside the job's own ``status`` and ``provider``. The optional ones
    are left out when unset, so those indexes stay sparse."""
    keys: dict[str, str | int] = {
        LIST_SORT_KEY: _microseconds(job.created_at),
        LIST_ALL_KEY: LIST_ALL_VALUE,
        "list_origin": job.origin.kind,
    }
    if job.request.client_reference is not None:
        keys["list_client_reference"] = job.request.client_reference
    if job.request.end_user_id is not None:
        keys["list_end_user_id"] = job.request.end_user_id
    return {name: _serializer.serialize(value) for name, value in keys.items()}


def _to_item(job: Job) -> dict[str, Any]:
    data = job.model_dump(mode="json", exclude_none=True)
    return {**{key: _to_attribute(value) for key, value in data.items()}, **_list_keys(job)}


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

    def list_jobs(
        self, filters: JobListFilters, *, limit: int, start: Mapping[str, str] | None = None
    ) -> JobsFound:
        """One Query of the index ``plan_query`` picks, newest first. DynamoDB applies ``Limit`` before
        the FilterExpression, so with filters beyond the index's a page may hold fewer than ``limit``
        jobs (none, even) while ``next_position`` says more remain."""
        plan = plan_query(filters)
        if plan.empty:
            return JobsFound(jobs=[], next_position=None)
        names = {"#pk": plan.index.partition_key}
        values: dict[str, Any] = {":pk": {"S": plan.partition_value}}
        key_condition = "#pk = :pk"
        if plan.lowest is not None or plan.highest is not None:
            names["#sk"] = LIST_SORT_KEY
        if plan.lowest is not None and plan.highest is not None:
            values.update({":lo": {"N": str(plan.lowest)}, ":hi": {"N": str(plan.highest)}})
            key_condition += " AND #sk BETWEEN :lo AND :hi"
        elif plan.lowest is not None:
            values[":lo"] = {"N": str(plan.lowest)}
            key_condition += " AND #sk >= :lo"
        elif plan.highest is not None:
            values[":hi"] = {"N": str(plan.highest)}
            key_condition += " AND #sk <= :hi"
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": plan.index.name,
            "KeyConditionExpression": key_condition,
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if plan.filtered:
            conditions = []
            for index, (attribute, value) in enumerate(plan.filtered):
                names[f"#f{index}"] = attribute
                values[f":f{index}"] = {"S": value}
                conditions.append(f"#f{index} = :f{index}")
            request["FilterExpression"] = " AND ".join(conditions)
        if start is not None:
            request["ExclusiveStartKey"] = _start_key(plan.index, start)
        request.update(ExpressionAttributeNames=names, ExpressionAttributeValues=values)
        try:
            response = self._client.query(**request)
        except (ClientError, BotoCoreError) as error:
            raise DependencyUnavailable("could not list the jobs") from error
        last = response.get("LastEvaluatedKey")
        return JobsFound(
            jobs=[_from_item(item) for item in response.get("Items", [])],
            next_position={name: str(_deserializer.deserialize(value)) for name, value in last.items()}
            if last
            else None,
        )

    def record_transfer_error(
        self, job_id: str, message: str, *, code: str, now: datetime, left_open: Sequence[OpenUpload] = ()
    ) -> None:
        update = "SET transfer_error = :message, transfer_error_code = :code, updated_at = :now"
        values: dict[str, Any] = {
            ":message": {"S": message[:1000]},
            ":code": {"S": code},
            ":now": {"S": now.isoformat()},
        }
        if left_open:
            update += ", uploads_left_open = list_append(if_not_exists(uploads_left_open, :none), :left_open)"
            values[":none"] = {"L": []}
            values[":left_open"] = _to_attribute([upload.model_dump() for upload in left_open])
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"job_id": {"S": job_id}},
                UpdateExpression=update,
                ConditionExpression="attribute_exists(job_id)",
                ExpressionAttributeValues=values,
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


def _start_key(index: ListIndex, position: Mapping[str, str]) -> dict[str, Any]:
    """A position this store gave (a LastEvaluatedKey of ``index``) as an ExclusiveStartKey."""
    expected = {"job_id", index.partition_key, LIST_SORT_KEY}
    if set(position) != expected or not str(position[LIST_SORT_KEY]).lstrip("-").isdigit():
        raise InvalidCursor("the cursor does not belong to this listing")
    return {
        name: {"N": str(value)} if name == LIST_SORT_KEY else {"S": str(value)}
        for name, value in position.items()
    }


def _condition_failed(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
