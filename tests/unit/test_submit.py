import pytest
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyValidationError

from tests.support import FakeWorld
from videojobs.errors import ProviderError, RequestRejected
from videojobs.logic.submit import submit_job, submit_job_once
from videojobs.models import JobRequest, JobStatus


def request(**fields: object) -> JobRequest:
    return JobRequest.model_validate({"provider": "eachlabs", "prompt": "a lighthouse at dusk", **fields})


def test_submit_stores_the_job_and_records_the_provider_id() -> None:
    world = FakeWorld()

    job = submit_job(request(resolution="480p", duration=5), world.deps())

    assert job.status is JobStatus.SUBMITTED
    assert job.provider_job_id == "pred-1"
    assert world.jobs.jobs[job.job_id] == job
    sent_request, webhook = world.provider.created[0]
    assert sent_request.duration == 5
    token = world.authenticator.token_for(job.job_id)
    assert webhook.url == f"https://api.example.com/webhooks/eachlabs/{job.job_id}?token={token}"
    assert webhook.signing_secret == world.authenticator.signing_secret_for(job.job_id)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"resolution": "1080p"}, "resolution"),
        ({"reference_image_urls": ["https://cdn.example.com/a.png"]}, "reference_image_urls"),
        ({"last_frame_url": "https://cdn.example.com/end.png"}, "last_frame_url"),
        ({"watermark": True}, "watermark"),
        ({"provider": "gateway", "duration": 4}, "duration"),
        ({"provider": "gateway", "tier": "fast", "resolution": "1080p"}, "resolution"),
        ({"provider": "jobs_api", "generate_audio": False}, "generate_audio"),
        ({"provider": "atlascloud", "tier": "mini"}, "tier"),
        (
            {"provider": "jobs_api", "reference_audio_urls": ["https://cdn.example.com/a.mp3"]},
            "reference_audio_urls",
        ),
        (
            {
                "provider": "gateway",
                "operation": "edit_video",
                "first_frame_url": "https://cdn.example.com/a.png",
            },
            "operation",
        ),
        ({"operation": "extend_video"}, "operation"),
        ({"first_frame_url": "s3://other-bucket/a.png"}, "first_frame_url"),
        ({"first_frame_url": "s3://inputs/missing.png"}, "first_frame_url"),
    ],
)
def test_a_request_the_provider_cannot_serve_is_rejected_before_any_write(
    fields: dict[str, object], field: str
) -> None:
    world = FakeWorld()

    with pytest.raises(RequestRejected) as rejected:
        submit_job(request(**fields), world.deps())

    assert rejected.value.field == field
    assert world.jobs.writes == 0
    assert all(provider.created == [] for provider in world.providers.values())
    assert world.status_checks.scheduled == []


def test_a_provider_refusal_fails_the_job_and_announces_it() -> None:
    world = FakeWorld()
    world.provider.error = ProviderError("eachlabs answered HTTP 400: bad prompt", retryable=False)

    with pytest.raises(ProviderError):
        submit_job(request(), world.deps())

    (job,) = world.jobs.jobs.values()
    assert job.status is JobStatus.FAILED
    assert job.error is not None
    assert "bad prompt" in job.error.message
    assert [failed.job_id for failed in world.events.failed] == [job.job_id]


def test_the_callback_url_falls_back_to_the_api_domain() -> None:
    world = FakeWorld()
    deps = world.deps()
    object.__setattr__(deps, "public_base_url", None)

    job = submit_job(request(), deps, fallback_base_url="https://abc.execute-api.example.com")

    assert world.provider.created[0][1].url.startswith(
        f"https://abc.execute-api.example.com/webhooks/eachlabs/{job.job_id}?token="
    )


def test_the_same_idempotency_key_returns_the_first_job_without_a_second_prediction() -> None:
    world = FakeWorld()
    deps = world.deps()

    first = submit_job_once("order-42", request(duration=5), deps)
    again = submit_job_once("order-42", request(duration=5), deps)
    other = submit_job_once("order-43", request(duration=5), deps)

    assert again == first
    assert other.job_id != first.job_id
    assert len(world.provider.created) == 2
    assert len(world.jobs.jobs) == 2


def test_an_idempotency_key_reused_with_another_body_is_refused() -> None:
    world = FakeWorld()
    deps = world.deps()
    submit_job_once("order-42", request(duration=5), deps)

    with pytest.raises(IdempotencyValidationError):
        submit_job_once("order-42", request(duration=6), deps)

    assert len(world.provider.created) == 1


def test_a_failed_keyed_submission_can_be_retried_with_the_same_key() -> None:
    world = FakeWorld()
    world.provider.error = ProviderError("eachlabs unreachable", retryable=True)
    deps = world.deps()
    with pytest.raises(ProviderError):
        submit_job_once("order-42", request(), deps)

    world.provider.error = None
    job = submit_job_once("order-42", request(), deps)

    assert job.status is JobStatus.SUBMITTED
