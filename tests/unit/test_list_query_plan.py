"""Which JobsTable index a GET /jobs listing queries, and what it filters on the way."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from videojobs.adapters.dynamodb import LIST_INDEXES, plan_query
from videojobs.models import JobListFilters, JobStatus

ALL = {
    "status": JobStatus.PROCESSING,
    "provider": "fal",
    "client_reference": "order-7",
    "end_user_id": "user-42",
    "origin": "s3",
}


@pytest.mark.parametrize(
    ("given", "index", "partition", "filtered"),
    [
        ({}, "JobsByCreation", "job", ()),
        ({"status": JobStatus.QUEUED}, "JobsByStatus", "queued", ()),
        ({"provider": "fal"}, "JobsByProvider", "fal", ()),
        ({"client_reference": "order-7"}, "JobsByClientReference", "order-7", ()),
        ({"end_user_id": "user-42"}, "JobsByEndUser", "user-42", ()),
        ({"origin": "event"}, "JobsByOrigin", "event", ()),
        (
            {"status": JobStatus.FAILED, "provider": "fal"},
            "JobsByStatus",
            "failed",
            (("provider", "fal"),),
        ),
        ({"provider": "fal", "origin": "http"}, "JobsByProvider", "fal", (("list_origin", "http"),)),
        (
            {"end_user_id": "user-42", "status": JobStatus.QUEUED},
            "JobsByEndUser",
            "user-42",
            (("status", "queued"),),
        ),
        (
            ALL,
            "JobsByClientReference",
            "order-7",
            (
                ("list_end_user_id", "user-42"),
                ("status", "processing"),
                ("provider", "fal"),
                ("list_origin", "s3"),
            ),
        ),
    ],
)
def test_the_most_selective_filter_picks_the_index_and_the_rest_are_filtered(
    given: dict[str, object], index: str, partition: str, filtered: tuple[tuple[str, str], ...]
) -> None:
    plan = plan_query(JobListFilters.model_validate(given))

    assert (plan.index.name, plan.partition_value, plan.filtered) == (index, partition, filtered)


def test_every_filter_but_the_time_range_has_an_index() -> None:
    indexed = {index.filter_name for index in LIST_INDEXES}

    assert indexed == set(JobListFilters.model_fields) - {"created_after", "created_before"}


def test_the_time_range_is_exclusive_at_both_ends_to_the_microsecond() -> None:
    after = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    before = after + timedelta(hours=1)

    plan = plan_query(JobListFilters(created_after=after, created_before=before))

    assert plan.index.name == "JobsByCreation"
    assert plan.lowest == int(after.timestamp()) * 1_000_000 + 1
    assert plan.highest == int(before.timestamp()) * 1_000_000 - 1
    assert not plan.empty


def test_offsets_are_read_as_the_moment_they_name() -> None:
    paris = timezone(timedelta(hours=1))

    in_paris = plan_query(JobListFilters(created_after=datetime(2026, 11, 24, 13, 0, tzinfo=paris)))
    in_utc = plan_query(JobListFilters(created_after=datetime(2026, 11, 24, 12, 0, tzinfo=UTC)))

    assert in_paris.lowest == in_utc.lowest


@pytest.mark.parametrize("gap", [timedelta(0), timedelta(microseconds=1), -timedelta(days=1)])
def test_a_range_with_no_moment_inside_is_empty_without_a_query(gap: timedelta) -> None:
    after = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

    assert plan_query(JobListFilters(created_after=after, created_before=after + gap)).empty


def test_two_microseconds_apart_leave_one_moment_inside() -> None:
    after = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

    plan = plan_query(JobListFilters(created_after=after, created_before=after + timedelta(microseconds=2)))

    assert not plan.empty
    assert plan.lowest == plan.highest


def test_the_extremes_of_the_calendar_do_not_overflow() -> None:
    first = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14)))
    last = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(-timedelta(hours=14)))

    plan = plan_query(JobListFilters(created_after=first, created_before=last))

    assert plan.lowest is not None
    assert plan.highest is not None
    assert plan.lowest < 0 < plan.highest
