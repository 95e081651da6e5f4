"""Handlers end to end in-process with fake ports, fed the same events/ files as `sam local invoke`."""

import base64
import io
import json
import logging
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from functions.callback import app as callback
from functions.cancel import app as cancel
from functions.dead_letter import app as dead_letter
from functions.intake import app as intake
from functions.notify import app as notify
from functions.status import app as status
from functions.status_check import app as status_check
from functions.submit import app as submit
from functions.transfer import app as transfer
from tests.support import FakeLambdaContext, FakeWorld, fake_mp4, load_event, sign_eachlabs
from videojobs.models import Job, JobRequest, JobStatus, ProviderState, ProviderUpdate
from videojobs.observability import logger
from videojobs.providers.byteplus.adapter import BytePlusProvider
from videojobs.providers.eachlabs.adapter import EachLabsProvider
from videojobs.providers.replicate.adapter import ReplicateProvider
from videojobs.standard_webhooks import StandardWebhook

Context = FakeLambdaContext


def body_of(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


def submit_event(**fields: Any) -> dict[str, Any]:
    event = load_event("create_job")
    event["body"] = json.dumps({**json.loads(event["body"]), **fields})
    return event


def test_post_jobs_answers_202_with_the_queued_job_and_calls_no_provider() -> None:
    world = FakeWorld()

    response = intake.lambda_handler(submit_event(), Context(), deps=world.deps())

    assert response["statusCode"] == 202
    view = body_of(response)
    assert view["status"] == "queued"
    assert view["origin"] == {"kind": "http"}
    assert view["request"]["duration"] == 6
    assert "output_url" not in view
    assert world.jobs.jobs[view["job_id"]].status is JobStatus.QUEUED
    assert world.provider.created == []
    assert [queued.request.job_id for queued in world.dispatches.sent] == [view["job_id"]]


def test_the_dispatch_message_event_creates_the_prediction() -> None:
    world = FakeWorld()
    accepted = body_of(intake.lambda_handler(submit_event(), Context(), deps=world.deps()))
    event = load_event("dispatch_message")
    event["Records"][0]["body"] = json.dumps({"job_id": accepted["job_id"]})

    response = submit.lambda_handler(event, Context(), deps=world.deps())

    assert response == {"batchItemFailures": []}
    assert world.jobs.jobs[accepted["job_id"]].status is JobStatus.SUBMITTED
    assert len(world.provider.created) == 1


def test_the_s3_drop_event_starts_a_job_from_the_image_and_its_metadata() -> None:
    world = FakeWorld()
    event = load_event("s3_drop_message")
    drop = json.loads(event["Records"][0]["body"])["detail"]
    url = f"s3://{drop['bucket']['name']}/{drop['object']['key']}"
    world.inputs.objects[url] = ("image/png", b"png")
    world.inputs.metadata[url] = {"prompt": "a cat yawns", "duration": "5", "resolution": "480p"}
    world.input_buckets = frozenset({drop["bucket"]["name"]})

    response = intake.lambda_handler(event, Context(), deps=world.deps())

    assert response == {"batchItemFailures": []}
    (job,) = world.jobs.jobs.values()
    assert job.request.first_frame_url == url
    assert job.origin.kind == "s3"
    assert len(world.dispatches.sent) == 1


def test_the_job_requested_event_starts_a_job_and_a_bad_one_is_announced_rejected() -> None:
    world = FakeWorld()
    event = load_event("job_requested_message")
    bad = load_event("job_requested_message")
    requested = json.loads(bad["Records"][0]["body"])
    requested["id"], requested["detail"]["duration"] = "another-event", 2
    bad["Records"][0]["body"] = json.dumps(requested)
    bad["Records"][0]["messageId"] = "another-message"

    responses = [intake.lambda_handler(e, Context(), deps=world.deps()) for e in (event, bad)]

    assert responses == [{"batchItemFailures": []}] * 2
    (job,) = world.jobs.jobs.values()
    assert job.view().client_reference == "storyboard-42/shot-3"
    (rejection,) = world.events.rejected
    assert rejection.detail[0].loc == ["body", "duration"]
    assert rejection.client_reference == "storyboard-42/shot-3"


def test_the_notify_event_posts_the_signed_outcome() -> None:
    world = FakeWorld()
    event = load_event("notify_message")
    view = json.loads(event["Records"][0]["body"])["detail"]
    world.jobs.create_if_absent(Job.model_validate({**view, "expires_at": 0}))

    response = notify.lambda_handler(event, Context(), deps=world.deps())

    assert response == {"batchItemFailures": []}
    (posted,) = world.notifier.posted
    assert posted.url == "https://hooks.example.com/videos"
    assert posted.headers["webhook-signature"].startswith("v1,")
    assert world.jobs.jobs[view["job_id"]].notification is not None


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"resolution": "8k"}, ["body", "resolution"]),
        ({"duration": "forever"}, ["body", "duration"]),
        ({"prompt": None}, ["body", "prompt"]),
        ({"first_frame_url": "ftp://x/y.png"}, ["body", "first_frame_url"]),
        ({"unknown_field": 1}, ["body", "unknown_field"]),
        ({"resolution": "1080p"}, ["body", "resolution"]),
        ({"provider": "gateway", "aspect_ratio": "4:3"}, ["body", "aspect_ratio"]),
        ({"tier": "ultra"}, ["body", "tier"]),
    ],
)
def test_bad_input_is_a_422_naming_the_field_and_writes_nothing(
    fields: dict[str, Any], loc: list[str]
) -> None:
    world = FakeWorld()

    response = intake.lambda_handler(submit_event(**fields), Context(), deps=world.deps())

    assert response["statusCode"] == 422
    detail = body_of(response)["detail"]
    assert loc in [item["loc"] for item in detail]
    assert all(item["msg"] and item["type"] for item in detail)
    assert "Traceback" not in response["body"]
    assert world.jobs.writes == 0
    assert world.provider.created == []


def test_an_idempotency_key_header_makes_retries_return_the_first_job() -> None:
    world = FakeWorld()
    keyed = submit_event()
    keyed["headers"]["idempotency-key"] = "client-retry-1"
    reused = submit_event(duration=9)
    reused["headers"]["idempotency-key"] = "client-retry-1"

    first = intake.lambda_handler(keyed, Context(), deps=world.deps())
    retry = intake.lambda_handler(keyed, Context(), deps=world.deps())
    mismatch = intake.lambda_handler(reused, Context(), deps=world.deps())

    assert (first["statusCode"], retry["statusCode"]) == (202, 202)
    assert body_of(retry)["job_id"] == body_of(first)["job_id"]
    assert mismatch["statusCode"] == 422
    assert body_of(mismatch)["detail"][0]["loc"] == ["header", "idempotency-key"]
    assert len(world.jobs.jobs) == 1
    assert len(world.dispatches.sent) == 1


def test_a_body_that_is_not_json_is_a_400_in_the_error_shape() -> None:
    world = FakeWorld()
    event = load_event("create_job")
    event["body"] = "{not json"

    response = intake.lambda_handler(event, Context(), deps=world.deps())

    assert response["statusCode"] == 400
    assert body_of(response) == {"error": {"code": "malformed_json", "message": "the body is not valid JSON"}}
    assert world.jobs.writes == 0


def test_the_published_openapi_schema_matches_the_422_body() -> None:
    schema = intake.app.get_openapi_schema().model_dump(by_alias=True, exclude_none=True)
    validation_error = schema["components"]["schemas"]["ValidationError"]
    assert set(validation_error["required"]) == {"loc", "msg", "type"}
    operation = schema["paths"]["/jobs"]["post"]
    assert {202, 422} <= set(operation["responses"])


def stored_job(world: FakeWorld, provider_job_id: str) -> Job:
    job = Job.new(JobRequest(provider="eachlabs", prompt="p"), now=world.clock(), retention=timedelta(days=1))
    world.jobs.create_if_absent(
        job.model_copy(update={"status": JobStatus.SUBMITTED, "provider_job_id": provider_job_id})
    )
    return world.jobs.jobs[job.job_id]


def webhook_event(world: FakeWorld, job: Job, token: str | None) -> dict[str, Any]:
    event = load_event("eachlabs_webhook")
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/webhooks/eachlabs/{job.job_id}"
    event["pathParameters"]["job_id"] = job.job_id
    payload = json.loads(event["body"])
    payload["output"] = "https://cdn.example.com/out.mp4"
    event["body"] = json.dumps(payload)
    if token is None:
        event.pop("queryStringParameters")
        event["rawQueryString"] = ""
    else:
        event["queryStringParameters"] = {"token": token}
        event["rawQueryString"] = f"token={token}"
    secret = world.authenticator.signing_secret_for(job.job_id)
    event["headers"].update(sign_eachlabs(secret, event["body"].encode(), int(world.clock().timestamp())))
    return event


def eachlabs_world() -> FakeWorld:
    world = FakeWorld()
    unused = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(599)))
    real = EachLabsProvider(
        unused,
        base_url="https://api.eachlabs.ai",
        api_key=SecretStr("k"),
        clock=world.clock,
        max_webhook_age=timedelta(minutes=5),
    )
    world.provider = real  # type: ignore[assignment]
    return world


def test_the_eachlabs_webhook_event_starts_the_transfer() -> None:
    world = eachlabs_world()
    job = stored_job(world, "3f1b2c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d")
    event = webhook_event(world, job, world.authenticator.token_for(job.job_id))

    response = callback.lambda_handler(event, Context(), deps=world.deps())

    assert response["statusCode"] == 200
    assert body_of(response) == {"job_id": job.job_id, "status": "transferring", "effect": "applied"}
    assert [t.job_id for t in world.transfers.sent] == [job.job_id]


@pytest.mark.parametrize("token", [None, "wrong"])
def test_a_webhook_without_the_right_token_is_401_and_changes_nothing(token: str | None) -> None:
    world = eachlabs_world()
    job = stored_job(world, "3f1b2c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d")
    writes = world.jobs.writes

    response = callback.lambda_handler(webhook_event(world, job, token), Context(), deps=world.deps())

    assert response["statusCode"] == 401
    assert body_of(response)["error"]["code"] == "unauthorized"
    assert world.jobs.writes == writes
    assert world.transfers.sent == []


def test_a_webhook_with_a_forged_signature_is_401() -> None:
    world = eachlabs_world()
    job = stored_job(world, "3f1b2c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d")
    event = webhook_event(world, job, world.authenticator.token_for(job.job_id))
    event["headers"]["x-webhook-signature"] = "sha256=" + "0" * 64

    response = callback.lambda_handler(event, Context(), deps=world.deps())

    assert response["statusCode"] == 401
    assert world.jobs.jobs[job.job_id].status is JobStatus.SUBMITTED


def test_an_unknown_provider_in_the_path_is_a_422_naming_it() -> None:
    world = eachlabs_world()
    job = stored_job(world, "x")
    event = webhook_event(world, job, world.authenticator.token_for(job.job_id))
    event["pathParameters"]["provider"] = "runway"
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/webhooks/runway/{job.job_id}"

    response = callback.lambda_handler(event, Context(), deps=world.deps())

    assert response["statusCode"] == 422
    assert body_of(response)["detail"][0]["loc"] == ["path", "provider"]


def test_status_returns_the_view_and_404_for_unknown_ids() -> None:
    world = FakeWorld()
    job = stored_job(world, "p-1")
    event = load_event("get_job")
    event["pathParameters"]["job_id"] = job.job_id
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/jobs/{job.job_id}"

    found = status.lambda_handler(event, Context(), deps=world.deps())
    missing = status.lambda_handler(load_event("get_job"), Context(), deps=world.deps())

    assert (found["statusCode"], body_of(found)["job_id"]) == (200, job.job_id)
    assert missing["statusCode"] == 404
    assert body_of(missing)["error"]["code"] == "job_not_found"


def cancel_event(job_id: str) -> dict[str, Any]:
    event = load_event("cancel_job")
    event["pathParameters"]["job_id"] = job_id
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/jobs/{job_id}/cancel"
    return event


def test_cancel_answers_202_with_the_view_then_the_same_view_and_409_for_a_finished_job() -> None:
    world = FakeWorld()
    job = stored_job(world, "p-1")
    finished = stored_job(world, "p-2")
    world.jobs.jobs[finished.job_id] = finished.model_copy(update={"status": JobStatus.SUCCEEDED})

    first = cancel.lambda_handler(cancel_event(job.job_id), Context(), deps=world.deps())
    again = cancel.lambda_handler(cancel_event(job.job_id), Context(), deps=world.deps())
    too_late = cancel.lambda_handler(cancel_event(finished.job_id), Context(), deps=world.deps())
    missing = cancel.lambda_handler(load_event("cancel_job"), Context(), deps=world.deps())

    assert (first["statusCode"], body_of(first)["status"]) == (202, "canceled")
    assert body_of(first)["cancel"]["provider_cancel"] == "accepted"
    assert (again["statusCode"], body_of(again)) == (202, body_of(first))
    assert too_late["statusCode"] == 409
    assert body_of(too_late)["error"]["code"] == "job_not_cancelable"
    assert "succeeded" in body_of(too_late)["error"]["message"]
    assert missing["statusCode"] == 404


def test_the_transfer_event_copies_and_a_failed_copy_is_reported_as_a_batch_item_failure() -> None:
    world = FakeWorld()
    job = stored_job(world, "p-1")
    world.jobs.jobs[job.job_id] = job.model_copy(update={"status": JobStatus.TRANSFERRING})
    event = load_event("transfer_message")
    record = event["Records"][0]
    record["body"] = json.dumps({"job_id": job.job_id, "source_url": "https://cdn.example.com/out.mp4"})
    world.source.files["https://cdn.example.com/out.mp4"] = fake_mp4()
    world.source.cut_next = 1

    first = transfer.lambda_handler(event, Context(), deps=world.deps())
    second = transfer.lambda_handler(event, Context(), deps=world.deps())

    assert first == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
    assert second == {"batchItemFailures": []}
    assert world.jobs.jobs[job.job_id].status is JobStatus.SUCCEEDED


def test_the_dead_letter_event_fails_the_job() -> None:
    world = FakeWorld()
    job = stored_job(world, "p-1")
    world.jobs.jobs[job.job_id] = job.model_copy(
        update={"status": JobStatus.TRANSFERRING, "transfer_error": "download cut"}
    )
    event = load_event("transfer_dead_letter_message")
    event["Records"][0]["body"] = json.dumps(
        {"job_id": job.job_id, "source_url": "https://cdn.example.com/o.mp4"}
    )

    response = dead_letter.lambda_handler(event, Context(), deps=world.deps())

    assert response == {"batchItemFailures": []}
    failed = world.jobs.jobs[job.job_id]
    assert failed.status is JobStatus.FAILED
    assert failed.error is not None
    assert "download cut" in failed.error.message


def test_the_status_check_event_finishes_a_job_or_reports_a_check_it_could_not_schedule() -> None:
    world = FakeWorld()
    job = stored_job(world, "p-1")
    event = load_event("status_check_message")
    record = event["Records"][0]
    record["body"] = json.dumps({"job_id": job.job_id, "attempt": 1})
    world.status_checks.fail_next = 1

    unscheduled = status_check.lambda_handler(event, Context(), deps=world.deps())
    world.provider.answers = [
        ProviderUpdate(
            provider_job_id="-", state=ProviderState.SUCCEEDED, output_url="https://cdn.example.com/o.mp4"
        )
    ]
    finished = status_check.lambda_handler(event, Context(), deps=world.deps())

    assert unscheduled == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
    assert finished == {"batchItemFailures": []}
    assert world.provider.checked == ["p-1", "p-1"]
    assert world.jobs.jobs[job.job_id].status is JobStatus.TRANSFERRING
    assert [t.source_url for t in world.transfers.sent] == ["https://cdn.example.com/o.mp4"]


def test_a_status_check_message_that_is_not_ours_is_a_batch_item_failure() -> None:
    world = FakeWorld()
    event = load_event("status_check_message")
    event["Records"][0]["body"] = '{"attempt": 1}'

    response = status_check.lambda_handler(event, Context(), deps=world.deps())

    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}


def test_the_dispatch_dead_letter_event_fails_the_queued_job_with_the_last_reason() -> None:
    world = FakeWorld()
    accepted = body_of(intake.lambda_handler(submit_event(), Context(), deps=world.deps()))
    job = world.jobs.jobs[accepted["job_id"]]
    world.jobs.jobs[job.job_id] = job.model_copy(update={"last_dispatch_error": "eachlabs answered HTTP 503"})
    event = load_event("dispatch_dead_letter_message")
    event["Records"][0]["body"] = json.dumps({"job_id": job.job_id})

    response = dead_letter.lambda_handler(event, Context(), deps=world.deps())

    assert response == {"batchItemFailures": []}
    failed = world.jobs.jobs[job.job_id]
    assert failed.status is JobStatus.FAILED
    assert failed.error is not None
    assert failed.error.code == "dispatch_failed"
    assert "HTTP 503" in failed.error.message
    assert [event.job_id for event in world.events.failed] == [job.job_id]


def test_the_status_check_dead_letter_event_ends_the_job_and_logs_carry_its_correlation_id() -> None:
    world = FakeWorld()
    accepted = body_of(intake.lambda_handler(submit_event(), Context(), deps=world.deps()))
    world.dispatch_all()
    event = load_event("status_check_dead_letter_message")
    event["Records"][0]["body"] = json.dumps({"job_id": accepted["job_id"], "attempt": 9})
    printed = io.StringIO()
    handler = logging.StreamHandler(printed)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    logger.setLevel("INFO")
    try:
        response = dead_letter.lambda_handler(event, Context(), deps=world.deps())
    finally:
        logger.setLevel("WARNING")
        logger.removeHandler(handler)

    assert response == {"batchItemFailures": []}
    ended = world.jobs.jobs[accepted["job_id"]]
    assert ended.status is JobStatus.FAILED
    assert ended.error is not None
    assert ended.error.code == "status_checks_failed"
    logs = [json.loads(line) for line in printed.getvalue().splitlines()]
    assert any(line["message"] == "job failed" for line in logs)
    assert {line.get("correlation_id") for line in logs} == {accepted["job_id"]}


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"body": "x" * (256 * 1024 + 1)}, 413, "too_large"),
        ({"headers": {"content-type": "text/plain"}}, 415, "unsupported_media_type"),
        ({"headers": {"content-type": "application/x-www-form-urlencoded"}}, 415, "unsupported_media_type"),
    ],
)
def test_a_body_too_large_or_not_json_is_refused_before_it_is_parsed(
    change: dict[str, Any], status: int, code: str
) -> None:
    world = FakeWorld()
    event = submit_event()
    event["headers"].update(change.get("headers", {}))
    event["body"] = change.get("body", event["body"])

    response = intake.lambda_handler(event, Context(), deps=world.deps())

    assert response["statusCode"] == status
    assert body_of(response)["error"]["code"] == code
    assert world.jobs.writes == 0


def test_a_webhook_body_over_its_own_limit_is_413() -> None:
    world = eachlabs_world()
    job = stored_job(world, "p-1")
    event = webhook_event(world, job, world.authenticator.token_for(job.job_id))
    event["body"] = "x" * (1024 * 1024 + 1)

    response = callback.lambda_handler(event, Context(), deps=world.deps())

    assert response["statusCode"] == 413
    assert world.jobs.jobs[job.job_id] == job


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_a_wrong_method_on_a_known_route_is_405_naming_the_allowed_one(method: str) -> None:
    world = FakeWorld()
    event = submit_event()
    event["requestContext"]["http"]["method"] = method
    event["routeKey"] = "ANY /jobs"  # how API Gateway routes a method the path has no route for

    response = intake.lambda_handler(event, Context(), deps=world.deps())

    assert response["statusCode"] == 405
    assert response["headers"]["Allow"] == "GET, POST"
    assert body_of(response)["error"]["code"] == "method_not_allowed"
    assert world.jobs.writes == 0


@pytest.mark.parametrize(
    ("module", "event_name"),
    [(status, "get_job"), (cancel, "cancel_job"), (callback, "eachlabs_webhook"), (callback, "fal_webhook")],
)
def test_a_job_id_that_is_not_a_uuid_is_a_422_naming_it_before_anything_is_read(
    module: Any, event_name: str
) -> None:
    event = load_event(event_name)
    path = event["rawPath"].replace(event["pathParameters"]["job_id"], "not-a-job")
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["pathParameters"]["job_id"] = "not-a-job"
    world = FakeWorld()

    response = module.lambda_handler(event, Context(), deps=world.deps())

    assert response["statusCode"] == 422
    assert [item["loc"] for item in body_of(response)["detail"]] == [["path", "job_id"]]
    assert "Traceback" not in response["body"]
    assert world.jobs.jobs == {}


def test_an_unknown_route_is_404_in_the_error_shape() -> None:
    event = load_event("get_job")
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/nothing/here"

    response = status.lambda_handler(event, Context(), deps=FakeWorld().deps())

    assert response["statusCode"] == 404
    assert body_of(response) == {"error": {"code": "not_found", "message": "no such route"}}


@pytest.mark.parametrize(
    ("module", "path", "method", "statuses"),
    [
        (intake, "/jobs", "post", {202, 400, 409, 413, 415, 422, 503}),
        (callback, "/webhooks/{provider}/{job_id}", "post", {200, 400, 401, 404, 409, 413, 422, 503}),
        (status, "/jobs/{job_id}", "get", {200, 404, 422, 503}),
        (cancel, "/jobs/{job_id}/cancel", "post", {202, 404, 409, 422, 503}),
    ],
)
def test_the_openapi_document_declares_every_status_a_route_answers(
    module: Any, path: str, method: str, statuses: set[int]
) -> None:
    schema = module.app.get_openapi_schema().model_dump(by_alias=True, exclude_none=True)
    responses = schema["paths"][path][method]["responses"]

    assert {int(code) for code in responses} == statuses
    for code, response in responses.items():
        if int(code) >= 400 and int(code) != 422:
            ref = response["content"]["application/json"]["schema"]["$ref"]
            assert ref.endswith("/ErrorBody")


# -- Replicate's webhook (events/replicate_webhook.json) ------------------------------------------------
REPLICATE_SECRET = "whsec_" + base64.b64encode(b"replicate account signing key 32").decode()
OTHER_REPLICATE_SECRET = "whsec_" + base64.b64encode(b"somebody else's signing key, 32b").decode()


def replicate_world() -> tuple[FakeWorld, list[httpx.Request]]:
    """A world whose replicate adapter is the real one; its only HTTP call is the account secret's GET."""
    world = FakeWorld()
    calls: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json={"key": REPLICATE_SECRET})

    world.providers["replicate"] = ReplicateProvider(  # type: ignore[assignment]
        httpx.Client(transport=httpx.MockTransport(answer)),
        base_url="https://api.replicate.com",
        api_key=SecretStr("r8_key"),
        clock=world.clock,
        max_webhook_age=timedelta(minutes=5),
    )
    return world, calls


def replicate_job(world: FakeWorld) -> Job:
    job = Job.new(
        JobRequest(provider="replicate", prompt="p"), now=world.clock(), retention=timedelta(days=1)
    )
    world.jobs.create_if_absent(
        job.model_copy(
            update={"status": JobStatus.SUBMITTED, "provider_job_id": "gm3qorzdhgbfurvjtvhg6dckhu"}
        )
    )
    return world.jobs.jobs[job.job_id]


def replicate_event(
    world: FakeWorld, job: Job, *, secret: str = REPLICATE_SECRET, age: int = 0
) -> dict[str, Any]:
    event = load_event("replicate_webhook")
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/webhooks/replicate/{job.job_id}"
    event["pathParameters"]["job_id"] = job.job_id
    token = world.authenticator.token_for(job.job_id)
    event["queryStringParameters"] = {"token": token}
    event["rawQueryString"] = f"token={token}"
    payload = json.loads(event["body"])
    payload["output"] = "https://cdn.example.com/out.mp4"
    event["body"] = json.dumps(payload)
    timestamp = int(world.clock().timestamp()) - age
    event["headers"].update(
        StandardWebhook(secret).headers(event["headers"]["webhook-id"], timestamp, event["body"].encode())
    )
    return event


def test_the_replicate_webhook_event_starts_the_transfer_with_one_fetch_of_the_secret() -> None:
    world, calls = replicate_world()
    job = replicate_job(world)

    first = callback.lambda_handler(replicate_event(world, job), Context(), deps=world.deps())
    again = callback.lambda_handler(replicate_event(world, job), Context(), deps=world.deps())

    assert (first["statusCode"], again["statusCode"]) == (200, 200)
    assert body_of(first) == {"job_id": job.job_id, "status": "transferring", "effect": "applied"}
    assert body_of(again)["effect"] == "ignored"
    assert [t.job_id for t in world.transfers.sent] == [job.job_id]
    assert [(r.method, str(r.url)) for r in calls] == [
        ("GET", "https://api.replicate.com/v1/webhooks/default/secret")
    ]


@pytest.mark.parametrize("tamper", ["forged", "stale", "unknown key"])
def test_a_forged_stale_or_foreign_replicate_signature_is_401_and_changes_nothing(tamper: str) -> None:
    world, _ = replicate_world()
    job = replicate_job(world)
    event = {
        "forged": replicate_event(world, job),
        "stale": replicate_event(world, job, age=301),
        "unknown key": replicate_event(world, job, secret=OTHER_REPLICATE_SECRET),
    }[tamper]
    if tamper == "forged":
        event["headers"]["webhook-signature"] = "v1," + base64.b64encode(bytes(32)).decode()
    writes = world.jobs.writes

    response = callback.lambda_handler(event, Context(), deps=world.deps())

    assert response["statusCode"] == 401
    assert body_of(response)["error"]["code"] == "unauthorized"
    assert world.jobs.writes == writes
    assert world.transfers.sent == []


# -- BytePlus ModelArk: an unsigned callback, confirmed by one status GET --------------------------------
def byteplus_world(task: dict[str, Any]) -> tuple[FakeWorld, list[httpx.Request]]:
    """The real BytePlus adapter; ModelArk (a MockTransport) answers every status GET with `task`."""
    world = FakeWorld()
    asked: list[httpx.Request] = []

    def modelark(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        return httpx.Response(200, json=task)

    world.providers["byteplus"] = BytePlusProvider(  # type: ignore[assignment]
        httpx.Client(transport=httpx.MockTransport(modelark)),
        base_url="https://ark.ap-southeast.bytepluses.com/api/v3",
        api_key=SecretStr("k"),
        models={"standard": "m", "fast": "m", "mini": "m"},
        default_tier="standard",
    )
    return world, asked


def byteplus_event(world: FakeWorld) -> tuple[dict[str, Any], Job, dict[str, Any]]:
    event = load_event("byteplus_webhook")
    claimed = json.loads(event["body"])
    job = Job.new(JobRequest(provider="byteplus", prompt="p"), now=world.clock(), retention=timedelta(days=1))
    job = job.model_copy(
        update={
            "job_id": event["pathParameters"]["job_id"],
            "status": JobStatus.SUBMITTED,
            "provider_job_id": claimed["id"],
        }
    )
    world.jobs.create_if_absent(job)
    token = world.authenticator.token_for(job.job_id)
    event["queryStringParameters"] = {"token": token}
    event["rawQueryString"] = f"token={token}"
    return event, job, claimed


def test_the_byteplus_callback_event_is_believed_once_the_status_get_agrees() -> None:
    sample = json.loads(load_event("byteplus_webhook")["body"])
    agreed = {**sample, "content": {"video_url": "https://cdn.example.com/out.mp4"}}
    world, asked = byteplus_world(agreed)
    event, job, claimed = byteplus_event(world)

    response = callback.lambda_handler(event, Context(), deps=world.deps())

    assert response["statusCode"] == 200
    assert body_of(response) == {"job_id": job.job_id, "status": "transferring", "effect": "applied"}
    assert [(r.method, r.url.path) for r in asked] == [
        ("GET", f"/api/v3/contents/generations/tasks/{claimed['id']}")
    ]
    assert [t.source_url for t in world.transfers.sent] == ["https://cdn.example.com/out.mp4"]


def test_the_byteplus_callback_event_changes_nothing_while_modelark_says_running() -> None:
    world, asked = byteplus_world({"id": "ignored", "status": "running"})
    event, job, _ = byteplus_event(world)

    response = callback.lambda_handler(event, Context(), deps=world.deps())

    assert response["statusCode"] == 200
    assert body_of(response) == {"job_id": job.job_id, "status": "processing", "effect": "applied"}
    assert len(asked) == 1
    assert world.transfers.sent == []
    assert world.jobs.jobs[job.job_id].output_url is None


def test_the_byteplus_callback_event_without_its_token_is_401_before_any_get() -> None:
    world, asked = byteplus_world({"id": "x", "status": "succeeded"})
    event, job, _ = byteplus_event(world)
    event["queryStringParameters"] = {"token": "forged"}
    event["rawQueryString"] = "token=forged"

    response = callback.lambda_handler(event, Context(), deps=world.deps())

    assert response["statusCode"] == 401
    assert asked == []
    assert world.jobs.jobs[job.job_id].status is JobStatus.SUBMITTED


# -- GET /spend (events/get_spend.json) ---------------------------------------------------------------
def test_spend_answers_the_day_the_month_and_the_end_users_day_and_422_naming_a_bad_parameter() -> None:
    from videojobs.dependencies import BudgetPolicy

    world = FakeWorld(budget_policy=BudgetPolicy(daily_limit_micros=10_000_000))
    world.budget.counters["day#" + world.clock().date().isoformat()] = [1_250_000, 500_000]
    event = load_event("get_spend")
    bad = load_event("get_spend")
    bad["queryStringParameters"] = {"end_user_id": ""}
    bad["rawQueryString"] = "end_user_id="

    found = status.lambda_handler(event, Context(), deps=world.deps())
    refused = status.lambda_handler(bad, Context(), deps=world.deps())

    assert found["statusCode"] == 200
    report = body_of(found)
    assert report["day"] == {
        "date": world.clock().date().isoformat(),
        "limit": 10.0,
        "spent": 1.25,
        "reserved": 0.5,
    }
    assert report["month"]["limit"] is None
    assert report["end_user"]["end_user_id"] == "user-42"
    assert refused["statusCode"] == 422
    assert body_of(refused)["detail"][0]["loc"] == ["query", "end_user_id"]


def test_spend_answers_503_when_the_ledger_is_down() -> None:
    world = FakeWorld()
    world.budget.down = True

    answer = status.lambda_handler(load_event("get_spend"), Context(), deps=world.deps())

    assert answer["statusCode"] == 503


# -- GET /providers (events/get_providers.json) --------------------------------------------------------
def test_providers_answers_each_provider_with_its_price_slots_breaker_and_benched_keys() -> None:
    world = FakeWorld()
    world.health.threshold = 1
    world.health.record_failure("fal", now=world.clock())
    world.health.bench_key("byteplus", "key-1", until=world.clock() + timedelta(minutes=15))
    world.capacity.holders["eachlabs#key-1#slot#000"] = "some-job"
    stranger = load_event("get_providers")
    stranger["queryStringParameters"] = {"verbose": "1"}
    stranger["rawQueryString"] = "verbose=1"

    answer = status.lambda_handler(load_event("get_providers"), Context(), deps=world.deps())
    refused = status.lambda_handler(stranger, Context(), deps=world.deps())

    assert answer["statusCode"] == 200
    views = {view["provider"]: view for view in body_of(answer)["providers"]}
    assert list(views) == list(world.routing_policy.order)
    assert views["byteplus"]["price_5s_720p_usd"] == 0.756
    assert views["gateway"]["price_5s_720p_usd"] is None
    assert views["eachlabs"]["slots_in_use"] == 1
    assert views["eachlabs"]["enabled"] is True
    assert views["fal"]["breaker"]["state"] == "open"
    assert views["fal"]["breaker"]["open_until"] is not None
    assert views["eachlabs"]["breaker"] == {"state": "closed", "consecutive_failures": 0, "open_until": None}
    assert [key["key_id"] for key in views["byteplus"]["benched_keys"]] == ["key-1"]
    assert views["replicate"]["capabilities"]["tiers"]["standard"] == ["480p", "720p", "1080p", "4k"]
    assert refused["statusCode"] == 422
