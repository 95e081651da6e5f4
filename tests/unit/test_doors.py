"""S3 drops and "Video Job Requested" events: each request is accepted or reported rejected."""

import json

from tests.support import FakeWorld
from videojobs.logic.doors import DoorOutcome, IntakeEvent, take_drop, take_intake_event
from videojobs.models import JobStatus, S3Origin


def world_with(objects: dict[str, bytes], metadata: dict[str, dict[str, str]] | None = None) -> FakeWorld:
    world = FakeWorld()
    for key, data in objects.items():
        world.inputs.objects[f"s3://inputs/{key}"] = ("application/octet-stream", data)
    world.inputs.metadata.update({f"s3://inputs/{key}": meta for key, meta in (metadata or {}).items()})
    return world


def test_a_json_drop_resolves_bare_media_names_beside_it() -> None:
    body = {
        "provider": "eachlabs",
        "prompt": "a cat",
        "first_frame_url": "cat.png",
        "client_reference": "c-1",
    }
    world = world_with({"drops/job.json": json.dumps(body).encode(), "drops/cat.png": b"png"})

    outcomes = take_drop("inputs", "drops/job.json", "etag-1", world.deps())

    assert outcomes == [DoorOutcome.ACCEPTED]
    (job,) = world.jobs.jobs.values()
    assert job.request.first_frame_url == "s3://inputs/drops/cat.png"
    assert job.origin == S3Origin(bucket="inputs", key="drops/job.json", etag="etag-1")
    assert job.status is JobStatus.QUEUED


def test_a_bare_name_that_does_not_exist_is_rejected_naming_the_field() -> None:
    body = {"provider": "eachlabs", "prompt": "a cat", "first_frame_url": "missing.png"}
    world = world_with({"drops/job.json": json.dumps(body).encode()})

    assert take_drop("inputs", "drops/job.json", "e", world.deps()) == [DoorOutcome.REJECTED]

    (rejection,) = world.events.rejected
    assert [item.loc for item in rejection.detail] == [["body", "first_frame_url"]]
    assert "does not exist" in rejection.detail[0].msg
    assert world.jobs.jobs == {}


def test_a_bare_name_may_not_climb_out_of_the_drop_folder() -> None:
    body = {"provider": "eachlabs", "prompt": "a cat", "first_frame_url": "../secret.png"}
    world = world_with({"drops/job.json": json.dumps(body).encode(), "secret.png": b"x"})

    assert take_drop("inputs", "drops/job.json", "e", world.deps()) == [DoorOutcome.REJECTED]
    assert world.events.rejected[0].detail[0].loc == ["body", "first_frame_url"]


def test_a_manifest_runs_each_good_line_and_reports_each_bad_one_with_its_line() -> None:
    lines = [
        json.dumps({"provider": "eachlabs", "prompt": "one"}),
        json.dumps({"provider": "eachlabs", "prompt": "two", "duration": 99, "client_reference": "bad"}),
        "",
        "{not json",
        json.dumps({"provider": "eachlabs", "prompt": "three"}),
    ]
    world = world_with({"drops/batch.jsonl": "\n".join(lines).encode()})

    outcomes = take_drop("inputs", "drops/batch.jsonl", "e", world.deps())

    assert outcomes == [
        DoorOutcome.ACCEPTED,
        DoorOutcome.REJECTED,
        DoorOutcome.REJECTED,
        DoorOutcome.ACCEPTED,
    ]
    assert sorted(job.origin.line for job in world.jobs.jobs.values()) == [1, 5]  # type: ignore[union-attr]
    bad_duration, bad_json = world.events.rejected
    assert bad_duration.origin.line == 2  # type: ignore[union-attr]
    assert bad_duration.client_reference == "bad"
    assert bad_duration.detail[0].loc == ["body", "duration"]
    assert bad_json.origin.line == 4  # type: ignore[union-attr]
    assert bad_json.detail[0].type == "json_invalid"


def test_the_same_manifest_again_creates_nothing_new() -> None:
    lines = [json.dumps({"provider": "eachlabs", "prompt": str(n)}) for n in range(3)]
    world = world_with({"drops/batch.jsonl": "\n".join(lines).encode()})
    take_drop("inputs", "drops/batch.jsonl", "same-etag", world.deps())

    again = take_drop("inputs", "drops/batch.jsonl", "same-etag", world.deps())

    assert again == [DoorOutcome.DUPLICATE] * 3
    assert len(world.jobs.jobs) == 3


def test_an_image_drop_takes_its_fields_from_metadata() -> None:
    meta = {
        "prompt": "a cat yawns",
        "provider": "eachlabs",
        "duration": "6",
        "resolution": "480p",
        "aspect-ratio": "9:16",
    }
    world = world_with({"drops/cat.webp": b"img"}, {"drops/cat.webp": meta})

    assert take_drop("inputs", "drops/cat.webp", "e", world.deps()) == [DoorOutcome.ACCEPTED]

    (job,) = world.jobs.jobs.values()
    assert job.request.first_frame_url == "s3://inputs/drops/cat.webp"
    assert (job.request.duration, job.request.resolution, job.request.aspect_ratio) == (6, "480p", "9:16")


def test_an_image_without_a_prompt_is_media_and_starts_nothing() -> None:
    world = world_with({"drops/cat.png": b"img"}, {"drops/cat.png": {"provider": "eachlabs"}})

    assert take_drop("inputs", "drops/cat.png", "e", world.deps()) == [DoorOutcome.MEDIA]
    assert world.jobs.jobs == {}
    assert world.events.rejected == []


def test_an_image_with_bad_metadata_is_rejected_naming_the_field() -> None:
    world = world_with({"drops/cat.png": b"img"}, {"drops/cat.png": {"prompt": "p", "duration": "two"}})

    assert take_drop("inputs", "drops/cat.png", "e", world.deps()) == [DoorOutcome.REJECTED]
    assert world.events.rejected[0].detail[0].loc == ["body", "duration"]


def test_a_drop_too_large_is_rejected_whole() -> None:
    world = world_with({"drops/huge.jsonl": b"x" * (64 * 1024 + 1)})

    assert take_drop("inputs", "drops/huge.jsonl", "e", world.deps()) == [DoorOutcome.REJECTED]
    assert world.events.rejected[0].detail[0].loc == ["file"]


def test_a_drop_replaced_since_its_notification_is_left_to_its_own_notification() -> None:
    world = FakeWorld()  # the object is gone (or no longer has that etag)

    assert take_drop("inputs", "drops/job.json", "old-etag", world.deps()) == [DoorOutcome.IGNORED]
    assert world.events.rejected == []


def test_a_requested_event_is_a_job_and_an_invalid_one_a_rejection() -> None:
    world = FakeWorld()
    good = IntakeEvent.model_validate(
        {
            "id": "ev-1",
            "source": "my.app",
            "detail-type": "Video Job Requested",
            "detail": {"provider": "eachlabs", "prompt": "p", "client_reference": "ref-9"},
        }
    )
    bad = good.model_copy(update={"id": "ev-2", "detail": {"provider": "nope", "prompt": "p"}})

    assert take_intake_event(good, world.deps()) == [DoorOutcome.ACCEPTED]
    assert take_intake_event(bad, world.deps()) == [DoorOutcome.REJECTED]

    (job,) = world.jobs.jobs.values()
    assert job.view().client_reference == "ref-9"
    assert job.origin.kind == "event"
    assert world.events.rejected[0].detail[0].loc == ["body", "provider"]
