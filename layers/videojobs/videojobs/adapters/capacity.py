"""ProviderCapacity on DynamoDB: each API key's concurrency slots and create rate, as conditional writes.

One partition per (provider, key id). Items in it:

- ``slot#NN``, one per allowed concurrent job: ``holder`` (a job id) and ``lease_until`` (epoch
  seconds). A slot is free when it has no holder or its lease has run out, so a holder that crashed
  is reclaimed without anyone's help. Taking and freeing are conditional on the holder.
- ``rate``: the creates counted in each second of the last minute, one attribute per second
  (``s<epoch second>``: creates granted in it).

Why counters of seconds and not GCRA: a token bucket that lets a burst of the whole limit through and
then one create every 60 s / limit lets the first minute after an idle spell hold almost twice the
limit, and providers count minutes. A sliding log of create times would be exact but grows with the
limit (up to 100,000 a minute, past DynamoDB's item size); sixty-one counters are small at any limit.

A create is granted at time t only if the creates counted in t's second and the sixty seconds before
it are fewer than the limit. The check is one conditional increment of t's own counter: the earlier
seconds no longer change, so their sum, read first, gives the current second's allowance, and
``counter < allowance`` holds atomically however many functions grant at once. Every create in a
closed 60-second window lies in the second of the window's last create or in the sixty before it, and
that last one was granted only after the others were counted, so **no 60-second window, the first
after an idle spell included, holds more than the limit**. The price is at most one second of each
minute's allowance. (Times are the granting functions' clocks, which NTP keeps in step on Lambda.)

Nothing here waits: when no key can take the job, the answer says how long until one might.

A provider's line for a slot is one more partition, ``<provider>#line``, with an item per waiting job:
``wait#<since, epoch ms, zero-padded>#<job id>``, so one Query in sort-key order finds the oldest. The
line is the provider's, not a key's: the job's next acquire tries every key of the pool, so a slot
freed at any key can serve whoever waits longest. A release that frees a slot claims the oldest
unclaimed waiter (a conditional write of ``claimed``) and returns it to be woken; two releases never
claim the same one. The slots themselves stay guarded by their own conditional take: a woken job that
finds its slot taken by another (a job that had not waited, say) joins the line again, in its old
place, and no slot is ever held by two jobs whoever is woken.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from videojobs.errors import DependencyUnavailable
from videojobs.models import ProviderName, SlotWait
from videojobs.ports import CapacityGrant, CapacityUsage, CapacityWait, SlotWaiter
from videojobs.settings import KeyLimits

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

RATE_ITEM = "rate"
#: How long an emptied item lingers before DynamoDB's TTL removes it.
IDLE_ITEM_TTL_SECONDS = 7 * 24 * 3600
#: The window the create rate is counted over, and the sub-windows it is counted in.
RATE_WINDOW_SECONDS = 60
#: The rate item's attribute per second: s<epoch second>.
SECOND_PREFIX = "s"
#: A line item's sort key: wait#<since, epoch ms, 16 digits>#<job id>.
LINE_PREFIX = "wait#"
#: How many places one page of the line reads while looking for an unclaimed one.
LINE_PAGE = 20


@dataclass(frozen=True)
class CreateCounts:
    """A key's creates per second (epoch second -> creates granted in it), as read."""

    per_second: Mapping[int, int]

    @classmethod
    def from_item(cls, item: Mapping[str, Any] | None) -> CreateCounts:
        return cls(
            {
                int(name[len(SECOND_PREFIX) :]): int(value["N"])
                for name, value in (item or {}).items()
                if name.startswith(SECOND_PREFIX) and name[len(SECOND_PREFIX) :].isdigit()
            }
        )

    def allowance(self, now: float, limit: int) -> int:
        """How many creates the current second may count in all, given the sixty seconds before it."""
        current = math.floor(now)
        others = sum(
            count
            for second, count in self.per_second.items()
            if second >= current - RATE_WINDOW_SECONDS and second != current
        )
        return limit - others

    def wait_seconds(self, now: float, limit: int) -> float:
        """0 when a create granted ``now`` keeps every 60-second window within ``limit``; otherwise how
        long until enough of the counted creates have slid out of the window."""
        oldest = math.floor(now) - RATE_WINDOW_SECONDS
        counted = sorted((second, count) for second, count in self.per_second.items() if second >= oldest)
        total = sum(count for _, count in counted)
        if total < limit:
            return 0.0
        for second, count in counted:
            total -= count
            if total < limit:
                # What was counted in ``second`` counts until the clock is past second + the window.
                return max(0.0, second + RATE_WINDOW_SECONDS + 1 - now)
        return 0.0  # not reached: the limit is at least 1

    def expired(self, now: float) -> list[int]:
        """The seconds that no longer count."""
        return [second for second in self.per_second if second < math.floor(now) - RATE_WINDOW_SECONDS]


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

    def acquire(
        self, provider: ProviderName, job_id: str, *, now: datetime, skip_keys: frozenset[str] = frozenset()
    ) -> CapacityGrant | CapacityWait:
        pool = self._pools.get(provider)
        key_ids = [key for key in pool.key_ids if key not in skip_keys] if pool is not None else []
        if pool is None or not key_ids:
            return CapacityWait(seconds=60)
        moment = now.timestamp()
        waits: list[CapacityWait] = []
        for key_id in _in_turn(key_ids, job_id):
            outcome = self._acquire_at_key(provider, key_id, pool.limits, job_id, moment)
            if isinstance(outcome, CapacityGrant):
                return outcome
            waits.append(outcome)
        # Some key is only short of a slot: the job waits in line, and looks again soon in any case.
        return CapacityWait(
            seconds=min(wait.seconds for wait in waits), for_a_slot=any(wait.for_a_slot for wait in waits)
        )

    def release(self, slot: str, job_id: str) -> SlotWaiter | None:
        if not self._free(slot, job_id):
            return None
        provider = slot.partition("#")[0]
        return self.next_in_line(provider) if provider in self._pools else None  # type: ignore[arg-type]

    def _free(self, slot: str, job_id: str) -> bool:
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
                return False  # released already, or reclaimed by another job after its lease ran out
            raise DependencyUnavailable("could not release the provider slot") from error
        except BotoCoreError as error:
            raise DependencyUnavailable("could not release the provider slot") from error
        return True

    # -- the line ---------------------------------------------------------------------------------
    def join_line(self, provider: ProviderName, job_id: str, *, since: datetime) -> None:
        self._call(
            "could not put the job in the line for a slot",
            lambda: self._client.put_item(
                TableName=self._table,
                Item={
                    **_place(provider, job_id, since),
                    "job_id": {"S": job_id},
                    "expires_at": {"N": str(int(since.timestamp()) + IDLE_ITEM_TTL_SECONDS)},
                },
            ),
        )

    def in_line(self, provider: ProviderName, job_id: str, *, since: datetime) -> bool:
        response = self._call(
            "could not read the line for a slot",
            lambda: self._client.get_item(
                TableName=self._table,
                Key=_place(provider, job_id, since),
                ConsistentRead=True,
                ProjectionExpression="sk",
            ),
        )
        return "Item" in response

    def leave_line(self, provider: ProviderName, job_id: str, *, since: datetime) -> None:
        self._call(
            "could not take the job out of the line for a slot",
            lambda: self._client.delete_item(TableName=self._table, Key=_place(provider, job_id, since)),
        )

    def next_in_line(self, provider: ProviderName) -> SlotWaiter | None:
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :wait)",
            "FilterExpression": "attribute_not_exists(claimed)",
            "ExpressionAttributeValues": {":pk": {"S": f"{provider}#line"}, ":wait": {"S": LINE_PREFIX}},
            "ConsistentRead": True,
            "Limit": LINE_PAGE,
        }
        while True:
            page = self._call("could not read the line for a slot", lambda: self._client.query(**query))
            for item in page.get("Items", []):
                if self._claim(item):
                    return _waiter(provider, item)
            if "LastEvaluatedKey" not in page:
                return None
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _claim(self, item: Mapping[str, Any]) -> bool:
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": item["pk"], "sk": item["sk"]},
                UpdateExpression="SET claimed = :yes",
                ConditionExpression="attribute_exists(sk) AND attribute_not_exists(claimed)",
                ExpressionAttributeValues={":yes": {"BOOL": True}},
            )
        except ClientError as error:
            if _condition_failed(error):
                return False  # another release claimed it first, or the job left the line
            raise DependencyUnavailable("could not claim a place in the line for a slot") from error
        except BotoCoreError as error:
            raise DependencyUnavailable("could not claim a place in the line for a slot") from error
        return True

    def _call(self, failure: str, request: Callable[[], Any]) -> Any:
        try:
            return request()
        except (ClientError, BotoCoreError) as error:
            raise DependencyUnavailable(failure) from error

    def usage(self, provider: ProviderName, *, now: datetime) -> CapacityUsage:
        pool = self._pools.get(provider)
        if pool is None:
            return CapacityUsage(
                keys=0, max_concurrent_per_key=0, max_creates_per_minute_per_key=0, slots_in_use=0
            )
        moment = now.timestamp()
        held = sum(
            1
            for key_id in pool.key_ids
            for item in self._partition(f"{provider}#{key_id}")
            if item["sk"]["S"].startswith("slot#") and not _is_free(item, moment)
        )
        return CapacityUsage(
            keys=len(pool.key_ids),
            max_concurrent_per_key=pool.limits.max_concurrent,
            max_creates_per_minute_per_key=pool.limits.max_creates_per_minute,
            slots_in_use=held,
        )

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
            return CapacityWait(seconds=0.0, for_a_slot=True)
        counts = CreateCounts.from_item(next((i for i in items if i["sk"]["S"] == RATE_ITEM), None))
        wait = counts.wait_seconds(now, limits.max_creates_per_minute)
        if wait > 0:
            return CapacityWait(seconds=wait)
        slot = next(
            (slot for slot in _in_turn(free, job_id) if self._take_slot(partition, slot, job_id, now)), None
        )
        if slot is None:
            return CapacityWait(seconds=1.0, for_a_slot=True)  # others took the free slots first
        if self._count_create(partition, counts, now, limits.max_creates_per_minute):
            return CapacityGrant(key_id=key_id, slot=f"{partition}#{slot}")
        # Others used up this second's allowance first. (No hand-off: this key's creates are spent.)
        self._free(f"{partition}#{slot}", job_id)
        counts = CreateCounts.from_item(self._rate_item(partition))
        return CapacityWait(seconds=max(counts.wait_seconds(now, limits.max_creates_per_minute), 0.5))

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

    def _rate_item(self, partition: str) -> dict[str, Any] | None:
        try:
            response = self._client.get_item(
                TableName=self._table,
                Key={"pk": {"S": partition}, "sk": {"S": RATE_ITEM}},
                ConsistentRead=True,
            )
        except (ClientError, BotoCoreError) as error:
            raise DependencyUnavailable("could not read the provider's limits") from error
        return response.get("Item")

    def _count_create(self, partition: str, counts: CreateCounts, now: float, limit: int) -> bool:
        """Count one create in the current second, if the second's allowance has room for it."""
        current = math.floor(now)
        names = {"#now": f"{SECOND_PREFIX}{current}"}
        names.update(
            {f"#old{index}": f"{SECOND_PREFIX}{second}" for index, second in enumerate(counts.expired(now))}
        )
        removes = ", ".join(["tat", *(name for name in names if name != "#now")])  # tat: the old GCRA's
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": partition}, "sk": {"S": RATE_ITEM}},
                UpdateExpression=(
                    f"SET #now = if_not_exists(#now, :zero) + :one, expires_at = :ttl REMOVE {removes}"
                ),
                ConditionExpression="attribute_not_exists(#now) OR #now < :allowance",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={
                    ":zero": {"N": "0"},
                    ":one": {"N": "1"},
                    ":allowance": {"N": str(counts.allowance(now, limit))},
                    ":ttl": {"N": str(current + IDLE_ITEM_TTL_SECONDS)},
                },
            )
        except ClientError as error:
            if _condition_failed(error):
                return False
            raise DependencyUnavailable("could not count the create") from error
        except BotoCoreError as error:
            raise DependencyUnavailable("could not count the create") from error
        return True


def _in_turn(names: Sequence[str], job_id: str) -> list[str]:
    """Every name, starting at one picked by the job id, so that jobs spread over keys and slots
    instead of all racing for the first."""
    start = int(hashlib.sha256(job_id.encode()).hexdigest()[:8], 16) % len(names)
    return [*names[start:], *names[:start]]


def _place(provider: ProviderName, job_id: str, since: datetime) -> dict[str, Any]:
    millis = round(since.timestamp() * 1000)
    return {"pk": {"S": f"{provider}#line"}, "sk": {"S": f"{LINE_PREFIX}{millis:016d}#{job_id}"}}


def _waiter(provider: ProviderName, item: Mapping[str, Any]) -> SlotWaiter:
    millis, _, job_id = item["sk"]["S"][len(LINE_PREFIX) :].partition("#")
    since = datetime.fromtimestamp(int(millis) / 1000, tz=UTC)
    return SlotWaiter(job_id=job_id, wait=SlotWait(provider=provider, since=since, woken=True))


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
