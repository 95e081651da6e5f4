"""ProviderHealth on DynamoDB: a circuit breaker per provider and a bench per API key, as conditional
writes that every function container shares.

The item lives in ``ProviderLimitsTable``, beside each key's slots and create rate and the budget's
counters: ``pk`` ``health#<provider>``, ``sk`` ``breaker``. A provider's capacity partitions are
``<provider>#<key id>`` and the budget's ``budget#…``, so none can meet it. Its attributes:

- ``failures``: consecutive failed creates, counted since the last success;
- ``state``: ``closed``, ``open`` or ``half_open`` (absent: closed, as is no item at all);
- ``open_until`` (epoch seconds): while open, when the breaker lets its one probe through;
- ``probe_holder`` (a job id) and ``probe_until`` (epoch seconds): while half-open, the job holding
  the probe and the end of its lease; a probe whose job crashed is taken over when its lease runs out;
- ``bench#<key id>`` (epoch seconds): the key stays out of use until then;
- ``expires_at``: DynamoDB's TTL, a week after the last failure or bench. A breaker nobody has
  written for a week is closed and clean, which is what no item means.

Why each write is atomic:

- A failure is counted by ``ADD failures 1``, which returns the count it made: two failures at once
  count two. The one that finds the threshold reached (or the breaker half-open) opens the breaker
  with a write conditioned on the state it read (closed at the threshold, or the very probe lease it
  saw), so of many failures at once **exactly one opens it**, and a stale one cannot reopen a breaker
  that has since been closed or handed to a new probe.
- The probe is taken by a write conditioned on the breaker still being open and due (or half-open
  with its lease run out): the first such write moves it out of that state, so of many dispatches
  that find it due **exactly one is admitted**. The others get the breaker as it then stood with the
  failed condition (``ReturnValuesOnConditionCheckFailure``), with no second read.
- A success closes the breaker with one write conditioned on there being something to forget; a
  clean breaker costs no write, and only the write that found it open or half-open reports closing it.
- A bench is one attribute of its own, set outright: benching one key does not touch the others.

Times are epoch seconds, whole: the clocks of the calling functions, which NTP keeps in step on Lambda.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from videojobs.errors import DependencyUnavailable
from videojobs.models import BreakerState, ProviderName
from videojobs.ports import Admitted, BreakerOpen, HealthReading

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PREFIX = "health#"
BREAKER_ITEM = "breaker"
BENCH_PREFIX = "bench#"
#: How long the item lingers after its last failure or bench before DynamoDB's TTL removes it.
IDLE_ITEM_TTL_SECONDS = 7 * 24 * 3600
#: Tries at taking a due probe: a lost race hands back the breaker as it stood, which is decided again.
PROBE_ATTEMPTS = 3


@dataclass(frozen=True)
class _Breaker:
    """The breaker item as read (no item: closed and clean)."""

    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    open_until: int = 0
    probe_holder: str | None = None
    probe_until: int = 0
    benched: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_item(cls, item: Mapping[str, Any] | None) -> _Breaker:
        if not item:
            return cls()
        return cls(
            state=BreakerState(item["state"]["S"]) if "state" in item else BreakerState.CLOSED,
            failures=_number(item, "failures"),
            open_until=_number(item, "open_until"),
            probe_holder=item["probe_holder"]["S"] if "probe_holder" in item else None,
            probe_until=_number(item, "probe_until"),
            benched={
                name[len(BENCH_PREFIX) :]: int(value["N"])
                for name, value in item.items()
                if name.startswith(BENCH_PREFIX)
            },
        )

    def benched_at(self, now: float) -> dict[str, int]:
        return {key_id: until for key_id, until in self.benched.items() if until > now}


class DynamoDBProviderHealth:
    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        failure_threshold: int,
        open_seconds: int,
        probe_lease_seconds: int,
    ) -> None:
        self._client = client
        self._table = table_name
        self._threshold = failure_threshold
        self._open_seconds = open_seconds
        self._probe_lease_seconds = probe_lease_seconds

    # -- admit --------------------------------------------------------------------------------------
    def admit(self, provider: ProviderName, job_id: str, *, now: datetime) -> Admitted | BreakerOpen:
        moment = now.timestamp()
        breaker = self._read(provider)
        for _ in range(PROBE_ATTEMPTS):
            benched = frozenset(breaker.benched_at(moment))
            if breaker.state is BreakerState.CLOSED:
                return Admitted(benched_keys=benched, probe=False, clean=breaker.failures == 0)
            if breaker.state is BreakerState.OPEN and moment < breaker.open_until:
                return BreakerOpen(seconds=breaker.open_until - moment)
            if breaker.state is BreakerState.HALF_OPEN:
                if breaker.probe_holder == job_id:
                    return Admitted(benched_keys=benched, probe=True, clean=False)  # a redelivery
                if breaker.probe_until >= math.floor(moment):
                    # Its answer may come any moment (the lease only covers a probe that dies).
                    return BreakerOpen(seconds=1.0)
            # Open and due, or half-open with its probe's lease run out: try to take the probe.
            lost_to = self._take_probe(provider, breaker.state, job_id, math.floor(moment))
            if lost_to is None:
                return Admitted(benched_keys=benched, probe=True, clean=False)
            breaker = lost_to
        return BreakerOpen(seconds=1.0)  # the breaker kept changing under us: look again soon

    def _take_probe(
        self, provider: ProviderName, state: BreakerState, job_id: str, now: int
    ) -> _Breaker | None:
        """None when ``job_id`` took the probe; otherwise the breaker as it stood when it lost."""
        values: dict[str, Any] = {
            ":half_open": {"S": BreakerState.HALF_OPEN.value},
            ":job": {"S": job_id},
            ":lease": {"N": str(now + self._probe_lease_seconds)},
            ":now": {"N": str(now)},
        }
        if state is BreakerState.OPEN:
            condition = "#state = :open AND open_until <= :now"
            values[":open"] = {"S": BreakerState.OPEN.value}
        else:
            condition = "#state = :half_open AND probe_until < :now"
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_key(provider),
                UpdateExpression=(
                    "SET #state = :half_open, probe_holder = :job, probe_until = :lease REMOVE open_until"
                ),
                ConditionExpression=condition,
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if _condition_failed(error):
                current: Mapping[str, Any] | None = error.response.get("Item")  # type: ignore[assignment]
                return _Breaker.from_item(current) if current is not None else self._read(provider)
            raise DependencyUnavailable("could not take the provider's probe") from error
        except BotoCoreError as error:
            raise DependencyUnavailable("could not take the provider's probe") from error
        return None

    # -- failures and successes ---------------------------------------------------------------------
    def record_failure(self, provider: ProviderName, *, now: datetime) -> bool:
        moment = math.floor(now.timestamp())
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=_key(provider),
                UpdateExpression="ADD failures :one SET expires_at = :ttl",
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":ttl": {"N": str(moment + IDLE_ITEM_TTL_SECONDS)},
                },
                ReturnValues="ALL_NEW",
            )
        except (ClientError, BotoCoreError) as error:
            raise DependencyUnavailable("could not count the provider's failure") from error
        breaker = _Breaker.from_item(response.get("Attributes"))
        if breaker.state is BreakerState.CLOSED and breaker.failures >= self._threshold:
            # Still closed, and still at the threshold: a success in between resets the count.
            return self._open(
                provider,
                moment,
                "(attribute_not_exists(#state) OR #state = :closed) AND failures >= :threshold",
                {
                    ":closed": {"S": BreakerState.CLOSED.value},
                    ":threshold": {"N": str(self._threshold)},
                },
            )
        if breaker.state is BreakerState.HALF_OPEN:
            # Still the same probe's lease: not one taken since by another job.
            return self._open(
                provider,
                moment,
                "#state = :half_open AND probe_holder = :holder AND probe_until = :until",
                {
                    ":half_open": {"S": BreakerState.HALF_OPEN.value},
                    ":holder": {"S": breaker.probe_holder or ""},
                    ":until": {"N": str(breaker.probe_until)},
                },
            )
        return False  # counted: below the threshold, or already open

    def _open(self, provider: ProviderName, now: int, condition: str, values: Mapping[str, Any]) -> bool:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_key(provider),
                UpdateExpression=(
                    "SET #state = :open, open_until = :open_until, expires_at = :ttl"
                    " REMOVE probe_holder, probe_until"
                ),
                ConditionExpression=condition,
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={
                    **values,
                    ":open": {"S": BreakerState.OPEN.value},
                    ":open_until": {"N": str(now + self._open_seconds)},
                    ":ttl": {"N": str(now + IDLE_ITEM_TTL_SECONDS)},
                },
            )
        except ClientError as error:
            if _condition_failed(error):
                return False  # another failure opened it first, or a success closed it
            raise DependencyUnavailable("could not open the provider's breaker") from error
        except BotoCoreError as error:
            raise DependencyUnavailable("could not open the provider's breaker") from error
        return True

    def record_success(self, provider: ProviderName) -> bool:
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=_key(provider),
                UpdateExpression=(
                    "SET #state = :closed, failures = :zero REMOVE open_until, probe_holder, probe_until"
                ),
                ConditionExpression="failures > :zero OR (attribute_exists(#state) AND #state <> :closed)",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={
                    ":closed": {"S": BreakerState.CLOSED.value},
                    ":zero": {"N": "0"},
                },
                ReturnValues="ALL_OLD",
            )
        except ClientError as error:
            if _condition_failed(error):
                return False  # closed and clean already: nothing written
            raise DependencyUnavailable("could not close the provider's breaker") from error
        except BotoCoreError as error:
            raise DependencyUnavailable("could not close the provider's breaker") from error
        was = _Breaker.from_item(response.get("Attributes"))
        return was.state is not BreakerState.CLOSED

    # -- benches ------------------------------------------------------------------------------------
    def bench_key(self, provider: ProviderName, key_id: str, *, until: datetime) -> None:
        end = math.ceil(until.timestamp())
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_key(provider),
                UpdateExpression="SET #bench = :until, expires_at = :ttl",
                ExpressionAttributeNames={"#bench": f"{BENCH_PREFIX}{key_id}"},
                ExpressionAttributeValues={
                    ":until": {"N": str(end)},
                    ":ttl": {"N": str(end + IDLE_ITEM_TTL_SECONDS)},
                },
            )
        except (ClientError, BotoCoreError) as error:
            raise DependencyUnavailable("could not bench the provider's key") from error

    # -- reading ------------------------------------------------------------------------------------
    def reading(self, provider: ProviderName, *, now: datetime) -> HealthReading:
        breaker = self._read(provider)
        return HealthReading(
            state=breaker.state,
            consecutive_failures=breaker.failures,
            open_until=(
                datetime.fromtimestamp(breaker.open_until, UTC)
                if breaker.state is BreakerState.OPEN
                else None
            ),
            benched_until={
                key_id: datetime.fromtimestamp(until, UTC)
                for key_id, until in breaker.benched_at(now.timestamp()).items()
            },
        )

    def _read(self, provider: ProviderName) -> _Breaker:
        try:
            response = self._client.get_item(TableName=self._table, Key=_key(provider), ConsistentRead=True)
        except (ClientError, BotoCoreError) as error:
            raise DependencyUnavailable("could not read the provider's health") from error
        return _Breaker.from_item(response.get("Item"))


def _key(provider: ProviderName) -> dict[str, Any]:
    return {"pk": {"S": f"{PREFIX}{provider}"}, "sk": {"S": BREAKER_ITEM}}


def _number(item: Mapping[str, Any], name: str) -> int:
    value = item.get(name)
    return int(value["N"]) if value else 0


def _condition_failed(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
