"""What the host offers dialects beyond today's four: a queued phase, cancellation, webhooks on every
status change, Ed25519 key rings of their own, and PUT/DELETE routes. Exercised through a toy dialect
written only against `local.simulator.protocol`, as the next dialects will be."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from local.simulator import DEFAULT_API_KEYS, JobStatus, ProviderSimulator
from local.simulator.dialects import BUILTIN_DIALECTS
from local.simulator.fields import FieldReader
from local.simulator.media import ClipSpec
from local.simulator.protocol import (
    CancelOutcome,
    Dialect,
    JobPlan,
    JSONObject,
    OutgoingWebhook,
    Rejection,
    SimRequest,
    SimResponse,
    SimulatedJob,
)
from local.simulator.signing import b64url
from local.simulator.testing import LoopbackPeer, client, quick_simulator

TOY_KEY = "sim-toy-key"
SIGNATURE_HEADER = "X-Toy-Signature"
KID_HEADER = "X-Toy-Key-Id"


class ToyDialect(Dialect):
    """Create, read, cancel (DELETE: queued only; PUT: running too), a JWKS of its own, and a callback
    on every status change, the terminal one signed (hex Ed25519 over ``"{id}." + body``)."""

    provider = "toy"

    def route(self, request: SimRequest) -> SimResponse:
        path = request.path.rstrip("/")
        if path == "/.well-known/jwks.json":
            return SimResponse(200, cast(JSONObject, self.key_ring().jwks()))
        self.require_bearer(request)
        match (request.method, path.split("/")[1:]):
            case ("POST", ["tasks"]):
                job = self.start_job(request, f"toy_{uuid.uuid4().hex}", _plan)
                return SimResponse(200, _task(job))
            case ("GET", ["tasks", task_id]):
                return SimResponse(200, _task(self._job(task_id)))
            case ("DELETE", ["tasks", task_id]):
                return SimResponse(200, {"outcome": self.cancel(task_id).value})
            case ("PUT", ["tasks", task_id, "cancel"]):
                outcome = self.host.cancel(task_id, self.provider, allow_running=True)
                return SimResponse(202, {"outcome": outcome.value})
        raise self.not_found(request)

    def error(self, status: int, message: str, details: str = "") -> SimResponse:
        return SimResponse(status, {"error": message, "details": details})

    def webhook_on_change(self, job: SimulatedJob) -> OutgoingWebhook | None:
        if job.webhook_url is None:
            return None
        return OutgoingWebhook(job.webhook_url, json.dumps(_task(job)).encode(), {"X-Toy-Event": "change"})

    def webhook_for(self, job: SimulatedJob) -> OutgoingWebhook | None:
        if job.webhook_url is None:
            return None
        body = json.dumps(_task(job)).encode()
        kid, signature = self.key_ring().sign(job.id.encode() + b"." + body)
        headers = {"X-Toy-Event": "terminal", SIGNATURE_HEADER: signature.hex(), KID_HEADER: kid}
        return OutgoingWebhook(job.webhook_url, body, headers)

    def _job(self, task_id: str) -> SimulatedJob:
        job = self.host.job(task_id, self.provider)
        if job is None:
            raise Rejection(404, "Task not found")
        return job


def _plan(body: JSONObject) -> JobPlan:
    fields = FieldReader(body)
    fields.refuse_unknown(("prompt", "callback_url"))
    fields.required_string("prompt")
    clip = ClipSpec(width=64, height=64, duration_seconds=1, with_audio=False)
    return JobPlan(clip=clip, webhook_url=fields.http_url("callback_url"))


def _task(job: SimulatedJob) -> JSONObject:
    return {"id": job.id, "status": job.status.value, "video_url": job.output_url}


@pytest.fixture
def sim(clip_cache_dir: Path) -> Iterator[ProviderSimulator]:
    keys = {**DEFAULT_API_KEYS, "toy": TOY_KEY}
    with quick_simulator(clip_cache_dir, api_keys=keys, dialects=[*BUILTIN_DIALECTS, ToyDialect]) as started:
        yield started


@pytest.fixture
def toy(sim: ProviderSimulator) -> Iterator[httpx.Client]:
    with client(sim.provider_base_url("toy"), bearer=TOY_KEY) as toy_client:
        yield toy_client


def create(toy: httpx.Client, callback_url: str | None = None) -> str:
    body = {"prompt": "a red fox"} | ({"callback_url": callback_url} if callback_url else {})
    response = toy.post("/tasks", json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def hold(http: httpx.Client, sim: ProviderSimulator, held: bool) -> None:
    http.post(f"{sim.base_url}/_sim/faults", json={"hold_in_queue": held}).raise_for_status()


def active(sim: ProviderSimulator) -> int:
    return sim.usage()["toy"][TOY_KEY]["active"]


# -- the queued phase -----------------------------------------------------------------------------------
def test_by_default_a_job_starts_processing_at_once(sim: ProviderSimulator, toy: httpx.Client) -> None:
    job_id = create(toy)

    assert sim.prediction(job_id).status is not JobStatus.QUEUED  # type: ignore[union-attr]
    assert sim.wait_for_prediction(job_id).status is JobStatus.SUCCEEDED


def test_hold_in_queue_keeps_jobs_queued_until_it_is_switched_off(
    sim: ProviderSimulator, toy: httpx.Client, http: httpx.Client
) -> None:
    hold(http, sim, True)
    job_id = create(toy)

    assert toy.get(f"/tasks/{job_id}").json()["status"] == "queued"
    assert active(sim) == 1
    with pytest.raises(TimeoutError):
        sim.wait_for_prediction(job_id, timeout=0.3)
    assert sim.prediction(job_id).started_at is None  # type: ignore[union-attr]

    hold(http, sim, False)
    finished = sim.wait_for_prediction(job_id)
    assert finished.status is JobStatus.SUCCEEDED
    assert finished.started_at is not None
    assert active(sim) == 0


def test_queue_seconds_hold_each_job_that_long(clip_cache_dir: Path) -> None:
    with quick_simulator(clip_cache_dir, queue_seconds=0.4) as sim:
        with client(sim.provider_base_url("jobs_api"), bearer=DEFAULT_API_KEYS["jobs_api"]) as jobs_api:
            created = jobs_api.post(
                "/v1/jobs", json={"model": "seedance-2.0/text-to-video", "input": {"prompt": "x"}}
            )
            job_id = created.json()["id"]
            assert jobs_api.get(f"/v1/jobs/{job_id}").json()["status"] == "queued"

        finished = sim.wait_for_prediction(job_id)

    assert finished.status is JobStatus.SUCCEEDED
    assert finished.started_at is not None
    assert finished.started_at - finished.created_at >= 0.4


def test_hold_in_queue_must_be_a_boolean(sim: ProviderSimulator, http: httpx.Client) -> None:
    refused = http.post(f"{sim.base_url}/_sim/faults", json={"hold_in_queue": 1})

    assert refused.status_code == 400
    assert "hold_in_queue" in refused.json()["error"]
    assert http.get(f"{sim.base_url}/_sim/faults").json()["hold_in_queue"] is False


@pytest.mark.parametrize(
    ("provider", "create_path", "body", "status_path", "word"),
    [
        (
            "eachlabs",
            "/v1/prediction",
            {
                "model": "bytedance-seedance-2-0-text-to-video-fast",
                "version": "0.0.1",
                "input": {"prompt": "x", "resolution": "480p", "duration": "4"},
            },
            "/v1/prediction/{id}",
            "starting",
        ),
        (
            "atlascloud",
            "/api/v1/model/generateVideo",
            {
                "model": "bytedance/seedance-2.0/text-to-video",
                "prompt": "x",
                "resolution": "480p",
                "duration": 4,
            },
            "/api/v1/model/prediction/{id}",
            "starting",
        ),
        (
            "gateway",
            "/v1/video/generations",
            {"model": "seedance2.0-480p", "prompt": "x"},
            "/v1/videos/{id}",
            "queued",
        ),
        (
            "jobs_api",
            "/v1/jobs",
            {"model": "seedance-2.0/text-to-video", "input": {"prompt": "x"}},
            "/v1/jobs/{id}",
            "queued",
        ),
        (
            "byteplus",
            "/api/v3/contents/generations/tasks",
            {"model": "dreamina-seedance-2-0-fast-260128", "content": [{"type": "text", "text": "x"}]},
            "/api/v3/contents/generations/tasks/{id}",
            "queued",
        ),
    ],
)
def test_every_builtin_dialect_words_a_queued_job(
    sim: ProviderSimulator,
    http: httpx.Client,
    provider: str,
    create_path: str,
    body: JSONObject,
    status_path: str,
    word: str,
) -> None:
    hold(http, sim, True)
    headers = (
        {"X-API-Key": DEFAULT_API_KEYS[provider]}
        if provider == "eachlabs"
        else {"Authorization": f"Bearer {DEFAULT_API_KEYS[provider]}"}
    )
    base = sim.provider_base_url(provider)
    created = http.post(f"{base}{create_path}", json=body, headers=headers).json()
    job_id = created.get("predictionID") or created.get("data", {}).get("id") or created["id"]

    reads = [http.get(f"{base}{status_path.format(id=job_id)}", headers=headers) for _ in range(2)]

    assert [read.status_code for read in reads] == [200, 200]
    answers = [read.json() for read in reads]
    assert [answer.get("data", answer)["status"] for answer in answers] == [word, word]
    hold(http, sim, False)
    assert sim.wait_for_prediction(job_id).status is JobStatus.SUCCEEDED


# -- cancellation ---------------------------------------------------------------------------------------
def test_a_queued_job_cancelled_never_renders_frees_its_key_and_gets_a_cancelled_webhook(
    sim: ProviderSimulator, toy: httpx.Client, http: httpx.Client, peer: LoopbackPeer
) -> None:
    hold(http, sim, True)
    job_id = create(toy, f"{peer.url}/hook")

    answer = toy.delete(f"/tasks/{job_id}")
    hold(http, sim, False)
    finished = sim.wait_for_prediction(job_id)

    assert answer.json() == {"outcome": "cancelled"}
    assert finished.status is JobStatus.CANCELLED
    assert finished.output_url is None
    assert active(sim) == 0
    terminal = [call for call in peer.wait_for(2) if call.headers["x-toy-event"] == "terminal"]
    assert [call.json()["status"] for call in terminal] == ["cancelled"]
    assert sim.usage()["toy"][TOY_KEY]["creates"] == 1


def test_the_queued_only_rule_refuses_a_running_job_the_other_cancels_it(
    sim: ProviderSimulator, toy: httpx.Client
) -> None:
    sim.processing_seconds = 5.0
    job_id = create(toy)

    refused = toy.delete(f"/tasks/{job_id}")
    accepted = toy.put(f"/tasks/{job_id}/cancel")
    again = toy.put(f"/tasks/{job_id}/cancel")

    assert refused.json() == {"outcome": CancelOutcome.RUNNING.value}
    assert (accepted.status_code, accepted.json()) == (202, {"outcome": CancelOutcome.CANCELLED.value})
    assert again.json() == {"outcome": CancelOutcome.ALREADY_FINISHED.value}
    finished = sim.wait_for_prediction(job_id, timeout=2)
    assert finished.status is JobStatus.CANCELLED
    assert active(sim) == 0


def test_a_finished_or_unknown_job_is_not_cancelled(sim: ProviderSimulator, toy: httpx.Client) -> None:
    job_id = create(toy)
    sim.wait_for_prediction(job_id)

    assert toy.put(f"/tasks/{job_id}/cancel").json() == {"outcome": "already_finished"}
    assert toy.put("/tasks/toy_nope/cancel").json() == {"outcome": "not_found"}
    assert sim.prediction(job_id).status is JobStatus.SUCCEEDED  # type: ignore[union-attr]


def test_a_stalled_job_can_be_cancelled_and_still_gets_its_terminal_webhook(
    sim: ProviderSimulator, toy: httpx.Client, peer: LoopbackPeer
) -> None:
    sim.faults.stall_predictions = 1
    job_id = create(toy, f"{peer.url}/hook")
    peer.wait_for(1)  # the "processing" change: the worker has started

    toy.put(f"/tasks/{job_id}/cancel")

    finished = sim.wait_for_prediction(job_id, timeout=5)
    assert finished.status is JobStatus.CANCELLED
    assert finished.webhook_state.value == "delivered"
    assert json.loads(finished.webhook_body or "{}")["status"] == "cancelled"


# -- status-change webhooks -----------------------------------------------------------------------------
def test_a_dialect_that_opts_in_is_called_back_on_every_status_change_in_order(
    sim: ProviderSimulator, toy: httpx.Client, http: httpx.Client, peer: LoopbackPeer
) -> None:
    hold(http, sim, True)
    job_id = create(toy, f"{peer.url}/hook")
    peer.wait_for(1)
    hold(http, sim, False)

    calls = peer.wait_for(3)
    finished = sim.wait_for_prediction(job_id)

    assert [(call.headers["x-toy-event"], call.json()["status"]) for call in calls] == [
        ("change", "queued"),
        ("change", "processing"),
        ("terminal", "succeeded"),
    ]
    assert [(sent.status, sent.delivered) for sent in finished.status_webhooks] == [
        (JobStatus.QUEUED, True),
        (JobStatus.PROCESSING, True),
    ]
    assert finished.status_webhooks[0].to_json()["status"] == "queued"


def test_status_change_webhooks_are_retried_and_the_faults_touch_only_the_terminal_one(
    sim: ProviderSimulator, toy: httpx.Client, peer: LoopbackPeer
) -> None:
    peer.post_statuses = [500]
    sim.faults.duplicate_webhooks = 2
    job_id = create(toy, f"{peer.url}/hook")

    finished = sim.wait_for_prediction(job_id)

    (processing,) = finished.status_webhooks
    assert [attempt.status_code for attempt in processing.attempts] == [500, 200]
    events = [call.headers["x-toy-event"] for call in peer.wait_for(4)]
    assert events == ["change", "change", "terminal", "terminal"]


def test_the_builtin_dialects_still_send_only_their_terminal_webhook(
    sim: ProviderSimulator, http: httpx.Client, peer: LoopbackPeer
) -> None:
    hold(http, sim, True)
    headers = {"Authorization": f"Bearer {DEFAULT_API_KEYS['jobs_api']}"}
    body = {"model": "seedance-2.0/text-to-video", "input": {"prompt": "x", "callback_url": f"{peer.url}/cb"}}
    job_id = http.post(f"{sim.provider_base_url('jobs_api')}/v1/jobs", json=body, headers=headers).json()[
        "id"
    ]
    hold(http, sim, False)

    finished = sim.wait_for_prediction(job_id)

    assert finished.status_webhooks == []
    assert [call.json()["status"] for call in peer.wait_for(1)] == ["succeeded"]
    assert len(peer.calls("POST")) == 1


# -- a key ring of the dialect's own --------------------------------------------------------------------
def test_a_dialect_signs_with_its_own_ring_published_at_its_own_jwks_which_rotate_rotates(
    sim: ProviderSimulator, toy: httpx.Client, http: httpx.Client, peer: LoopbackPeer
) -> None:
    job_id = create(toy, f"{peer.url}/hook")
    sim.wait_for_prediction(job_id)
    terminal = next(call for call in peer.wait_for(2) if call.headers["x-toy-event"] == "terminal")
    jwks = http.get(f"{sim.provider_base_url('toy')}/.well-known/jwks.json").json()

    (key,) = jwks["keys"]
    assert key["kid"] == terminal.headers[KID_HEADER.lower()] != sim.signing_keys.current_kid
    public_key = Ed25519PublicKey.from_public_bytes(_b64url_decode(key["x"]))
    signature = bytes.fromhex(terminal.headers[SIGNATURE_HEADER.lower()])
    public_key.verify(signature, job_id.encode() + b"." + terminal.body)
    with pytest.raises(InvalidSignature):
        public_key.verify(signature, b"tampered." + terminal.body)

    shared_kid = http.post(f"{sim.base_url}/_sim/keys/rotate").json()["kid"]

    rotated = http.get(f"{sim.provider_base_url('toy')}/.well-known/jwks.json").json()["keys"]
    assert [listed["kid"] for listed in rotated] == [sim.key_ring("toy").current_kid, key["kid"]]
    assert shared_kid == sim.signing_keys.current_kid
    assert b64url(_b64url_decode(key["x"])) == key["x"]


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# -- PUT and DELETE reach the dialect -------------------------------------------------------------------
@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_every_method_reaches_the_dialect_and_the_request_log(
    sim: ProviderSimulator, toy: httpx.Client, method: str
) -> None:
    response = toy.request(method, "/nowhere")

    assert response.status_code == 404
    assert response.json()["error"] == "Not found"
    assert [entry["method"] for entry in sim.requests_for("toy")] == [method]
