"""deadline_seconds: counted from acceptance, carried by every door, and enforced by a delayed look at
the job that cancels it unless it is transferring by then. Nothing sleeps: the waits are queue delays."""

import json
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from functions.intake import app as intake
from tests.support import FakeLambdaContext, FakeWorld, load_event
from videojobs.logic.callback import apply_provider_update
from videojobs.logic.dead_letters import end_dead_lettered
from videojobs.logic.dispatch import DispatchOutcome
from videojobs.logic.doors import DoorOutcome, IntakeEvent, take_drop, take_intake_event
from videojobs.logic.intake import accept_job
from videojobs.logic.status_checks import CheckOutcome, check_job_status
from videojobs.models import (
    HttpOrigin,
    Job,
    JobRequest,
    JobStatus,
    ProviderState,
    ProviderUpdate,
    StatusCheckRequest,
)


def accepted(world: FakeWorld, deadline_seconds: int | None = 600, provider: str = "fal") -> Job:
    request = JobRequest(provider=provider, prompt="p", deadline_seconds=deadline_seconds)  # type: ignore[arg-type]
    return accept_job(request, HttpOrigin(), world.deps()).job


def deadline_checks(world: FakeWorld) -> list[Any]:
    return [check for check in world.status_checks.scheduled if check.request.purpose == "deadline"]


def deliver_deadline(world: FakeWorld) -> CheckOutcome:
    """Advance the clock by the last deadline message's delay and deliver it, as SQS would."""
    check = deadline_checks(world)[-1]
    world.clock.advance(check.delay_seconds)
    return check_job_status(check.request, world.deps())


# -- the request ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("seconds", [60, 86_400])
def test_the_bounds_are_accepted(seconds: int) -> None:
    assert JobRequest(provider="fal", prompt="p", deadline_seconds=seconds).deadline_seconds == seconds


@pytest.mark.parametrize("seconds", [59, 86_401, "600", True])
def test_outside_the_bounds_or_not_an_integer_is_refused_by_the_model(seconds: Any) -> None:
    with pytest.raises(ValidationError):
        JobRequest.model_validate({"provider": "fal", "prompt": "p", "deadline_seconds": seconds})


@pytest.mark.parametrize("seconds", [59, 86_401])
def test_post_jobs_answers_422_naming_body_deadline_seconds(seconds: int) -> None:
    world = FakeWorld()
    event = load_event("create_job")
    event["body"] = json.dumps({"provider": "fal", "prompt": "p", "deadline_seconds": seconds})

    response = intake.lambda_handler(event, FakeLambdaContext(), deps=world.deps())

    assert response["statusCode"] == 422
    assert [item["loc"] for item in json.loads(response["body"])["detail"]] == [["body", "deadline_seconds"]]
    assert world.jobs.jobs == {}


def test_the_published_request_schema_states_the_bounds() -> None:
    schema = intake.app.get_openapi_schema().model_dump(by_alias=True, exclude_none=True)
    request = schema["components"]["schemas"]["PublishedJobRequest"]["properties"]["deadline_seconds"]
    bounded = next(option for option in request["anyOf"] if option.get("type") == "integer")
    assert (bounded["minimum"], bounded["maximum"]) == (60, 86_400)


# -- every door -----------------------------------------------------------------------------------------
def test_post_jobs_carries_it() -> None:
    world = FakeWorld()
    event = load_event("create_job")
    event["body"] = json.dumps({"provider": "fal", "prompt": "p", "deadline_seconds": 120})

    response = intake.lambda_handler(event, FakeLambdaContext(), deps=world.deps())

    assert response["statusCode"] == 202
    assert json.loads(response["body"])["request"]["deadline_seconds"] == 120
    (job,) = world.jobs.jobs.values()
    assert deadline_checks(world)[0].delay_seconds == 120
    assert job.deadline == job.created_at + timedelta(seconds=120)


def test_an_s3_json_drop_carries_it() -> None:
    world = FakeWorld()
    world.inputs.objects["s3://inputs/drops/job.json"] = (
        "application/json",
        json.dumps({"provider": "fal", "prompt": "p", "deadline_seconds": 300}).encode(),
    )

    assert take_drop("inputs", "drops/job.json", "e", world.deps()) == [DoorOutcome.ACCEPTED]
    (job,) = world.jobs.jobs.values()
    assert job.request.deadline_seconds == 300


def test_an_image_drop_carries_it_in_its_metadata() -> None:
    world = FakeWorld()
    world.inputs.objects["s3://inputs/drops/cat.png"] = ("image/png", b"img")
    world.inputs.metadata["s3://inputs/drops/cat.png"] = {"prompt": "p", "deadline-seconds": "900"}

    assert take_drop("inputs", "drops/cat.png", "e", world.deps()) == [DoorOutcome.ACCEPTED]
    (job,) = world.jobs.jobs.values()
    assert job.request.deadline_seconds == 900
    assert deadline_checks(world)[0].delay_seconds == 900


def test_an_image_drop_with_a_bad_deadline_is_rejected_naming_it() -> None:
    world = FakeWorld()
    world.inputs.objects["s3://inputs/drops/cat.png"] = ("image/png", b"img")
    world.inputs.metadata["s3://inputs/drops/cat.png"] = {"prompt": "p", "deadline-seconds": "30"}

    assert take_drop("inputs", "drops/cat.png", "e", world.deps()) == [DoorOutcome.REJECTED]
    assert world.events.rejected[0].detail[0].loc == ["body", "deadline_seconds"]


def test_a_video_job_requested_event_carries_it() -> None:
    world = FakeWorld()
    event = IntakeEvent.model_validate(
        {
            "id": "ev-1",
            "source": "my.app",
            "detail-type": "Video Job Requested",
            "detail": {"provider": "fal", "prompt": "p", "deadline_seconds": 3600},
        }
    )

    assert take_intake_event(event, world.deps()) == [DoorOutcome.ACCEPTED]
    (job,) = world.jobs.jobs.values()
    assert job.request.deadline_seconds == 3600


def test_a_job_without_a_deadline_schedules_no_deadline_look() -> None:
    world = FakeWorld()
    accepted(world, deadline_seconds=None)
    assert deadline_checks(world) == []


# -- the deadline fires ---------------------------------------------------------------------------------
def test_a_deadline_passing_while_the_job_waits_for_a_slot_cancels_it_without_a_provider_call() -> None:
    world = FakeWorld()
    world.capacity.limit = 0  # every slot taken: the job waits
    job = accepted(world, deadline_seconds=120)
    assert world.dispatch_all() == [DispatchOutcome.WAITING_FOR_CAPACITY]

    assert deliver_deadline(world) is CheckOutcome.CANCELED

    canceled = world.jobs.jobs[job.job_id]
    assert canceled.status is JobStatus.CANCELED
    assert canceled.error is not None
    assert canceled.error.code == "deadline_exceeded"
    assert canceled.view().cancel is not None
    assert [event.job_id for event in world.events.canceled] == [job.job_id]
    world.capacity.limit = 10
    assert world.dispatch_all() == [DispatchOutcome.NOT_NEEDED]
    assert world.providers["fal"].created == []
    assert world.providers["fal"].cancelled == []
    assert world.capacity.holders == {}


def test_a_deadline_passing_while_the_provider_renders_cancels_it_there_too() -> None:
    world = FakeWorld()
    job = accepted(world, deadline_seconds=600)
    world.dispatch_all()

    assert deliver_deadline(world) is CheckOutcome.CANCELED

    canceled = world.jobs.jobs[job.job_id]
    assert canceled.status is JobStatus.CANCELED
    assert canceled.error is not None
    assert canceled.error.code == "deadline_exceeded"
    assert world.providers["fal"].cancelled == [("pred-1", None)]
    assert world.capacity.holders == {}


def test_a_job_transferring_before_its_deadline_is_left_alone() -> None:
    world = FakeWorld()
    job = accepted(world, deadline_seconds=600)
    world.dispatch_all()
    submitted = world.jobs.jobs[job.job_id]
    update = ProviderUpdate(
        provider_job_id="pred-1", state=ProviderState.SUCCEEDED, output_url="https://cdn.example.com/o.mp4"
    )
    apply_provider_update(submitted, update, world.deps())

    assert deliver_deadline(world) is CheckOutcome.NOT_NEEDED

    assert world.jobs.jobs[job.job_id].status is JobStatus.TRANSFERRING
    assert world.events.canceled == []
    assert world.providers["fal"].cancelled == []


def test_a_long_deadline_waits_in_hops_of_at_most_fifteen_minutes_and_fires_only_when_due() -> None:
    world = FakeWorld()
    job = accepted(world, deadline_seconds=2000)

    delays = []
    outcomes = []
    for _ in range(3):
        delays.append(deadline_checks(world)[-1].delay_seconds)
        outcomes.append(deliver_deadline(world))

    assert delays == [900, 900, 200]
    assert outcomes == [CheckOutcome.WAITING, CheckOutcome.WAITING, CheckOutcome.CANCELED]
    assert world.jobs.jobs[job.job_id].status is JobStatus.CANCELED
    assert world.clock() - job.created_at == timedelta(seconds=2000)


def test_a_deadline_message_delivered_early_waits_again_for_the_rest() -> None:
    world = FakeWorld()
    job = accepted(world, deadline_seconds=600)
    world.clock.advance(100)

    outcome = check_job_status(StatusCheckRequest(job_id=job.job_id, purpose="deadline"), world.deps())

    assert outcome is CheckOutcome.WAITING
    assert deadline_checks(world)[-1].delay_seconds == 500
    assert world.jobs.jobs[job.job_id].status is JobStatus.QUEUED


def test_a_dead_lettered_deadline_cancels_a_job_whose_deadline_has_passed_and_no_other() -> None:
    world = FakeWorld()
    job = accepted(world, deadline_seconds=600)
    message = StatusCheckRequest(job_id=job.job_id, purpose="deadline")

    assert end_dead_lettered(message, world.deps()) is None  # not yet due: left alone
    assert world.jobs.jobs[job.job_id].status is JobStatus.QUEUED
    world.clock.advance(600)
    ended = end_dead_lettered(message, world.deps())

    assert ended is not None
    assert ended.status is JobStatus.CANCELED
    assert ended.error is not None
    assert ended.error.code == "deadline_exceeded"


def test_the_deadline_counts_from_acceptance_not_from_the_first_create() -> None:
    world = FakeWorld()
    world.capacity.limit = 0
    job = accepted(world, deadline_seconds=300)
    world.clock.advance(250)
    world.capacity.limit = 10
    assert world.dispatch_all() == [DispatchOutcome.SUBMITTED]  # sent with 50 s of its deadline left
    (check,) = deadline_checks(world)

    world.clock.advance(50)

    assert check_job_status(check.request, world.deps()) is CheckOutcome.CANCELED
    assert world.jobs.jobs[job.job_id].status is JobStatus.CANCELED


def test_a_job_still_waiting_for_a_slot_when_its_dispatch_comes_back_past_its_deadline_is_not_sent() -> None:
    world = FakeWorld()
    world.capacity.limit = 0
    job = accepted(world, deadline_seconds=60)
    assert world.dispatch_all() == [DispatchOutcome.WAITING_FOR_CAPACITY]
    world.capacity.limit = 10
    world.clock.advance(60)

    assert world.dispatch_all() == [DispatchOutcome.CANCELED]

    canceled = world.jobs.jobs[job.job_id]
    assert canceled.status is JobStatus.CANCELED
    assert canceled.error is not None
    assert canceled.error.code == "deadline_exceeded"
    assert world.providers["fal"].created == []
    assert world.capacity.holders == {}
