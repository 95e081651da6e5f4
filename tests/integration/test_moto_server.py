"""The local moto server keeps DynamoDB's promise that of two conditional writes racing on one item,
exactly one wins: the pacing slots, the create rate and the job state machine rest on it."""

import threading
from typing import Any


def test_of_eight_conditional_writes_racing_on_one_item_exactly_one_wins(aws: Any) -> None:
    dynamodb = aws("dynamodb")
    dynamodb.create_table(
        TableName="race",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    winners_per_race: list[int] = []
    for race in range(20):
        dynamodb.put_item(TableName="race", Item={"pk": {"S": str(race)}, "version": {"N": "0"}})
        winners: list[int] = []
        start = threading.Barrier(8)

        def write(
            racer: int, race: int = race, winners: list[int] = winners, start: threading.Barrier = start
        ) -> None:
            start.wait(timeout=10)
            try:
                dynamodb.update_item(
                    TableName="race",
                    Key={"pk": {"S": str(race)}},
                    UpdateExpression="SET version = :next, winner = :racer",
                    ConditionExpression="version = :read",
                    ExpressionAttributeValues={
                        ":read": {"N": "0"},
                        ":next": {"N": "1"},
                        ":racer": {"N": str(racer)},
                    },
                )
            except dynamodb.exceptions.ConditionalCheckFailedException:
                return
            winners.append(racer)

        threads = [threading.Thread(target=write, args=(racer,)) for racer in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        stored = dynamodb.get_item(TableName="race", Key={"pk": {"S": str(race)}}, ConsistentRead=True)
        assert [int(stored["Item"]["winner"]["N"])] == winners
        winners_per_race.append(len(winners))

    assert winners_per_race == [1] * 20


def with_sort_key(dynamodb: Any, table: str) -> None:
    """A table keyed by ``pk`` and ``sk``, both strings."""
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def _items(dynamodb: Any, table: str) -> dict[tuple[str, str], dict[str, Any]]:
    pages = dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True)
    return {(item["pk"]["S"], item["sk"]["S"]): item for page in pages for item in page["Items"]}


def test_a_canceled_transaction_leaves_every_item_as_it_was_and_a_taken_one_changes_only_its_own(
    aws: Any,
) -> None:
    """The server backs up only the items a transaction names (not the whole table) to roll it back."""
    dynamodb = aws("dynamodb")
    with_sort_key(dynamodb, "ledger")
    for n in range(30):
        dynamodb.put_item(
            TableName="ledger", Item={"pk": {"S": "p"}, "sk": {"S": f"{n:02d}"}, "v": {"N": "0"}}
        )
    before = _items(dynamodb, "ledger")

    def key(sk: str) -> dict[str, Any]:
        return {"pk": {"S": "p"}, "sk": {"S": sk}}

    writes: list[dict[str, Any]] = [
        {
            "Update": {
                "TableName": "ledger",
                "Key": key("00"),
                "UpdateExpression": "SET v = :one",
                "ExpressionAttributeValues": {":one": {"N": "1"}},
            }
        },
        {"Put": {"TableName": "ledger", "Item": {**key("new"), "v": {"N": "7"}}}},
        {"Delete": {"TableName": "ledger", "Key": key("01")}},
    ]
    refused = {
        "ConditionCheck": {
            "TableName": "ledger",
            "Key": key("02"),
            "ConditionExpression": "v = :nine",
            "ExpressionAttributeValues": {":nine": {"N": "9"}},
        }
    }
    twice = {
        "Update": {
            "TableName": "ledger",
            "Key": key("00"),
            "UpdateExpression": "SET w = :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }
    }

    for last in (refused, twice):
        try:
            dynamodb.transact_write_items(TransactItems=[*writes, last])
        except (dynamodb.exceptions.TransactionCanceledException, dynamodb.exceptions.ClientError):
            pass
        else:
            raise AssertionError(f"the transaction ending with {last} was taken")
        assert _items(dynamodb, "ledger") == before

    dynamodb.transact_write_items(TransactItems=writes)

    after = _items(dynamodb, "ledger")
    assert after[("p", "00")]["v"] == {"N": "1"}
    assert after[("p", "new")]["v"] == {"N": "7"}
    assert ("p", "01") not in after
    untouched = {k: v for k, v in before.items() if k[1] not in ("00", "01")}
    assert {k: v for k, v in after.items() if k[1] not in ("00", "01", "new")} == untouched


def test_a_query_of_a_tables_key_reads_its_partition_in_order_page_by_page(aws: Any) -> None:
    """The server reads a Query of the table's own key from that partition alone (not a sort of every
    item); the answer is DynamoDB's: the partition's items in sort key order, either way, by pages."""
    dynamodb = aws("dynamodb")
    with_sort_key(dynamodb, "lines")
    for n in (5, 1, 4, 2, 3):
        for pk in ("a", "b", "c"):
            dynamodb.put_item(TableName="lines", Item={"pk": {"S": pk}, "sk": {"S": f"wait#{n}"}})

    def read(forward: bool, limit: int) -> list[str]:
        found: list[str] = []
        request: dict[str, Any] = {
            "TableName": "lines",
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :wait)",
            "ExpressionAttributeValues": {":pk": {"S": "b"}, ":wait": {"S": "wait#"}},
            "ScanIndexForward": forward,
            "Limit": limit,
        }
        while True:
            page = dynamodb.query(**request)
            found += [f"{item['pk']['S']}/{item['sk']['S']}" for item in page["Items"]]
            if "LastEvaluatedKey" not in page:
                return found
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    in_order = [f"b/wait#{n}" for n in range(1, 6)]
    assert read(True, 2) == in_order
    assert read(False, 3) == in_order[::-1]
    assert (
        dynamodb.query(
            TableName="lines",
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "nobody"}},
        )["Items"]
        == []
    )
