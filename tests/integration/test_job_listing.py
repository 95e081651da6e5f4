"""GET /jobs's store: DynamoDBJobStore.list_jobs against moto over HTTP, on a JobsTable built from
template.yaml (its global secondary indexes included), one table per test so counts are exact."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from local.aws import provision
from local.template import read_application
from videojobs.adapters.dynamodb import DynamoDBJobStore
from videojobs.errors import InvalidCursor
from videojobs.models import EventOrigin, Job, JobListFilters, JobRequest, JobStatus, S3Origin

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(aws: Any, moto_endpoint: str) -> Iterator[DynamoDBJobStore]:
    application = read_application()
    stack = provision(
        {"JobsTable": application.resources["JobsTable"]},
        application.parameters,
        endpoint_url=moto_endpoint,
        stack_name=f"listing-{uuid.uuid4().hex[:8]}",
    )
    yield DynamoDBJobStore(aws("dynamodb"), stack.refs["JobsTable"])
    aws("dynamodb").delete_table(TableName=stack.refs["JobsTable"])


def put(
    store: DynamoDBJobStore,
    *,
    minutes_ago: float,
    provider: str = "eachlabs",
    status: JobStatus = JobStatus.QUEUED,
    origin: Any = None,
    **request: Any,
) -> Job:
    job_request = JobRequest.model_validate({"provider": provider, "prompt": "lighthouse", **request})
    job = Job.new(
        job_request, now=NOW - timedelta(minutes=minutes_ago), retention=timedelta(days=30), origin=origin
    )
    job = job.model_copy(update={"status": status})
    assert store.create_if_absent(job) is None
    return job


def ids(jobs: list[Job]) -> list[str]:
    return [job.job_id for job in jobs]


def listed(store: DynamoDBJobStore, limit: int = 100, **filters: Any) -> list[str]:
    return ids(store.list_jobs(JobListFilters.model_validate(filters), limit=limit).jobs)


def test_every_job_newest_first_comes_whole(store: DynamoDBJobStore) -> None:
    jobs = [put(store, minutes_ago=minutes, seed=minutes) for minutes in (5, 50, 1, 20)]

    found = store.list_jobs(JobListFilters(), limit=10)

    assert found.jobs == sorted(jobs, key=lambda job: job.created_at, reverse=True)
    assert found.next_position is None


def test_each_filter_reads_its_own_index(store: DynamoDBJobStore) -> None:
    plain = put(store, minutes_ago=1)
    fal = put(store, minutes_ago=2, provider="fal")
    failed = put(store, minutes_ago=3, status=JobStatus.FAILED)
    referenced = put(store, minutes_ago=4, client_reference="order-7")
    users = put(store, minutes_ago=5, end_user_id="user-42")
    dropped = put(store, minutes_ago=6, origin=S3Origin(bucket="in", key="drops/a.json", etag="e"))
    requested = put(store, minutes_ago=7, origin=EventOrigin(event_id="ev-1", source="com.example"))

    assert listed(store, status="failed") == [failed.job_id]
    assert listed(store, status="queued") == ids([plain, fal, referenced, users, dropped, requested])
    assert listed(store, provider="fal") == [fal.job_id]
    assert listed(store, client_reference="order-7") == [referenced.job_id]
    assert listed(store, client_reference="order-") == []
    assert listed(store, end_user_id="user-42") == [users.job_id]
    assert listed(store, origin="s3") == [dropped.job_id]
    assert listed(store, origin="event") == [requested.job_id]
    assert listed(store, origin="http") == ids([plain, fal, failed, referenced, users])


def test_filters_combine_with_each_other_and_the_time_range(store: DynamoDBJobStore) -> None:
    match = put(store, minutes_ago=10, provider="fal", end_user_id="user-42")
    put(store, minutes_ago=11, provider="eachlabs", end_user_id="user-42")
    put(store, minutes_ago=12, provider="fal", end_user_id="user-42", status=JobStatus.FAILED)
    too_old = put(store, minutes_ago=90, provider="fal", end_user_id="user-42")

    assert listed(store, end_user_id="user-42", provider="fal", status="queued") == ids([match, too_old])
    within = {"created_after": NOW - timedelta(hours=1), "created_before": NOW}
    assert listed(store, end_user_id="user-42", provider="fal", status="queued", **within) == [match.job_id]
    assert listed(store, provider="fal", created_before=NOW - timedelta(hours=1)) == [too_old.job_id]


def test_the_time_range_excludes_both_of_its_ends(store: DynamoDBJobStore) -> None:
    first, middle, last = (put(store, minutes_ago=minutes) for minutes in (30, 20, 10))

    between = listed(store, created_after=first.created_at, created_before=last.created_at)
    after_first = listed(store, created_after=first.created_at)
    before_last = listed(store, created_before=last.created_at)
    # The same moment as middle's creation, written with another offset.
    middle_in_paris = middle.created_at.astimezone(timezone(timedelta(hours=1)))
    before_middle = listed(store, created_before=middle_in_paris)

    assert between == [middle.job_id]
    assert after_first == ids([last, middle])
    assert before_last == ids([middle, first])
    assert before_middle == [first.job_id]


def test_pages_follow_each_other_without_gaps_or_repeats(store: DynamoDBJobStore) -> None:
    # Two jobs share a creation time: the position (the index key and the job id) still tells them apart.
    jobs = [put(store, minutes_ago=minutes, provider="fal") for minutes in (1, 2, 3, 3, 4, 5, 6)]
    created = {job.job_id: job.created_at for job in jobs}

    seen: list[str] = []
    start = None
    pages = 0
    while True:
        found = store.list_jobs(JobListFilters(provider="fal"), limit=3, start=start)
        assert len(found.jobs) <= 3
        seen += ids(found.jobs)
        pages += 1
        if found.next_position is None:
            break
        start = found.next_position

    assert sorted(seen) == sorted(created)
    assert len(seen) == len(set(seen))
    assert [created[job_id] for job_id in seen] == sorted(created.values(), reverse=True)
    assert pages == 3


def test_a_filtered_page_may_be_short_while_more_remain(store: DynamoDBJobStore) -> None:
    # provider and origin: the provider index is read and origin filtered, and DynamoDB's Limit
    # counts the jobs it read, not the ones that matched.
    for minutes in range(1, 6):
        put(store, minutes_ago=minutes, provider="fal")
    dropped = put(
        store, minutes_ago=9, provider="fal", origin=S3Origin(bucket="in", key="drops/a.json", etag="e")
    )
    filters = JobListFilters(provider="fal", origin="s3")

    first = store.list_jobs(filters, limit=4)
    second = store.list_jobs(filters, limit=4, start=first.next_position)

    assert first.jobs == []
    assert first.next_position is not None
    assert ids(second.jobs) == [dropped.job_id]
    # Fewer read than the limit: the index is done (a page that reads exactly the limit can still
    # carry a position to an empty page; DynamoDB does not look ahead).
    assert second.next_position is None


def test_a_status_change_moves_the_job_between_status_partitions(store: DynamoDBJobStore) -> None:
    job = put(store, minutes_ago=1)
    assert listed(store, status="queued") == [job.job_id]

    moved = store.transition(
        job.job_id,
        to=JobStatus.SUBMITTED,
        allowed_from={JobStatus.QUEUED},
        now=NOW,
        changes={"provider_job_id": "p-1"},
    )

    assert isinstance(moved, Job)
    assert listed(store, status="queued") == []
    assert listed(store, status="submitted") == [job.job_id]
    # The other indexes still hold it once, with its new status.
    assert [found.status for found in store.list_jobs(JobListFilters(provider="eachlabs"), limit=5).jobs] == [
        JobStatus.SUBMITTED
    ]


def test_the_optional_indexes_are_sparse(store: DynamoDBJobStore, aws: Any) -> None:
    put(store, minutes_ago=1)
    put(store, minutes_ago=2, client_reference="ref-1")
    table = store._table  # noqa: SLF001 - the index sizes are what this test is about

    def index_count(name: str) -> int:
        return int(aws("dynamodb").scan(TableName=table, IndexName=name, Select="COUNT")["Count"])

    assert index_count("JobsByClientReference") == 1
    assert index_count("JobsByEndUser") == 0
    assert index_count("JobsByCreation") == 2


def test_a_position_of_another_index_is_refused(store: DynamoDBJobStore) -> None:
    for minutes in range(3):
        put(store, minutes_ago=minutes, provider="fal")
    position = store.list_jobs(JobListFilters(provider="fal"), limit=1).next_position
    assert position is not None

    with pytest.raises(InvalidCursor):
        store.list_jobs(JobListFilters(status=JobStatus.QUEUED), limit=1, start=position)
