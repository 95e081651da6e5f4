"""Deferred status checks: one GET per delivery, then finish, schedule the next, or expire."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

import pytest

from tests.support import FakeProvider, FakeWorld, fake_mp4, submit_job
from videojobs.dependencies import StatusCheckPolicy
from videojobs.errors import DependencyUnavailable, ProviderError
from videojobs.logic.callback import apply_provider_update
from videojobs.logic.dispatch import dispatch_job
from videojobs.logic.hops import MAX_QUEUE_DELAY_SECONDS
from videojobs.logic.intake import accept_job
from videojobs.logic.status_checks import CheckOutcome, check_job_status
from videojobs.logic.transfer import transfer_video
from videojobs.models import (
    DispatchRequest,
    HttpOrigin,
    Job,
    JobRequest,
    JobStatus,
    ProviderReceipt,
    ProviderState,
    ProviderUpdate,
    StatusCheckRequest,
    WebhookTarget,
)

OUTPUT = "https://cdn.example.com/out.mp4"


def submitted(world: FakeWorld, provider: str = "gateway") -> Job:
    request = JobRequest.model_validate({"provider": provider, "prompt": "a lighthouse", "duration": 5})
    return submit_job(request, world.deps())


def done(state: ProviderState = ProviderState.SUCCEEDED, **fields: str) -> ProviderUpdate:
    return ProviderUpdate(provider_job_id="-", state=state, **fields)


def test_submit_schedules_the_first_check_before_the_provider_is_called() -> None:
    world = FakeWorld()

    job = submitted(world)

    (first,) = world.status_checks.scheduled
    assert first.request == StatusCheckRequest(job_id=job.job_id, attempt=1, dispatch_attempt=1)
    assert first.delay_seconds == 120
    assert len(world.providers["gateway"].created) == 1


def test_without_a_scheduled_check_nothing_is_sent_and_the_dispatch_is_delivered_again() -> None:
    world = FakeWorld()
    world.status_checks.fail_next = 1

    with pytest.raises(DependencyUnavailable):
        submitted(world)

    (job,) = world.jobs.jobs.values()
    assert job.status is JobStatus.QUEUED
    assert world.providers["gateway"].created == []
    assert world.events.failed == []

    # SQS delivers the dispatch message again; this time the check can be scheduled.
    dispatch_job(DispatchRequest(job_id=job.job_id), world.deps())

    assert world.jobs.jobs[job.job_id].status is JobStatus.SUBMITTED
    assert len(world.providers["gateway"].created) == 1
    assert len(world.capacity.holders) == 1  # the same slot both times


def test_a_check_of_an_earlier_create_attempt_or_of_a_queued_job_stops_its_chain() -> None:
    world = FakeWorld()
    job = submitted(world)
    stale = StatusCheckRequest(job_id=job.job_id, attempt=3, dispatch_attempt=job.dispatch_attempts - 1)
    world.status_checks.scheduled.clear()

    assert check_job_status(stale, world.deps()) is CheckOutcome.NOT_NEEDED
    assert world.providers["gateway"].checked == []
    assert world.status_checks.scheduled == []


@dataclass
class SlowCreate(FakeProvider):
    """A provider whose create is still on the wire when the first status check is delivered."""

    during_create: Callable[[], object] | None = None

    def create_prediction(self, request: JobRequest, webhook: WebhookTarget) -> ProviderReceipt:
        if self.during_create is not None:
            self.during_create()
        return super().create_prediction(request, webhook)


def test_a_check_delivered_while_the_create_is_on_the_wire_keeps_its_chain() -> None:
    world = FakeWorld()
    slow = SlowCreate(name="gateway")
    world.providers["gateway"] = slow
    outcomes: list[CheckOutcome] = []
    slow.during_create = lambda: outcomes.append(
        check_job_status(world.status_checks.scheduled[0].request, world.deps())
    )

    job = submitted(world)

    assert outcomes == [CheckOutcome.WAITING]
    assert slow.checked == []  # nothing to ask before the create answers
    first, second = world.status_checks.scheduled
    assert second.request == first.request.model_copy(update={"attempt": 2})
    # The next check finds the job submitted, and asks.
    assert check_job_status(second.request, world.deps()) is CheckOutcome.CHECKED
    assert slow.checked == [job.provider_job_id]
    assert world.status_checks.scheduled[-1].request.attempt == 3


def test_a_first_check_that_comes_before_its_create_is_claimed_looks_once_more() -> None:
    """The submit function schedules the first check, then claims the create: under load the check
    can find the job still queued with no claim. It looks again; a second look with no claim stops."""
    world = FakeWorld()
    request = JobRequest.model_validate({"provider": "gateway", "prompt": "a lighthouse", "duration": 5})
    job = accept_job(request, HttpOrigin(), world.deps()).job
    first = StatusCheckRequest(job_id=job.job_id, attempt=1, dispatch_attempt=job.dispatch_attempts + 1)

    assert check_job_status(first, world.deps()) is CheckOutcome.WAITING
    (second,) = world.status_checks.scheduled
    assert second.request == first.model_copy(update={"attempt": 2})
    assert world.providers["gateway"].checked == []

    world.status_checks.scheduled.clear()
    assert check_job_status(second.request, world.deps()) is CheckOutcome.NOT_NEEDED  # its dispatch died
    assert world.status_checks.scheduled == []

    (dispatch,) = world.dispatches.take()
    dispatch_job(dispatch.request, world.deps())  # now the create is claimed and sent
    assert check_job_status(second.request, world.deps()) is CheckOutcome.CHECKED
    assert world.providers["gateway"].checked == [world.jobs.jobs[job.job_id].provider_job_id]


def test_a_check_of_a_queued_job_whose_create_was_refused_stops_its_chain() -> None:
    world = FakeWorld()
    world.providers["gateway"].error = ProviderError("gateway answered HTTP 503", retryable=True)
    job = submitted(world)
    (check,) = world.status_checks.scheduled
    queued = world.jobs.jobs[job.job_id]
    assert (queued.status, queued.create_sent_at) == (JobStatus.QUEUED, None)
    world.status_checks.scheduled.clear()

    assert check_job_status(check.request, world.deps()) is CheckOutcome.NOT_NEEDED
    assert world.status_checks.scheduled == []


def test_a_finished_provider_job_is_moved_on_and_no_more_checks_are_scheduled() -> None:
    world = FakeWorld()
    job = submitted(world)
    world.providers["gateway"].answers = [
        done(output_url=OUTPUT, last_frame_url="https://cdn.example.com/f.png")
    ]

    outcome = check_job_status(StatusCheckRequest(job_id=job.job_id), world.deps())

    assert outcome is CheckOutcome.CHECKED
    assert world.providers["gateway"].checked == [job.provider_job_id]
    assert world.jobs.jobs[job.job_id].status is JobStatus.TRANSFERRING
    (transfer,) = world.transfers.sent
    assert (transfer.source_url, transfer.last_frame_url) == (OUTPUT, "https://cdn.example.com/f.png")
    assert len(world.status_checks.scheduled) == 1  # only submit's


def test_a_provider_failure_fails_the_job_with_its_reason() -> None:
    world = FakeWorld()
    job = submitted(world)
    world.providers["gateway"].answers = [done(ProviderState.FAILED, error_message="content policy")]

    check_job_status(StatusCheckRequest(job_id=job.job_id), world.deps())

    failed = world.jobs.jobs[job.job_id]
    assert failed.status is JobStatus.FAILED
    assert failed.error is not None
    assert failed.error.message == "content policy"
    assert [event.job_id for event in world.events.failed] == [job.job_id]


def test_a_job_still_processing_is_checked_again_with_doubling_gaps_up_to_the_cap() -> None:
    world = FakeWorld()
    job = submitted(world)
    request = StatusCheckRequest(job_id=job.job_id)

    delays = []
    for _ in range(7):
        assert check_job_status(request, world.deps()) is CheckOutcome.CHECKED
        scheduled = world.status_checks.scheduled[-1]
        delays.append(scheduled.delay_seconds)
        request = scheduled.request
        world.clock.advance(scheduled.delay_seconds)

    assert delays == [30, 60, 120, 240, 480, 600, 600]
    assert request.attempt == 8
    assert len(world.providers["gateway"].checked) == 7
    assert world.jobs.jobs[job.job_id].status is JobStatus.PROCESSING


def test_a_failing_status_call_schedules_the_next_check_and_changes_nothing() -> None:
    world = FakeWorld()
    job = submitted(world)
    world.providers["gateway"].answers = [ProviderError("gateway answered HTTP 503", retryable=True)]

    outcome = check_job_status(StatusCheckRequest(job_id=job.job_id), world.deps())

    assert outcome is CheckOutcome.CHECKED
    assert world.jobs.jobs[job.job_id].status is JobStatus.SUBMITTED
    assert world.status_checks.scheduled[-1].request.attempt == 2


def test_a_job_past_its_maximum_age_expires_without_asking_the_provider() -> None:
    world = FakeWorld()
    job = submitted(world)
    world.clock.advance(7200)

    outcome = check_job_status(StatusCheckRequest(job_id=job.job_id, attempt=12), world.deps())

    expired = world.jobs.jobs[job.job_id]
    assert outcome is CheckOutcome.EXPIRED
    assert expired.status is JobStatus.EXPIRED
    assert expired.error is not None
    assert expired.error.code == "job_expired"
    assert world.providers["gateway"].checked == []
    assert [event.status for event in world.events.failed] == [JobStatus.EXPIRED]
    assert len(world.status_checks.scheduled) == 1


def test_the_last_gap_ends_at_the_maximum_age() -> None:
    world = FakeWorld()
    job = submitted(world)
    world.clock.advance(7200 - 45)

    check_job_status(StatusCheckRequest(job_id=job.job_id, attempt=9), world.deps())

    assert world.status_checks.scheduled[-1].delay_seconds == 45


@pytest.mark.parametrize("status", [JobStatus.TRANSFERRING, JobStatus.SUCCEEDED, JobStatus.FAILED])
def test_a_job_that_moved_on_needs_no_check(status: JobStatus) -> None:
    world = FakeWorld()
    job = submitted(world)
    world.jobs.jobs[job.job_id] = job.model_copy(update={"status": status})

    outcome = check_job_status(StatusCheckRequest(job_id=job.job_id), world.deps())

    assert outcome is CheckOutcome.NOT_NEEDED
    assert world.providers["gateway"].checked == []
    assert len(world.status_checks.scheduled) == 1


def test_waits_longer_than_the_queue_allows_are_split_into_hops() -> None:
    world = FakeWorld()
    world.check_policy = StatusCheckPolicy(
        first_delay_seconds=4000, max_delay_seconds=4000, job_max_age_seconds=86400
    )
    job = submitted(world)
    (first,) = world.status_checks.scheduled
    assert first.delay_seconds == MAX_QUEUE_DELAY_SECONDS
    assert first.request.due_at == world.clock() + timedelta(seconds=4000)

    world.clock.advance(MAX_QUEUE_DELAY_SECONDS)
    outcome = check_job_status(first.request, world.deps())

    assert outcome is CheckOutcome.WAITING
    assert world.providers["gateway"].checked == []
    hop = world.status_checks.scheduled[-1]
    assert (hop.delay_seconds, hop.request.due_at) == (MAX_QUEUE_DELAY_SECONDS, first.request.due_at)

    world.clock.advance(4000 - 2 * MAX_QUEUE_DELAY_SECONDS - 100)
    check_job_status(hop.request, world.deps())
    world.clock.advance(MAX_QUEUE_DELAY_SECONDS)
    check_job_status(world.status_checks.scheduled[-1].request, world.deps())
    last = world.status_checks.scheduled[-1]
    assert (last.delay_seconds, last.request.due_at) == (100, None)

    world.clock.advance(100)
    assert check_job_status(last.request, world.deps()) is CheckOutcome.CHECKED
    assert world.providers["gateway"].checked == [job.provider_job_id]


def test_a_next_check_that_cannot_be_scheduled_is_raised_so_the_message_comes_back() -> None:
    world = FakeWorld()
    job = submitted(world)
    world.status_checks.fail_next = 1

    with pytest.raises(DependencyUnavailable):
        check_job_status(StatusCheckRequest(job_id=job.job_id), world.deps())


def test_the_links_a_create_returned_are_kept_on_the_job_and_handed_back_to_the_status_read() -> None:
    # Given a provider that returns its own URLs for following the prediction (as fal does)
    world = FakeWorld()
    links = {"status_url": "https://queue.example.com/requests/r1/status"}
    world.providers["gateway"].links = links

    # When the job is submitted and then checked
    job = submitted(world)
    check_job_status(StatusCheckRequest(job_id=job.job_id), world.deps())

    # Then the job keeps them and the status read gets them back
    assert world.jobs.jobs[job.job_id].provider_links == links
    assert world.providers["gateway"].checked_links == [links]


def test_a_status_check_asks_through_the_api_key_that_created_the_job() -> None:
    # Given a gateway pool of two keys, and a job the second key created
    world = FakeWorld()
    second_key = world.add_key("gateway", "key-2")
    world.capacity.key_id = "key-2"
    job = submitted(world)
    assert job.provider_key_id == "key-2"
    assert len(second_key.created) == 1
    second_key.answers = [done(output_url=OUTPUT)]

    # When its status is checked
    outcome = check_job_status(StatusCheckRequest(job_id=job.job_id), world.deps())

    # Then the status GET went through the second key's provider, never the first key's
    assert outcome is CheckOutcome.CHECKED
    assert second_key.checked == [job.provider_job_id]
    assert world.providers["gateway"].checked == []
    assert world.jobs.jobs[job.job_id].status is JobStatus.TRANSFERRING


@dataclass
class AnsweredLate(FakeProvider):
    """A status GET whose answer comes back only after ``meanwhile`` has run (a webhook landing)."""

    meanwhile: Callable[[], None] = lambda: None

    def get_prediction(
        self, provider_job_id: str, *, links: Mapping[str, str] | None = None
    ) -> ProviderUpdate:
        self.meanwhile()
        return super().get_prediction(provider_job_id, links=links)


@pytest.mark.parametrize("copied", [False, True], ids=["transferring", "succeeded"])
def test_a_failure_read_after_the_job_succeeded_changes_nothing_and_frees_no_slot(copied: bool) -> None:
    # Given a status check whose GET answers "failed" only after the job's success webhook has landed
    # (and, in one case, its video has been copied)
    world = FakeWorld()
    provider = AnsweredLate(name="eachlabs", answers=[done(ProviderState.FAILED, error_message="late")])
    world.provider = provider
    job = submitted(world, "eachlabs")
    after_success: list[tuple[Job, int, list[tuple[str, str]]]] = []

    def success_lands() -> None:
        apply_provider_update(world.jobs.jobs[job.job_id], done(output_url=OUTPUT), world.deps())
        if copied:
            world.source.files[OUTPUT] = fake_mp4()
            transfer_video(world.transfers.sent[-1], world.deps())
        after_success.append(
            (world.jobs.jobs[job.job_id], world.jobs.writes, list(world.capacity.release_calls))
        )

    provider.meanwhile = success_lands

    # When the check applies that answer
    outcome = check_job_status(StatusCheckRequest(job_id=job.job_id), world.deps())

    # Then the job, its video and its events stay as the success left them, and no slot release is
    # even asked for
    ((finished, writes, release_calls),) = after_success
    assert outcome is CheckOutcome.CHECKED
    assert provider.checked == [job.provider_job_id]
    assert finished.status is (JobStatus.SUCCEEDED if copied else JobStatus.TRANSFERRING)
    assert (finished.video is not None) is copied
    assert world.jobs.jobs[job.job_id] == finished
    assert world.jobs.writes == writes
    assert world.events.failed == []
    assert len(world.events.succeeded) == (1 if copied else 0)
    assert world.capacity.release_calls == release_calls
