"""SpendingLedger on DynamoDB: spending counters and per-job reservations, moved by transactions.

The items live in ``ProviderLimitsTable``, beside each API key's slots and create rate, under keys of
their own (``budget#…``; a provider's partitions are ``<provider>#<key id>``, so they cannot meet).
They are the same kind of thing, a limit held by conditional writes; the functions that reserve,
settle and release already write that table; and a table of its own would add a resource, a setting
and a policy to every function for no separation the keys do not give.

- ``budget#<counter key>`` / ``counter``: ``spent``, ``reserved`` and ``committed`` (their sum), in
  integer micro-dollars. DynamoDB cannot add in a condition, so ``committed`` is kept for it:
  ``spent + reserved + amount <= limit`` is written ``committed <= limit - amount``.
- ``budget#job#<job id>`` / ``reservation``: ``amount`` (micro-dollars), ``counters`` (the keys it was
  reserved on) and ``state``: ``reserved``, then ``spent`` or ``released``.

A reservation is one TransactWriteItems: the job's reservation item, put only if absent, and an
increment of each counter, each conditional on its ceiling. Either all of it happens or none. A
redelivered reserve fails on the first condition; a full counter on its own. Either way the item as
it stood comes back with the cancellation (``ReturnValuesOnConditionCheckFailure``): the reservation
already made, or the counter's figures for the job's error, with no second read. Settling and
releasing are transactions too, conditional on the reservation still being ``reserved``, so only the
first of two moves the counters. DynamoDB cancels a transaction that meets another on the same item
(``TransactionConflict``): those are tried again a few times, then reported as unavailable.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from videojobs.errors import DependencyUnavailable
from videojobs.ports import CeilingReached, Reserved, SpendCounter, SpendReading

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

PREFIX = "budget#"
COUNTER_ITEM = "counter"
RESERVATION_ITEM = "reservation"
#: Counters and reservations are removed by DynamoDB's TTL this long after they were last written:
#: a month's counter outlives its month.
ITEM_TTL_SECONDS = 400 * 24 * 3600
#: Transactions cancelled by a concurrent one on the same item are sent again this many times.
CONFLICT_RETRIES = 5

RESERVED, SPENT, RELEASED = "reserved", "spent", "released"


class DynamoDBSpendingLedger:
    def __init__(
        self, client: DynamoDBClient, table_name: str, *, epoch_seconds: Callable[[], float] = time.time
    ) -> None:
        self._client = client
        self._table = table_name
        self._epoch_seconds = epoch_seconds

    # -- reserve ------------------------------------------------------------------------------------
    def reserve(
        self, job_id: str, amount_micros: int, counters: Sequence[SpendCounter]
    ) -> Reserved | CeilingReached:
        for counter in counters:
            if counter.limit_micros is not None and amount_micros > counter.limit_micros:
                # Over on its own: no condition is needed to know it, and none would catch a new counter.
                return CeilingReached(counter, self.readings([counter.key])[counter.key])
        ttl = {"N": str(int(self._epoch_seconds()) + ITEM_TTL_SECONDS)}
        items: list[TransactWriteItemTypeDef] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        **_reservation_key(job_id),
                        "state": {"S": RESERVED},
                        "amount": {"N": str(amount_micros)},
                        "counters": {"L": [{"S": counter.key} for counter in counters]},
                        "expires_at": ttl,
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            *(self._reserve_on(counter, amount_micros, ttl) for counter in counters),
        ]
        reasons = self._transact(items, "could not reserve the job's budget")
        if reasons is None:
            return Reserved(amount_micros)
        if _failed(reasons[0]):
            held = reasons[0].get("Item") or self._reservation(job_id)
            return Reserved(int(held["amount"]["N"]) if held else amount_micros, already=True)
        counter, reason = next(
            (counter, reason)
            for counter, reason in zip(counters, reasons[1:], strict=True)
            if _failed(reason)
        )
        # The counter as it stood when its condition failed, from the same request.
        return CeilingReached(counter, _reading(reason.get("Item")))

    def _reserve_on(self, counter: SpendCounter, amount_micros: int, ttl: Any) -> TransactWriteItemTypeDef:
        update: dict[str, Any] = {
            "TableName": self._table,
            "Key": _counter_key(counter.key),
            "UpdateExpression": (
                "SET committed = if_not_exists(committed, :zero) + :amount,"
                " reserved = if_not_exists(reserved, :zero) + :amount,"
                " spent = if_not_exists(spent, :zero), expires_at = :ttl"
            ),
            "ExpressionAttributeValues": {
                ":zero": {"N": "0"},
                ":amount": {"N": str(amount_micros)},
                ":ttl": ttl,
            },
        }
        if counter.limit_micros is not None:
            update["ConditionExpression"] = "attribute_not_exists(committed) OR committed <= :room"
            update["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
            update["ExpressionAttributeValues"][":room"] = {"N": str(counter.limit_micros - amount_micros)}
        return {"Update": update}  # type: ignore[typeddict-item]

    # -- settle and release -------------------------------------------------------------------------
    def settle(self, job_id: str) -> bool:
        return self._close(job_id, SPENT, "SET reserved = reserved - :amount, spent = spent + :amount")

    def release(self, job_id: str) -> bool:
        return self._close(
            job_id, RELEASED, "SET reserved = reserved - :amount, committed = committed - :amount"
        )

    def _close(self, job_id: str, state: str, counter_update: str) -> bool:
        held = self._reservation(job_id)
        if held is None or held["state"]["S"] != RESERVED:
            return False
        amount = {"N": held["amount"]["N"]}
        items: list[TransactWriteItemTypeDef] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": _reservation_key(job_id),
                    "UpdateExpression": "SET #state = :state",
                    "ConditionExpression": "#state = :reserved",
                    "ExpressionAttributeNames": {"#state": "state"},
                    "ExpressionAttributeValues": {":state": {"S": state}, ":reserved": {"S": RESERVED}},
                }
            },
        ]
        for key in held["counters"]["L"]:
            items.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": _counter_key(key["S"]),
                        "UpdateExpression": counter_update,
                        "ExpressionAttributeValues": {":amount": amount},
                    }
                }
            )
        return self._transact(items, "could not close the job's budget reservation") is None

    # -- reading ------------------------------------------------------------------------------------
    def readings(self, keys: Sequence[str]) -> Mapping[str, SpendReading]:
        return {key: _reading(self._get(_counter_key(key))) for key in keys}

    def _reservation(self, job_id: str) -> dict[str, Any] | None:
        return self._get(_reservation_key(job_id))

    def _get(self, key: Mapping[str, Any]) -> dict[str, Any] | None:
        try:
            response = self._client.get_item(TableName=self._table, Key=dict(key), ConsistentRead=True)
        except (ClientError, BotoCoreError) as error:
            raise DependencyUnavailable("could not read the spending counters") from error
        return response.get("Item")

    def _transact(
        self, items: list[TransactWriteItemTypeDef], problem: str
    ) -> list[Mapping[str, Any]] | None:
        """None when the transaction went through; each item's cancellation reason (``Code``, and the
        item as it was where its condition failed) when a condition stopped it. Raises
        DependencyUnavailable on anything else."""
        for _ in range(CONFLICT_RETRIES + 1):
            try:
                self._client.transact_write_items(TransactItems=items)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                    raise DependencyUnavailable(problem) from error
                reasons: list[Mapping[str, Any]] = list(error.response.get("CancellationReasons", []))
                if any(_failed(reason) for reason in reasons):
                    return reasons
                continue  # a conflict with a concurrent transaction: try again
            except BotoCoreError as error:
                raise DependencyUnavailable(problem) from error
            return None
        raise DependencyUnavailable(f"{problem}: it kept meeting concurrent writes")


def _failed(reason: Mapping[str, Any]) -> bool:
    return reason.get("Code") == "ConditionalCheckFailed"


def _counter_key(key: str) -> dict[str, Any]:
    return {"pk": {"S": f"{PREFIX}{key}"}, "sk": {"S": COUNTER_ITEM}}


def _reservation_key(job_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"{PREFIX}job#{job_id}"}, "sk": {"S": RESERVATION_ITEM}}


def _reading(item: Mapping[str, Any] | None) -> SpendReading:
    if item is None:
        return SpendReading()
    return SpendReading(
        spent_micros=int(item.get("spent", {"N": "0"})["N"]),
        reserved_micros=int(item.get("reserved", {"N": "0"})["N"]),
    )
