"""The BytePlus ModelArk adapter against the simulator's ModelArk dialect, over real HTTP: creates, status
reads, the unsigned callbacks (believed only after a status GET, which the simulator's request log shows),
and ModelArk's own cancel (DELETE of a queued task)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from local.simulator import DEFAULT_API_KEYS, JobStatus, ProviderSimulator
from local.simulator.testing import LoopbackPeer, ReceivedCall, quick_simulator, video_facts
from tests.support import FakeWorld, submit_job
from videojobs.errors import CancelRefused, ProviderError
from videojobs.logic.callback import UpdateEffect, WebhookReceipt, receive_webhook
from videojobs.models import JobRequest, ProviderState, WebhookTarget
from videojobs.models import JobStatus as OurJobStatus
from videojobs.providers.byteplus import BytePlusSettings
from videojobs.providers.byteplus.adapter import BytePlusProvider

TASKS = "/byteplus/api/v3/contents/generations/tasks"


@pytest.fixture
def sim(clip_cache_dir: Path) -> Iterator[ProviderSimulator]:
    """A simulator of this module's own: its faults (held queue, stalls) must not leak."""
    with quick_simulator(clip_cache_dir) as simulator:
        yield simulator


@pytest.fixture
def byteplus(sim: ProviderSimulator) -> Iterator[BytePlusProvider]:
    settings = BytePlusSettings()
    with httpx.Client(timeout=10) as http_client:
        yield BytePlusProvider(
            http_client,
            base_url=sim.pipeline_settings("byteplus")["BYTEPLUS_BASE_URL"],
            api_key=SecretStr(DEFAULT_API_KEYS["byteplus"]),
            models={tier: settings.model_for(tier) for tier in ("standard", "fast", "mini")},
            default_tier="standard",
            execution_expires_after=settings.execution_expires_after,
        )


def hold(sim: ProviderSimulator, held: bool) -> None:
    sim.faults.hold_in_queue = held


def hook(peer: LoopbackPeer) -> WebhookTarget:
    """Callbacks only ever go to the loopback peer."""
    return WebhookTarget(url=f"{peer.url}/hook?token=abc", signing_secret="unused")


def calls_to(sim: ProviderSimulator, task_id: str) -> list[tuple[str, str, int]]:
    """(method, path, status) of every request the simulator logged for this task or its creation."""
    return [
        (entry["method"], entry["path"], entry["status"])
        for entry in sim.requests_for("byteplus")
        if entry["path"] in (TASKS, f"{TASKS}/{task_id}")
    ]


# -- create, callbacks, status ----------------------------------------------------------------------------
def test_text_to_video_calls_back_on_each_change_and_the_status_read_finds_the_mp4(
    byteplus: BytePlusProvider, sim: ProviderSimulator, peer: LoopbackPeer
) -> None:
    webhook = hook(peer)
    request = JobRequest(
        provider="byteplus", prompt="a lighthouse", resolution="480p", duration=4, tier="fast"
    )

    receipt = byteplus.create_prediction(request, webhook)
    calls = peer.wait_for(2)
    updates = [byteplus.parse_webhook(call.headers, call.body, signing_secret="") for call in calls]
    final = byteplus.get_prediction(receipt.provider_job_id)

    assert receipt.provider_job_id.startswith("cgt-")
    assert [(update.provider_job_id, update.state) for update in updates] == [
        (receipt.provider_job_id, ProviderState.PROCESSING),
        (receipt.provider_job_id, ProviderState.SUCCEEDED),
    ]
    assert final.state is ProviderState.SUCCEEDED
    assert final.output_url == updates[1].output_url
    assert final.output_url is not None
    facts = video_facts(httpx.get(final.output_url).content)
    assert (facts.width, facts.height) == (854, 480)
    record = sim.prediction(receipt.provider_job_id)
    assert record is not None
    assert record.request["model"] == "dreamina-seedance-2-0-fast-260128"
    assert record.request["callback_url"] == webhook.url
    assert record.request["execution_expires_after"] == 7200


def test_first_and_last_frame_with_the_last_frame_returned(
    byteplus: BytePlusProvider, sim: ProviderSimulator, peer: LoopbackPeer
) -> None:
    request = JobRequest(
        provider="byteplus",
        prompt="p",
        first_frame_url="https://cdn.example.com/first.png",
        last_frame_url="https://cdn.example.com/last.png",
        aspect_ratio="auto",
        return_last_frame=True,
        resolution="480p",
    )

    receipt = byteplus.create_prediction(request, hook(peer))
    sim.wait_for_prediction(receipt.provider_job_id)
    final = byteplus.get_prediction(receipt.provider_job_id)

    record = sim.prediction(receipt.provider_job_id)
    assert record is not None
    assert [item.get("role") for item in record.request["content"]] == [None, "first_frame", "last_frame"]  # type: ignore[union-attr]
    assert (record.request["ratio"], record.request["duration"]) == ("adaptive", -1)
    assert final.last_frame_url is not None
    assert httpx.get(final.last_frame_url).content.startswith(b"\x89PNG")


def test_a_request_the_model_cannot_serve_is_a_400_that_does_not_retry(
    byteplus: BytePlusProvider, peer: LoopbackPeer
) -> None:
    request = JobRequest(provider="byteplus", prompt="p", tier="fast", resolution="1080p")

    with pytest.raises(ProviderError, match="resolution") as raised:
        byteplus.create_prediction(request, hook(peer))

    assert (raised.value.status_code, raised.value.retryable) == (400, False)


def test_a_429_carries_retry_after_and_a_lost_answer_is_ambiguous(
    byteplus: BytePlusProvider, sim: ProviderSimulator, peer: LoopbackPeer
) -> None:
    request = JobRequest(provider="byteplus", prompt="p", resolution="480p")
    webhook = hook(peer)
    sim.faults.reject_creates_with_status = 429
    sim.faults.reject_creates_retry_after = 3

    with pytest.raises(ProviderError) as limited:
        byteplus.create_prediction(request, webhook)
    sim.faults.ambiguous_creates = 1
    with pytest.raises(ProviderError) as lost:
        byteplus.create_prediction(request, webhook)

    assert (limited.value.status_code, limited.value.retryable, limited.value.retry_after_seconds) == (
        429,
        True,
        3,
    )
    assert (lost.value.retryable, lost.value.ambiguous) == (True, True)
    assert [job.ambiguous_create for job in sim.predictions()] == [True]


# -- unsigned callbacks: believed only after a GET --------------------------------------------------------
@pytest.fixture
def world(byteplus: BytePlusProvider, peer: LoopbackPeer) -> FakeWorld:
    """The pipeline's fakes, with the real adapter talking to the simulator for provider byteplus; the
    webhook URLs it hands out point at the loopback peer."""
    world = FakeWorld(public_base_url=peer.url)
    world.providers["byteplus"] = byteplus  # type: ignore[assignment]
    return world


def test_a_forged_succeeded_callback_changes_nothing_until_the_status_get_agrees(
    world: FakeWorld, sim: ProviderSimulator
) -> None:
    sim.faults.stall_predictions = 1
    job = submit_job(JobRequest(provider="byteplus", prompt="a lighthouse", resolution="480p"), world.deps())
    task_id = job.provider_job_id or ""
    forged = {
        "id": task_id,
        "status": "succeeded",
        "content": {"video_url": "https://evil.example.com/not-yours.mp4"},
    }
    token = world.authenticator.token_for(job.job_id)
    sim.clear_requests()

    receipt = receive_webhook("byteplus", job.job_id, token, {}, json.dumps(forged).encode(), world.deps())

    assert receipt.status is OurJobStatus.PROCESSING
    assert world.jobs.jobs[job.job_id].output_url is None
    assert world.transfers.sent == []
    assert calls_to(sim, task_id) == [("GET", f"{TASKS}/{task_id}", 200)]
    assert sim.prediction(task_id).status is JobStatus.PROCESSING  # type: ignore[union-attr]


def test_the_real_intermediate_callbacks_are_harmless_and_the_last_one_finishes_the_job(
    world: FakeWorld, sim: ProviderSimulator, peer: LoopbackPeer
) -> None:
    hold(sim, True)
    sim.processing_seconds = 1.5
    job = submit_job(JobRequest(provider="byteplus", prompt="a lighthouse", resolution="480p"), world.deps())
    task_id = job.provider_job_id or ""
    token = world.authenticator.token_for(job.job_id)

    def deliver(call: ReceivedCall) -> WebhookReceipt:
        return receive_webhook("byteplus", job.job_id, token, call.headers, call.body, world.deps())

    (queued,) = peer.wait_for(1)
    on_queued = deliver(queued)
    hold(sim, False)
    running = peer.wait_for(2)[1]
    on_running = deliver(running)
    after_running = list(world.transfers.sent)
    succeeded = peer.wait_for(3)[2]
    on_succeeded = deliver(succeeded)

    assert [call.json()["status"] for call in (queued, running, succeeded)] == [
        "queued",
        "running",
        "succeeded",
    ]
    assert queued.path == f"/webhooks/byteplus/{job.job_id}?token={token}"
    assert (on_queued.status, on_queued.effect) == (OurJobStatus.PROCESSING, UpdateEffect.APPLIED)
    assert (on_running.status, on_running.effect) == (OurJobStatus.PROCESSING, UpdateEffect.IGNORED)
    assert after_running == []
    assert (on_succeeded.status, on_succeeded.effect) == (OurJobStatus.TRANSFERRING, UpdateEffect.APPLIED)
    record = sim.wait_for_prediction(task_id)
    assert [transfer.source_url for transfer in world.transfers.sent] == [record.output_url]
    gets = [call for call in calls_to(sim, task_id) if call[0] == "GET"]
    assert len(gets) == 3


# -- ModelArk's own cancel -------------------------------------------------------------------------------
def test_cancel_of_a_queued_task_deletes_it_with_modelark_s_own_call(
    byteplus: BytePlusProvider, sim: ProviderSimulator, peer: LoopbackPeer
) -> None:
    hold(sim, True)
    receipt = byteplus.create_prediction(
        JobRequest(provider="byteplus", prompt="p", resolution="480p"),
        hook(peer),
    )
    task_id = receipt.provider_job_id

    byteplus.cancel(task_id)
    hold(sim, False)

    record = sim.wait_for_prediction(task_id)
    assert record.status is JobStatus.CANCELLED
    assert calls_to(sim, task_id)[1:] == [
        ("GET", f"{TASKS}/{task_id}", 200),
        ("DELETE", f"{TASKS}/{task_id}", 200),
    ]
    update = byteplus.get_prediction(task_id)
    assert (update.state, update.error_message) == (ProviderState.FAILED, "task cancelled")


def test_cancel_of_a_running_task_is_refused_without_a_delete(
    byteplus: BytePlusProvider, sim: ProviderSimulator, peer: LoopbackPeer
) -> None:
    sim.faults.stall_predictions = 1
    receipt = byteplus.create_prediction(
        JobRequest(provider="byteplus", prompt="p", resolution="480p"),
        hook(peer),
    )

    with pytest.raises(CancelRefused, match="running"):
        byteplus.cancel(receipt.provider_job_id)

    assert [call[0] for call in calls_to(sim, receipt.provider_job_id)] == ["POST", "GET"]
    assert sim.prediction(receipt.provider_job_id).status is JobStatus.PROCESSING  # type: ignore[union-attr]


def test_cancel_of_a_finished_task_is_refused_and_its_record_is_kept(
    byteplus: BytePlusProvider, sim: ProviderSimulator, peer: LoopbackPeer
) -> None:
    receipt = byteplus.create_prediction(
        JobRequest(provider="byteplus", prompt="p", resolution="480p"),
        hook(peer),
    )
    sim.wait_for_prediction(receipt.provider_job_id)

    with pytest.raises(CancelRefused, match="succeeded"):
        byteplus.cancel(receipt.provider_job_id)

    assert "DELETE" not in [call[0] for call in calls_to(sim, receipt.provider_job_id)]
    assert byteplus.get_prediction(receipt.provider_job_id).state is ProviderState.SUCCEEDED


def test_a_delete_refused_by_modelark_is_cancel_refused(
    sim: ProviderSimulator, byteplus: BytePlusProvider, peer: LoopbackPeer
) -> None:
    """The task started between our read and our DELETE: the simulator's 400 is a refusal."""
    sim.faults.stall_predictions = 1
    receipt = byteplus.create_prediction(
        JobRequest(provider="byteplus", prompt="p", resolution="480p"),
        hook(peer),
    )
    path = f"/contents/generations/tasks/{receipt.provider_job_id}"

    with pytest.raises(CancelRefused, match="running"):
        byteplus._delete(path)  # noqa: SLF001 - the race cannot be arranged from outside

    assert calls_to(sim, receipt.provider_job_id)[-1] == ("DELETE", f"{TASKS}/{receipt.provider_job_id}", 400)
