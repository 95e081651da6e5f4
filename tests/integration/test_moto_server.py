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
