"""ProviderCapacity on DynamoDB: each API key's concurrency slots and create rate, as conditional writes.

One partition per (provider, key id). Items in it:

- ``slot#NN``, one per allowed concurrent job: ``holder`` (a job id) and ``lease_until`` (epoch
  seconds). A slot is free when it has no holder or its lease has run out, so a holder that crashed
  is reclaimed without anyone's help. Taking and freeing are conditional on the holder.
- ``rate``: ``tat``, the theoretical arrival time of the generic cell rate algorithm (GCRA). With an
  emission interval T = 60 s / limit and a tolerance of (limit - 1) x T, no 60-second window ever
  holds more than ``limit`` creates, and a burst of up to ``limit`` goes out at once.

Nothing here waits: when no key can take the job, the answer says how long until one might.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from videojobs.errors import DependencyUnavailable
from videojobs.models import ProviderName
from videojobs.ports import CapacityGrant, CapacityWait
from videojobs.settings import KeyLimits

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

RATE_ITEM = "rate"
#: How long an emptied item lingers before DynamoDB's TTL removes it.
IDLE_ITEM_TTL_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class KeyPool:
    """A provider's API keys (by key id) and the limits each one has."""

    key_ids: Sequence[str]
    limits: KeyLimits


def slot_name(provider: ProviderName, key_id: str, index: int) -> str:
    return f"{provider}#{key_id}#slot#{index:03d}"


class DynamoDBCapacity:
    """``CapacityWait.seconds`` is exact for the create rate, and 0 ("soon") when only slots are full."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        pools: Mapping[ProviderName, KeyPool],
        *,
        lease_seconds: int,
    ) -> None:
        self._client = client
        self._table = table_name
        self._pools = pools
        self._lease_seconds = lease_seconds

    def acquire(self, provider: ProviderName, job_id: str, *, now: datetime) -> CapacityGrant | CapacityWait:
        pool = self._pools.get(provider)
        if pool is None or not pool.key_ids:
            return CapacityWait(seconds=60)
        moment = now.timestamp()
        waits: list[float] = []
        for key_id in _keys_in_turn(pool.key_ids, job_id):
            outcome = self._acquire_at_key(provider, key_id, pool.limits, job_id, moment)
            if isinstance(outcome, CapacityGrant):
                return outcome
            waits.append(outcome.seconds)
        return CapacityWait(seconds=min(waits))

    def release(self, slot: str, job_id: str) -> None:
        partition, _, sort_key = slot.rpartition("#slot#")
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": partition}, "sk": {"S": f"slot#{sort_key}"}},
                UpdateExpression="REMOVE holder, lease_until",
                ConditionExpression="holder = :job",
                ExpressionAttributeValues={":job": {"S": job_id}},
            )
        except ClientError as error:
            if _condition_failed(error):
                return  # released already, or reclaimed by another job after its lease ran out
            raise DependencyUnavailable("could not release the provider slot") from error
        except BotoCoreError as error:
            raise DependencyUnavailable("could not release the provider slot") from error

    # -- one key ------------------------------------------------------------------------------------
    def _acquire_at_key(
        self, provider: ProviderName, key_id: str, limits: KeyLimits, job_id: str, now: float
    ) -> CapacityGrant | CapacityWait:
        partition = f"{provider}#{key_id}"
        items = self._partition(partition)
        slots = {item["sk"]["S"]: item for item in items if item["sk"]["S"].startswith("slot#")}
        held = [name for name, item in slots.items() if _holder(item) == job_id]
        if held and self._take_slot(partition, held[0], job_id, now):
            # A redelivered dispatch of a job that took a slot and then crashed: the same slot, its
            # lease renewed, and its create already counted.
            return CapacityGrant(key_id=key_id, slot=f"{partition}#{held[0]}")
        free = [
            f"slot#{index:03d}"
            for index in range(limits.max_concurrent)
            if _is_free(slots.get(f"slot#{index:03d}"), now)
        ]
        if not free:
            # A slot frees when its job leaves the provider, at a time nobody knows: ask again soon.
            return CapacityWait(seconds=0.0)
        rate = next((item for item in items if item["sk"]["S"] == RATE_ITEM), None)
        tat = float(rate["tat"]["N"]) if rate else None
        interval = 60.0 / limits.max_creates_per_minute
        tolerance = (limits.max_creates_per_minute - 1) * interval
        earliest = max(tat or now, now)
        if earliest - now > tolerance:
            return CapacityWait(seconds=max(0.5, earliest - now - tolerance))
        for slot in free:
            if self._take_slot(partition, slot, job_id, now):
                break
        else:
            return CapacityWait(seconds=1.0)  # others took the free slots first
        if not self._count_create(partition, previous_tat=tat, new_tat=earliest + interval):
            self.release(f"{partition}#{slot}", job_id)
            return CapacityWait(seconds=interval)
        return CapacityGrant(key_id=key_id, slot=f"{partition}#{slot}")

    def _partition(self, partition: str) -> list[dict[str, Any]]:
        try:
            response = self._client.query(
                TableName=self._table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": partition}},
                ConsistentRead=True,
            )
        except (ClientError, BotoCoreError) as error:
            raise DependencyUnavailable("could not read the provider's limits") from error
        return list(response.get("Items", []))

    def _take_slot(self, partition: str, slot: str, job_id: str, now: float) -> bool:
        lease_until = int(now) + self._lease_seconds
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": partition}, "sk": {"S": slot}},
                UpdateExpression="SET holder = :job, lease_until = :lease, expires_at = :ttl",
                ConditionExpression="attribute_not_exists(holder) OR lease_until < :now OR holder = :job",
                ExpressionAttributeValues={
                    ":job": {"S": job_id},
                    ":lease": {"N": str(lease_until)},
                    ":ttl": {"N": str(lease_until + IDLE_ITEM_TTL_SECONDS)},
                    ":now": {"N": str(int(now))},
                },
            )
        except ClientError as error:
            if _condition_failed(error):
                return False
            raise DependencyUnavailable("could not take a provider slot") from error
        except BotoCoreError as error:
            raise DependencyUnavailable("could not take a provider slot") from error
        return True

    def _count_create(self, partition: str, *, previous_tat: float | None, new_tat: float) -> bool:
        values: dict[str, Any] = {
            ":tat": {"N": str(Decimal(str(round(new_tat, 3))))},
            ":ttl": {"N": str(int(new_tat) + IDLE_ITEM_TTL_SECONDS)},
        }
        if previous_tat is None:
            condition = "attribute_not_exists(tat)"
        else:
            condition = "tat = :previous"
            values[":previous"] = {"N": str(Decimal(str(round(previous_tat, 3))))}
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": partition}, "sk": {"S": RATE_ITEM}},
                UpdateExpression="SET tat = :tat, expires_at = :ttl",
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if _condition_failed(error):
                return False  # another create counted first: look again
            raise DependencyUnavailable("could not count the create") from error
        except BotoCoreError as error:
            raise DependencyUnavailable("could not count the create") from error
        return True


def _keys_in_turn(key_ids: Sequence[str], job_id: str) -> list[str]:
    """Every key, starting at one picked by the job id, so jobs spread over the pool."""
    start = int(hashlib.sha256(job_id.encode()).hexdigest()[:8], 16) % len(key_ids)
    return [*key_ids[start:], *key_ids[:start]]


def _holder(item: Mapping[str, Any]) -> str | None:
    holder = item.get("holder")
    return holder["S"] if holder else None


def _lease_until(item: Mapping[str, Any]) -> float:
    lease = item.get("lease_until")
    return float(lease["N"]) if lease else 0.0


def _is_free(item: Mapping[str, Any] | None, now: float) -> bool:
    return item is None or _holder(item) is None or _lease_until(item) < now


def _condition_failed(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
