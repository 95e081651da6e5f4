"""GET /jobs cursors: opaque, signed, and good only for the filters they were issued for."""

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from videojobs.cursors import ListCursors
from videojobs.errors import InvalidCursor
from videojobs.models import JobListFilters, JobStatus

SECRET = b"list-cursor-test-secret-0123456789"
POSITION = {
    "job_id": "7d3f6c1e-2b4a-4e8f-9a51-0c6de2f4b8a9",
    "status": "queued",
    "list_created": "1796126400000000",
}
FILTERS = JobListFilters(status=JobStatus.QUEUED, created_after=datetime(2026, 11, 1, tzinfo=UTC))


def test_a_cursor_gives_back_the_position_it_was_issued_for() -> None:
    cursors = ListCursors(SECRET)

    cursor = cursors.issue(POSITION, FILTERS)

    assert cursors.resume(cursor, FILTERS) == POSITION
    # Opaque enough to travel in a query string as it is.
    assert all(char.isalnum() or char in "-_." for char in cursor)


def flip(text: str, at: int) -> str:
    return text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1 :]


@pytest.mark.parametrize("at", [0, 5, 20, -1, -5])
def test_a_cursor_with_any_character_changed_is_refused(at: int) -> None:
    cursors = ListCursors(SECRET)
    cursor = cursors.issue(POSITION, FILTERS)

    with pytest.raises(InvalidCursor):
        cursors.resume(flip(cursor, at % len(cursor)), FILTERS)


def test_a_position_rewritten_by_hand_under_the_old_signature_is_refused() -> None:
    cursors = ListCursors(SECRET)
    _, signature = cursors.issue(POSITION, FILTERS).split(".")
    payload = json.dumps({"f": "x", "p": {**POSITION, "job_id": "someone-elses-job"}}).encode()
    forged = base64.urlsafe_b64encode(payload).rstrip(b"=").decode() + "." + signature

    with pytest.raises(InvalidCursor):
        cursors.resume(forged, FILTERS)


@pytest.mark.parametrize("cursor", ["", ".", "abc", "abc.", ".abc", "!!!.@@@", "a.b.c", "eyJ9.eyJ9"])
def test_a_cursor_that_is_not_ours_at_all_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        ListCursors(SECRET).resume(cursor, FILTERS)


def test_a_cursor_signed_with_another_secret_is_refused() -> None:
    cursor = ListCursors(b"another-secret-entirely-0123456789").issue(POSITION, FILTERS)

    with pytest.raises(InvalidCursor):
        ListCursors(SECRET).resume(cursor, FILTERS)


@pytest.mark.parametrize(
    "other",
    [
        JobListFilters(),
        JobListFilters(status=JobStatus.FAILED, created_after=FILTERS.created_after),
        JobListFilters(status=JobStatus.QUEUED),
        JobListFilters(status=JobStatus.QUEUED, created_after=datetime(2026, 11, 2, tzinfo=UTC)),
        FILTERS.model_copy(update={"provider": "fal"}),
        FILTERS.model_copy(update={"created_before": datetime(2026, 12, 1, tzinfo=UTC)}),
    ],
)
def test_a_cursor_reused_with_other_filters_is_refused(other: JobListFilters) -> None:
    cursors = ListCursors(SECRET)
    cursor = cursors.issue(POSITION, FILTERS)

    with pytest.raises(InvalidCursor, match="other filters"):
        cursors.resume(cursor, other)


def test_cursors_issued_before_a_secret_rotation_still_resume_after_it() -> None:
    before = ListCursors(SECRET).issue(POSITION, FILTERS)
    rotated = ListCursors([b"the-new-secret-after-rotation-0123", SECRET])

    assert rotated.resume(before, FILTERS) == POSITION
    # New cursors are signed with the new secret alone.
    with pytest.raises(InvalidCursor):
        ListCursors(SECRET).resume(rotated.issue(POSITION, FILTERS), FILTERS)


def test_the_same_moment_written_with_another_offset_is_the_same_filter() -> None:
    cursors = ListCursors(SECRET)
    cursor = cursors.issue(POSITION, FILTERS)
    assert FILTERS.created_after is not None
    same_moment = FILTERS.model_copy(
        update={"created_after": FILTERS.created_after.astimezone(timezone(timedelta(hours=-5)))}
    )

    assert cursors.resume(cursor, same_moment) == POSITION
