"""The adapters the intake and the submit function add, against the template's resources on moto."""

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from local.aws import ProvisionedStack
from videojobs.adapters.capacity import DynamoDBCapacity, KeyPool
from videojobs.adapters.dynamodb import DynamoDBJobStore
from videojobs.adapters.eventbridge import EventBridgePublisher, job_event
from videojobs.adapters.s3 import S3InputMedia
from videojobs.errors import DependencyUnavailable
from videojobs.models import (
    JOB_SUCCEEDED,
    Job,
    JobRequest,
    JobStatus,
    Notification,
    NotificationStatus,
    S3Location,
)
from videojobs.ports import CapacityGrant, CapacityWait, Lost
from videojobs.settings import KeyLimits

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(aws: Any, aws_resources: ProvisionedStack) -> DynamoDBJobStore:
    return DynamoDBJobStore(aws("dynamodb"), aws_resources.refs["JobsTable"])


def capacity(aws: Any, aws_resources: ProvisionedStack, pools: dict[str, KeyPool]) -> DynamoDBCapacity:
    return DynamoDBCapacity(
        aws("dynamodb"),
        aws_resources.refs["ProviderLimitsTable"],
        pools,
        lease_seconds=600,  # type: ignore[arg-type]
    )


def new_job() -> Job:
    return Job.new(JobRequest(provider="eachlabs", prompt="p"), now=NOW, retention=timedelta(days=1))


def test_a_second_create_with_the_same_id_returns_the_stored_job_and_changes_nothing(
    store: DynamoDBJobStore,
) -> None:
    job = new_job()
    assert store.create_if_absent(job) is None

    again = store.create_if_absent(job.model_copy(update={"status": JobStatus.FAILED}))

    assert again == job
    assert store.get(job.job_id) == job


def test_expect_guards_a_transition_on_a_field_set_unset_or_equal(store: DynamoDBJobStore) -> None:
    job = new_job()
    store.create_if_absent(job)
    sent_at = NOW + timedelta(seconds=3)

    claimed = store.transition(
        job.job_id,
        to=JobStatus.QUEUED,
        allowed_from={JobStatus.QUEUED},
        expect={"create_sent_at": None, "dispatch_attempts": 0},
        changes={"create_sent_at": sent_at, "dispatch_attempts": 1},
        now=NOW,
    )
    lost = store.transition(
        job.job_id,
        to=JobStatus.QUEUED,
        allowed_from={JobStatus.QUEUED},
        expect={"create_sent_at": None},
        changes={"create_sent_at": sent_at},
        now=NOW,
    )
    # The time read back from the store must match itself in a condition.
    assert isinstance(claimed, Job)
    resent = store.transition(
        job.job_id,
        to=JobStatus.QUEUED,
        allowed_from={JobStatus.QUEUED},
        expect={"create_sent_at": claimed.create_sent_at},
        changes={"create_sent_at": None},
        now=NOW,
    )

    assert claimed.create_sent_at == sent_at
    assert lost == Lost(claimed)
    assert isinstance(resent, Job)
    assert resent.create_sent_at is None


def test_a_pending_event_is_cleared_only_if_it_is_still_the_one_published(store: DynamoDBJobStore) -> None:
    job = new_job()
    store.create_if_absent(job.model_copy(update={"pending_event": "Video Job Failed"}))

    store.clear_pending_event(job.job_id, "Video Job Succeeded")
    kept = store.get(job.job_id)
    store.clear_pending_event(job.job_id, "Video Job Failed")
    cleared = store.get(job.job_id)

    assert kept is not None
    assert kept.pending_event == "Video Job Failed"
    assert cleared is not None
    assert cleared.pending_event is None


def test_one_caller_at_a_time_may_publish_a_pending_event(store: DynamoDBJobStore) -> None:
    job = new_job()
    store.create_if_absent(job.model_copy(update={"pending_event": "Video Job Succeeded"}))
    until = NOW + timedelta(seconds=60)

    first = store.claim_pending_event(job.job_id, "Video Job Succeeded", now=NOW, until=until)
    second = store.claim_pending_event(job.job_id, "Video Job Succeeded", now=NOW, until=until)
    other_event = store.claim_pending_event(
        job.job_id, "Video Job Failed", now=NOW + timedelta(hours=1), until=until
    )
    after_expiry = store.claim_pending_event(
        job.job_id, "Video Job Succeeded", now=NOW + timedelta(seconds=61), until=NOW + timedelta(seconds=121)
    )
    store.release_event_claim(job.job_id)
    after_release = store.claim_pending_event(job.job_id, "Video Job Succeeded", now=NOW, until=until)

    assert (first, second, other_event, after_expiry, after_release) == (True, False, False, True, True)


def test_a_notification_is_recorded_on_the_job(store: DynamoDBJobStore) -> None:
    job = new_job()
    store.create_if_absent(job)

    store.record_notification(
        job.job_id,
        Notification(status=NotificationStatus.PENDING, attempts=2, last_error="HTTP 500"),
        now=NOW,
    )
    store.record_notification(
        "missing", Notification(status=NotificationStatus.DELIVERED, attempts=1), now=NOW
    )

    stored = store.get(job.job_id)
    assert stored is not None
    assert stored.notification == Notification(
        status=NotificationStatus.PENDING, attempts=2, last_error="HTTP 500"
    )
    assert store.get("missing") is None


def test_slots_are_limited_per_key_reused_by_their_holder_and_freed_once(
    aws: Any, aws_resources: ProvisionedStack
) -> None:
    limits = capacity(aws, aws_resources, {"eachlabs": KeyPool(["slots-a"], KeyLimits(2, 100))})

    first = limits.acquire("eachlabs", "job-1", now=NOW)
    again = limits.acquire("eachlabs", "job-1", now=NOW)
    second = limits.acquire("eachlabs", "job-2", now=NOW)
    third = limits.acquire("eachlabs", "job-3", now=NOW)

    assert isinstance(first, CapacityGrant)
    assert isinstance(second, CapacityGrant)
    assert again == first
    assert first.slot != second.slot
    assert isinstance(third, CapacityWait)
    limits.release(first.slot, "job-1")
    limits.release(first.slot, "job-1")  # a second release changes nothing
    limits.release(second.slot, "job-1")  # not its holder: changes nothing
    assert isinstance(limits.acquire("eachlabs", "job-3", now=NOW), CapacityGrant)
    assert isinstance(limits.acquire("eachlabs", "job-4", now=NOW), CapacityWait)


def test_a_crashed_holders_slot_is_reclaimed_when_its_lease_runs_out(
    aws: Any, aws_resources: ProvisionedStack
) -> None:
    limits = capacity(aws, aws_resources, {"eachlabs": KeyPool(["lease-a"], KeyLimits(1, 100))})
    held = limits.acquire("eachlabs", "crashed", now=NOW)
    assert isinstance(held, CapacityGrant)

    assert isinstance(limits.acquire("eachlabs", "next", now=NOW + timedelta(seconds=599)), CapacityWait)
    reclaimed = limits.acquire("eachlabs", "next", now=NOW + timedelta(seconds=601))

    assert isinstance(reclaimed, CapacityGrant)
    assert reclaimed.slot == held.slot
    limits.release(held.slot, "crashed")  # the late release of the old holder frees nothing
    assert isinstance(limits.acquire("eachlabs", "third", now=NOW + timedelta(seconds=602)), CapacityWait)


def test_creates_per_minute_never_exceed_the_limit_in_any_minute(
    aws: Any, aws_resources: ProvisionedStack
) -> None:
    limits = capacity(aws, aws_resources, {"eachlabs": KeyPool(["rate-a"], KeyLimits(100, 5))})
    granted: list[CapacityGrant] = []
    waits: list[float] = []

    for index in range(7):
        answer = limits.acquire("eachlabs", f"r-{index}", now=NOW)
        if isinstance(answer, CapacityGrant):
            granted.append(answer)
        else:
            waits.append(answer.seconds)

    assert len(granted) == 5  # the whole minute's allowance, then no more
    assert waits
    assert min(waits) == 61  # the second NOW fell in, and the sixty after it, are used up
    assert isinstance(limits.acquire("eachlabs", "later", now=NOW + timedelta(seconds=60)), CapacityWait)
    assert isinstance(limits.acquire("eachlabs", "later", now=NOW + timedelta(seconds=61)), CapacityGrant)


def test_two_keys_double_the_capacity(aws: Any, aws_resources: ProvisionedStack) -> None:
    limits = capacity(aws, aws_resources, {"eachlabs": KeyPool(["pool-a", "pool-b"], KeyLimits(1, 100))})

    answers = [limits.acquire("eachlabs", f"p-{index}", now=NOW) for index in range(3)]

    grants = [answer for answer in answers if isinstance(answer, CapacityGrant)]
    assert sorted(grant.key_id for grant in grants) == ["pool-a", "pool-b"]
    assert isinstance(answers[2], CapacityWait) or isinstance(answers[1], CapacityWait)


def test_concurrent_acquires_never_hand_out_more_slots_than_the_limit(
    aws: Any, aws_resources: ProvisionedStack
) -> None:
    limits = capacity(aws, aws_resources, {"eachlabs": KeyPool(["race-a"], KeyLimits(3, 1000))})
    answers: list[Any] = []
    start = threading.Barrier(10)

    def take(index: int) -> None:
        start.wait(timeout=10)
        answers.append(limits.acquire("eachlabs", f"race-{index}", now=NOW))

    threads = [threading.Thread(target=take, args=(index,)) for index in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    grants = [answer for answer in answers if isinstance(answer, CapacityGrant)]
    assert len(answers) == 10
    assert 1 <= len(grants) <= 3
    assert len({grant.slot for grant in grants}) == len(grants)


def stored_holders(aws: Any, aws_resources: ProvisionedStack, provider: str, key_id: str) -> dict[str, str]:
    """The slots of one key that name a holder, as the table stores them: slot (as grants name it) -> job."""
    partition = f"{provider}#{key_id}"
    items = aws("dynamodb").query(
        TableName=aws_resources.refs["ProviderLimitsTable"],
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": partition}},
        ConsistentRead=True,
    )["Items"]
    return {
        f"{partition}#{item['sk']['S']}": item["holder"]["S"]
        for item in items
        if item["sk"]["S"].startswith("slot#") and "holder" in item
    }


def race(limits: DynamoDBCapacity, job_ids: list[str]) -> dict[str, CapacityGrant | CapacityWait]:
    """Every job asks for a slot at the same moment, each from its own thread."""
    answers: dict[str, CapacityGrant | CapacityWait] = {}
    start = threading.Barrier(len(job_ids))

    def take(job_id: str) -> None:
        start.wait(timeout=10)
        answers[job_id] = limits.acquire("eachlabs", job_id, now=NOW)

    threads = [threading.Thread(target=take, args=(job_id,)) for job_id in job_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(answers) == len(job_ids)
    return answers


@pytest.mark.parametrize("max_concurrent", [1, 2])
def test_concurrent_acquirers_each_hold_the_slot_they_were_granted_and_no_other(
    aws: Any, aws_resources: ProvisionedStack, max_concurrent: int
) -> None:
    # Given three keys with one or two slots each, and a create rate that never binds
    key_ids = [f"holders-{max_concurrent}-{round_}" for round_ in range(3)]

    # When ten jobs race for each key's slots
    grants: dict[str, dict[str, CapacityGrant]] = {}
    for key_id in key_ids:
        limits = DynamoDBCapacity(
            aws("dynamodb"),  # one request at a time, as DynamoDB orders them (local/moto_server.py)
            aws_resources.refs["ProviderLimitsTable"],
            {"eachlabs": KeyPool([key_id], KeyLimits(max_concurrent, 100_000))},
            lease_seconds=600,
        )
        answers = race(limits, [f"{key_id}-job-{index}" for index in range(10)])
        grants[key_id] = {job: answer for job, answer in answers.items() if isinstance(answer, CapacityGrant)}

    # Then no two grants share a slot, each granted slot still names its grantee, and no other job
    # holds one
    for key_id, granted in grants.items():
        assert 1 <= len(granted) <= max_concurrent
        assert len({grant.slot for grant in granted.values()}) == len(granted)
        assert stored_holders(aws, aws_resources, "eachlabs", key_id) == {
            grant.slot: job for job, grant in granted.items()
        }


def slot_race(
    aws: Any, aws_resources: ProvisionedStack, pool: KeyPool
) -> tuple[DynamoDBCapacity, list[CapacityGrant | CapacityWait]]:
    """Job B, whose client lets job A (asking at NOW) take a slot between B's read and B's write.
    Returns B, and the list that will hold A's answer once B has asked."""
    pools = {"eachlabs": pool}
    job_a = capacity(aws, aws_resources, pools)
    client_b = aws("dynamodb")
    job_b = DynamoDBCapacity(client_b, aws_resources.refs["ProviderLimitsTable"], pools, lease_seconds=600)
    taken_by_a: list[CapacityGrant | CapacityWait] = []

    def a_takes_the_slot_first(params: dict[str, Any], **_: Any) -> None:
        if params["Key"]["sk"]["S"].startswith("slot#") and not taken_by_a:
            taken_by_a.append(job_a.acquire("eachlabs", "job-a", now=NOW))

    client_b.meta.events.register("before-parameter-build.dynamodb.UpdateItem", a_takes_the_slot_first)
    return job_b, taken_by_a


def test_a_slot_held_on_a_live_lease_is_never_taken_by_another_job(
    aws: Any, aws_resources: ProvisionedStack
) -> None:
    # Given one slot, and job B whose client lets job A take it between B's read and B's write
    job_b, taken_by_a = slot_race(aws, aws_resources, KeyPool(["overwrite-a"], KeyLimits(1, 100_000)))

    # When B's write reaches the table after A's, and B asks again while A's lease runs
    raced = job_b.acquire("eachlabs", "job-b", now=NOW)
    later = job_b.acquire("eachlabs", "job-b", now=NOW + timedelta(seconds=300))

    # Then A got the slot, B waits both times, and the slot still names A
    (grant,) = taken_by_a
    assert isinstance(grant, CapacityGrant)
    assert isinstance(raced, CapacityWait)
    assert isinstance(later, CapacityWait)
    assert stored_holders(aws, aws_resources, "eachlabs", "overwrite-a") == {grant.slot: "job-a"}


def test_input_objects_are_described_and_read_only_as_the_notified_version(
    aws: Any, aws_resources: ProvisionedStack
) -> None:
    s3 = aws("s3")
    bucket = aws_resources.refs["InputsBucket"]
    put = s3.put_object(Bucket=bucket, Key="drops/meta.png", Body=b"png", Metadata={"Prompt": "a cat"})
    etag = put["ETag"].strip('"')
    inputs = S3InputMedia(s3)
    location = S3Location(bucket, "drops/meta.png")

    info = inputs.describe(location, etag=etag)
    assert info is not None
    assert info.metadata == {"prompt": "a cat"}
    assert inputs.read(location, etag=etag, max_bytes=10) == b"png"
    assert inputs.describe(location, etag="0" * 32) is None  # replaced since
    assert inputs.read(S3Location(bucket, "drops/none.json"), etag=None, max_bytes=10) is None


def test_a_published_outcome_carries_an_id_that_is_the_same_every_time(
    aws: Any, aws_resources: ProvisionedStack
) -> None:
    publisher = EventBridgePublisher(
        aws("events"), aws_resources.refs["VideoEventsBus"], "seedance.video-pipeline"
    )
    job = new_job()

    first, again = job_event(job, JOB_SUCCEEDED), job_event(job, JOB_SUCCEEDED)
    publisher.job_succeeded(job)  # reaches the real (moto) bus without error

    assert first.event_id == again.event_id
    assert first.event_id != job_event(job, "Video Job Failed").event_id
    assert first.job_id == job.job_id


@pytest.mark.parametrize(
    "answer",
    [
        {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}]},
        "ThrottlingException",
    ],
    ids=["FailedEntryCount-1", "PutEvents-error"],
)
def test_a_partial_or_failed_put_events_is_an_error_the_outbox_retries(answer: Any) -> None:
    client = boto3.client("events", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(client)
    if isinstance(answer, dict):
        stubber.add_response("put_events", answer)
    else:
        stubber.add_client_error("put_events", service_error_code=answer, http_status_code=400)
    publisher = EventBridgePublisher(client, "bus", "seedance.video-pipeline")

    with stubber, pytest.raises(DependencyUnavailable) as raised:
        publisher.job_succeeded(new_job())

    assert "bus" not in str(raised.value).replace("EventBridge", "")  # no endpoint or bus details leak


# -- DynamoDBCapacity: what a redelivered dispatch gets, how long a job waits, what the table keeps --

WEEK = 7 * 24 * 3600
T = int(NOW.timestamp())


def stored_item(aws: Any, aws_resources: ProvisionedStack, partition: str, sort_key: str) -> dict[str, Any]:
    item: dict[str, Any] = aws("dynamodb").get_item(
        TableName=aws_resources.refs["ProviderLimitsTable"],
        Key={"pk": {"S": partition}, "sk": {"S": sort_key}},
        ConsistentRead=True,
    )["Item"]
    return item


def test_a_redelivered_dispatch_renews_the_slot_it_holds_and_takes_no_second_one(
    aws: Any, aws_resources: ProvisionedStack
) -> None:
    from videojobs.adapters.capacity import _in_turn

    # Given a job that holds the slot it tried second, the one it tries first having been busy then
    limits = capacity(aws, aws_resources, {"eachlabs": KeyPool(["renew-a"], KeyLimits(2, 100))})
    occupier = limits.acquire("eachlabs", "occupier", now=NOW)
    assert isinstance(occupier, CapacityGrant)
    job_id = next(
        job_id
        for job_id in (f"renew-{n}" for n in range(20))
        if f"eachlabs#renew-a#{_in_turn(['slot#000', 'slot#001'], job_id)[0]}" == occupier.slot
    )
    held = limits.acquire("eachlabs", job_id, now=NOW)
    assert isinstance(held, CapacityGrant)
    limits.release(occupier.slot, "occupier")

    # When its dispatch message is delivered again, with its first choice free now
    again = limits.acquire("eachlabs", job_id, now=NOW + timedelta(seconds=100))

    # Then it gets the slot it holds, on a lease counted from now, and holds no other
    assert again == held
    assert stored_holders(aws, aws_resources, "eachlabs", "renew-a") == {held.slot: job_id}
    slot = stored_item(aws, aws_resources, "eachlabs#renew-a", held.slot.removeprefix("eachlabs#renew-a#"))
    assert slot["lease_until"] == {"N": str(T + 100 + 600)}


def test_full_slots_answer_soon_and_a_lease_holds_its_slot_through_its_last_second(
    aws: Any, aws_resources: ProvisionedStack
) -> None:
    # Given the key's one slot, held on a lease of 600 s
    limits = capacity(aws, aws_resources, {"eachlabs": KeyPool(["soon-a"], KeyLimits(1, 100))})
    assert isinstance(limits.acquire("eachlabs", "holder", now=NOW), CapacityGrant)

    # When another job asks while the lease runs, and at its last second
    answers = [limits.acquire("eachlabs", "next", now=NOW + timedelta(seconds=s)) for s in (0, 600)]

    # Then it is told to ask again soon (0: when a slot frees nobody knows), not after the create rate's
    # wait or a second's, and the slot is still the holder's
    assert answers == [CapacityWait(seconds=0.0, for_a_slot=True)] * 2
    assert list(stored_holders(aws, aws_resources, "eachlabs", "soon-a").values()) == ["holder"]


def test_a_job_whose_free_slot_another_took_first_asks_again_in_a_second(
    aws: Any, aws_resources: ProvisionedStack
) -> None:
    # Given one free slot, and job B whose client lets job A take it between B's read and B's write
    job_b, taken_by_a = slot_race(aws, aws_resources, KeyPool(["second-a"], KeyLimits(1, 100)))

    # When B's write reaches the table after A's
    raced = job_b.acquire("eachlabs", "job-b", now=NOW)

    # Then B asks again in a second: another slot may free as soon as a job finishes
    assert isinstance(taken_by_a[0], CapacityGrant)
    assert raced == CapacityWait(seconds=1.0, for_a_slot=True)


def race_for_the_last_create(
    aws: Any, aws_resources: ProvisionedStack, key_id: str, limit: int, now: datetime
) -> tuple[CapacityGrant | CapacityWait, CapacityGrant | CapacityWait, list[dict[str, Any]]]:
    """Job B takes a slot, and job A counts the window's last create between B's read and B's count.
    Returns B's answer, A's, and every read B made (its parameters)."""
    pools = {"eachlabs": KeyPool([key_id], KeyLimits(3, limit))}
    job_a = capacity(aws, aws_resources, pools)
    client_b = aws("dynamodb")
    job_b = DynamoDBCapacity(client_b, aws_resources.refs["ProviderLimitsTable"], pools, lease_seconds=600)
    counted_by_a: list[CapacityGrant | CapacityWait] = []
    reads: list[dict[str, Any]] = []

    def a_counts_first(params: dict[str, Any], **_: Any) -> None:
        if params["Key"]["sk"]["S"] == "rate" and not counted_by_a:
            counted_by_a.append(job_a.acquire("eachlabs", "job-a", now=now))

    client_b.meta.events.register("before-parameter-build.dynamodb.UpdateItem", a_counts_first)
    for operation in ("Query", "GetItem"):
        client_b.meta.events.register(
            f"before-parameter-build.dynamodb.{operation}", lambda params, **_: reads.append(dict(params))
        )
    raced = job_b.acquire("eachlabs", "job-b", now=now)
    return raced, counted_by_a[0], reads


def test_a_create_another_job_counted_first_frees_the_slot_and_waits_for_the_window_to_move(
    aws: Any, aws_resources: ProvisionedStack
) -> None:
    # Given one create a minute, and job A granted the minute's create while job B was taking a slot
    raced, grant, _ = race_for_the_last_create(aws, aws_resources, "counted-a", 1, NOW)

    # Then B waits until A's create has left the window (the second NOW is in, and the sixty after
    # it), and holds no slot: only A does
    assert isinstance(grant, CapacityGrant)
    assert raced == CapacityWait(seconds=61.0)
    assert stored_holders(aws, aws_resources, "eachlabs", "counted-a") == {grant.slot: "job-a"}


def test_a_lost_count_waits_at_least_half_a_second(aws: Any, aws_resources: ProvisionedStack) -> None:
    # Given two creates a minute, one counted sixty seconds ago, and job A granted the other while
    # job B was taking a slot, 0.9 s into the second: the old create leaves the window in 0.1 s
    limits = capacity(aws, aws_resources, {"eachlabs": KeyPool(["half-a"], KeyLimits(3, 2))})
    assert isinstance(limits.acquire("eachlabs", "early", now=NOW - timedelta(seconds=60)), CapacityGrant)

    raced, grant, _ = race_for_the_last_create(aws, aws_resources, "half-a", 2, NOW + timedelta(seconds=0.9))

    # Then B asks again in half a second, not at once
    assert isinstance(grant, CapacityGrant)
    assert raced == CapacityWait(seconds=0.5)


def test_the_limits_are_read_with_strongly_consistent_reads(
    aws: Any, aws_resources: ProvisionedStack
) -> None:
    # An eventually consistent read may miss a create counted a moment ago by another function, and
    # grant this second an allowance the window no longer has
    _, _, reads = race_for_the_last_create(aws, aws_resources, "consistent-a", 1, NOW)

    assert len(reads) == 2  # the partition, then the rate item after the lost count
    assert all(read["ConsistentRead"] is True for read in reads)


def test_a_held_slot_and_the_create_counts_stay_in_the_table_a_week_past_their_use(
    aws: Any, aws_resources: ProvisionedStack
) -> None:
    # DynamoDB's TTL deletes an item once its expires_at has passed: a slot deleted while its lease
    # runs, or counts deleted within their minute, would let more jobs through than the key allows
    limits = capacity(aws, aws_resources, {"eachlabs": KeyPool(["ttl-a"], KeyLimits(1, 100))})

    grant = limits.acquire("eachlabs", "job-1", now=NOW)

    assert isinstance(grant, CapacityGrant)
    slot = stored_item(aws, aws_resources, "eachlabs#ttl-a", grant.slot.removeprefix("eachlabs#ttl-a#"))
    assert (slot["lease_until"], slot["expires_at"]) == ({"N": str(T + 600)}, {"N": str(T + 600 + WEEK)})
    assert stored_item(aws, aws_resources, "eachlabs#ttl-a", "rate")["expires_at"] == {"N": str(T + WEEK)}


def test_the_rate_item_keeps_only_the_seconds_that_still_count(
    aws: Any, aws_resources: ProvisionedStack
) -> None:
    # Given a rate item with a second that still counts, one that no longer does, and the attribute
    # the create rate was kept in before it was counted per second
    aws("dynamodb").put_item(
        TableName=aws_resources.refs["ProviderLimitsTable"],
        Item={
            "pk": {"S": "eachlabs#tidy-a"},
            "sk": {"S": "rate"},
            f"s{T - 61}": {"N": "4"},
            f"s{T - 60}": {"N": "1"},
            "tat": {"N": str(T + 5)},
        },
    )
    limits = capacity(aws, aws_resources, {"eachlabs": KeyPool(["tidy-a"], KeyLimits(1, 100))})

    # When a create is counted
    assert isinstance(limits.acquire("eachlabs", "job-1", now=NOW), CapacityGrant)

    # Then the item holds that second and the one that still counts, and nothing else that grows
    item = stored_item(aws, aws_resources, "eachlabs#tidy-a", "rate")
    assert sorted(item) == sorted(["pk", "sk", "expires_at", f"s{T - 60}", f"s{T}"])
    assert item[f"s{T}"] == {"N": "1"}
