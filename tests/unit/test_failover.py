"""Failing over: a job moves to its next candidate only on a definite verdict, every turn is recorded,
and a turn left behind changes nothing (logic.dispatch, logic.failover, logic.callback)."""

from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support import FakeWorld
from videojobs.errors import CancelRefused, ProviderError, WebhookConflict
from videojobs.logic.callback import UpdateEffect, receive_webhook
from videojobs.logic.dispatch import DispatchOutcome, dispatch_job
from videojobs.logic.failover import attempts_after_create, keys_left, move_on, provider_share
from videojobs.logic.intake import accept_job
from videojobs.models import (
    Attempt,
    AttemptOutcome,
    BreakerState,
    HttpOrigin,
    Job,
    JobRequest,
    JobStatus,
    ProviderState,
    ProviderUpdate,
)

#: ModelArk 0.756 USD, then EachLabs 1.2095 USD.
REQUEST = {
    "provider": "auto",
    "providers": ["eachlabs", "byteplus"],
    "prompt": "a lighthouse",
    "resolution": "720p",
    "duration": 5,
    "aspect_ratio": "16:9",
}
UNAVAILABLE = ProviderError(
    "byteplus answered HTTP 503: Service unavailable", retryable=True, status_code=503
)
REFUSED = ProviderError(
    "byteplus answered HTTP 401: Unauthorized", retryable=False, status_code=401, account_refused=True
)


def accepted(world: FakeWorld, **changes: Any) -> Job:
    job = accept_job(JobRequest.model_validate({**REQUEST, **changes}), HttpOrigin(), world.deps()).job
    return job


def run_dispatches(world: FakeWorld, rounds: int = 10) -> list[DispatchOutcome]:
    """Every queued dispatch message, delivered at once (delays skipped), until none is left."""
    outcomes = []
    for _ in range(rounds):
        queued = world.dispatches.take()
        if not queued:
            break
        for message in queued:
            world.clock.advance(600)
            outcomes.append(dispatch_job(message.request, world.deps()))
    return outcomes


def stored(world: FakeWorld, job: Job) -> Job:
    found = world.jobs.get(job.job_id)
    assert found is not None
    return found


def token_of(world: FakeWorld, provider: str, index: int = -1) -> str:
    _, webhook = world.providers[provider].created[index]
    return parse_qs(urlsplit(webhook.url).query)["token"][0]


def webhook(world: FakeWorld, provider: str, job: Job, token: str, update: ProviderUpdate) -> Any:
    return receive_webhook(provider, job.job_id, token, {}, update.model_dump_json().encode(), world.deps())  # type: ignore[arg-type]


def test_auto_sends_to_the_cheapest_candidate_and_records_its_turn() -> None:
    world = FakeWorld()
    job = accepted(world)
    assert job.route is not None
    assert job.route.candidates == ["byteplus", "eachlabs"]
    assert job.provider == "byteplus"
    assert job.cost_estimate_usd == 0.756

    assert run_dispatches(world) == [DispatchOutcome.SUBMITTED]
    submitted = stored(world, job)
    assert len(world.providers["byteplus"].created) == 1
    assert world.providers["eachlabs"].created == []
    (turn,) = submitted.attempts
    assert (turn.provider, turn.key_id, turn.outcome, turn.creates) == ("byteplus", "key-1", "in_progress", 1)
    assert turn.provider_job_id == submitted.provider_job_id


def test_503_for_the_providers_share_moves_the_job_on_and_it_is_made_once_at_the_next() -> None:
    world = FakeWorld()
    world.providers["byteplus"].error = UNAVAILABLE
    job = accepted(world)

    outcomes = run_dispatches(world)

    # DISPATCH_MAX_ATTEMPTS 4 shared by two candidates: two creates at ModelArk, then EachLabs.
    assert outcomes == [
        DispatchOutcome.RETRY_SCHEDULED,
        DispatchOutcome.FAILED_OVER,
        DispatchOutcome.SUBMITTED,
    ]
    moved = stored(world, job)
    assert moved.provider == "eachlabs"
    assert moved.route is not None
    assert moved.route.chosen == "eachlabs"
    assert moved.cost_estimate_usd == 1.2095
    assert len(world.providers["eachlabs"].created) == 1
    first, second = moved.attempts
    assert (first.provider, first.outcome, first.creates) == ("byteplus", AttemptOutcome.UNAVAILABLE, 2)
    assert first.error == str(UNAVAILABLE)
    assert first.ended_at is not None
    assert (second.provider, second.outcome) == ("eachlabs", AttemptOutcome.IN_PROGRESS)
    # The slot at ModelArk is free again; the reservation of its estimate was given back.
    assert not any(slot.startswith("byteplus#") for slot in world.capacity.holders)
    assert world.budget.reservations[job.job_id][2] == "released"


def test_a_job_that_runs_out_of_candidates_fails_with_the_last_error_and_every_turn() -> None:
    world = FakeWorld()
    world.providers["byteplus"].error = UNAVAILABLE
    world.providers["eachlabs"].error = ProviderError(
        "eachlabs answered HTTP 502", retryable=True, status_code=502
    )
    job = accepted(world)

    run_dispatches(world)

    failed = stored(world, job)
    assert failed.status is JobStatus.FAILED
    assert failed.error is not None
    assert (failed.error.code, failed.error.message) == ("provider_unavailable", "eachlabs answered HTTP 502")
    assert [(turn.provider, turn.outcome) for turn in failed.view().attempts] == [
        ("byteplus", AttemptOutcome.UNAVAILABLE),
        ("eachlabs", AttemptOutcome.UNAVAILABLE),
    ]
    assert world.events.failed[-1].job_id == job.job_id


def test_a_refused_key_is_benched_and_the_job_moves_on_at_once() -> None:
    world = FakeWorld()
    world.providers["byteplus"].error = REFUSED
    job = accepted(world)

    assert run_dispatches(world) == [DispatchOutcome.FAILED_OVER, DispatchOutcome.SUBMITTED]

    assert ("byteplus", "key-1") in world.health.benched
    turns = stored(world, job).attempts
    assert [(turn.provider, turn.outcome) for turn in turns] == [
        ("byteplus", AttemptOutcome.REFUSED),
        ("eachlabs", AttemptOutcome.IN_PROGRESS),
    ]


def test_a_refused_key_gives_way_to_another_key_of_the_same_provider_first() -> None:
    world = FakeWorld()
    world.providers["byteplus"].error = REFUSED
    second_key = world.add_key("byteplus", "key-2")
    world.capacity.more_keys = ("key-2",)
    job = accepted(world)

    assert run_dispatches(world) == [DispatchOutcome.FAILED_OVER, DispatchOutcome.SUBMITTED]

    assert world.capacity.skipped[-1] == frozenset({"key-1"})  # the benched key is left out
    assert len(second_key.created) == 1
    assert world.providers["eachlabs"].created == []
    turns = stored(world, job).attempts
    assert [(turn.provider, turn.key_id, turn.outcome) for turn in turns] == [
        ("byteplus", "key-1", AttemptOutcome.REFUSED),
        ("byteplus", "key-2", AttemptOutcome.IN_PROGRESS),
    ]


def test_a_refusal_of_the_request_fails_the_job_and_tries_no_other_provider() -> None:
    world = FakeWorld()
    world.budget_policy = world.budget_policy.__class__(daily_limit_micros=10_000_000)
    world.providers["byteplus"].error = ProviderError(
        "byteplus answered HTTP 400: bad prompt", retryable=False, status_code=400
    )
    job = accepted(world)

    assert run_dispatches(world) == [DispatchOutcome.FAILED]

    failed = stored(world, job)
    assert failed.error is not None
    assert failed.error.code == "provider_rejected"
    assert world.providers["eachlabs"].created == []
    assert [turn.outcome for turn in failed.attempts] == [AttemptOutcome.REJECTED]
    assert world.budget.reservations[job.job_id][2] == "released"  # refused: nothing was made


def test_an_open_breaker_skips_an_auto_job_to_its_next_candidate_and_makes_a_named_one_wait() -> None:
    world = FakeWorld()
    world.health.threshold = 1
    world.health.open_seconds = 100_000
    world.health.record_failure("byteplus", now=world.clock())
    auto = accepted(world)
    named = accepted(world, provider="byteplus", providers=None)

    outcomes = [dispatch_job(message.request, world.deps()) for message in world.dispatches.take()]

    # One delivery each: the auto job skips ModelArk and is sent to EachLabs in the same one.
    assert sorted(outcomes) == sorted([DispatchOutcome.WAITING_FOR_PROVIDER, DispatchOutcome.SUBMITTED])
    (waiting,) = world.dispatches.take()  # the named job's, no second one for the auto job
    assert waiting.request.job_id == named.job_id
    assert waiting.delay_seconds >= 900  # the breaker's open time left, in hops of at most 15 minutes
    assert stored(world, named).status is JobStatus.QUEUED
    skipped = stored(world, auto)
    assert skipped.provider == "eachlabs"
    assert skipped.status is JobStatus.SUBMITTED
    assert skipped.attempts[0].outcome is AttemptOutcome.SKIPPED
    assert skipped.attempts[0].key_id is None
    assert skipped.attempts[0].error == "byteplus's breaker is open after repeated failures"
    assert world.providers["byteplus"].created == []


def test_the_breaker_opens_once_after_the_threshold_and_its_probe_closes_it() -> None:
    world = FakeWorld()
    world.health.threshold = 2
    world.providers["byteplus"].error = UNAVAILABLE
    named = [accepted(world, provider="byteplus", providers=None) for _ in range(3)]
    for message in world.dispatches.take():
        dispatch_job(message.request, world.deps())

    assert world.health.opened == ["byteplus"]
    (opened,) = world.events.health_changes
    assert (opened.provider, opened.state, opened.consecutive_failures) == ("byteplus", BreakerState.OPEN, 2)
    assert opened.open_until is not None
    assert opened.last_error == str(UNAVAILABLE)

    world.providers["byteplus"].error = None
    world.clock.advance(world.health.open_seconds + 1)
    dispatch_job(world.dispatches.take()[0].request, world.deps())

    assert world.health.closed == ["byteplus"]
    closed = world.events.health_changes[-1]
    assert (closed.state, closed.open_until, closed.last_error) == (BreakerState.CLOSED, None, None)
    assert any(stored(world, job).status is JobStatus.SUBMITTED for job in named)


def test_a_job_that_finds_the_probe_out_looks_again_soon_and_goes_once_the_probe_closed_the_breaker() -> None:
    world = FakeWorld()
    world.health.threshold = 1
    world.health.record_failure("byteplus", now=world.clock())
    world.clock.advance(world.health.open_seconds)
    world.health.admit("byteplus", "the-probe", now=world.clock())  # its create is out
    named = accepted(world, provider="byteplus", providers=None)

    (first,) = world.dispatches.take()
    assert dispatch_job(first.request, world.deps()) is DispatchOutcome.WAITING_FOR_PROVIDER

    (again,) = world.dispatches.take()
    # The dispatcher's usual look, not the probe's lease (which only covers a probe that dies).
    assert (
        again.delay_seconds == world.dispatch_policy.capacity_retry_seconds < world.health.probe_lease_seconds
    )
    world.health.record_success("byteplus")
    world.clock.advance(again.delay_seconds)
    assert dispatch_job(again.request, world.deps()) is DispatchOutcome.SUBMITTED
    assert stored(world, named).status is JobStatus.SUBMITTED


def test_a_providers_failed_result_moves_the_job_on_and_its_webhook_then_changes_nothing() -> None:
    world = FakeWorld()
    job = accepted(world)
    run_dispatches(world)
    submitted = stored(world, job)
    first_token = token_of(world, "byteplus")
    failed = ProviderUpdate(
        provider_job_id=submitted.provider_job_id or "",
        state=ProviderState.FAILED,
        error_message="nsfw filter",
    )
    # ModelArk's webhooks are unsigned: the callback asks it for the prediction's state.
    world.providers["byteplus"].answers = [failed]

    assert webhook(world, "byteplus", job, first_token, failed).effect is UpdateEffect.APPLIED
    moved = stored(world, job)
    assert (moved.status, moved.provider) == (JobStatus.QUEUED, "eachlabs")
    assert moved.attempts[0].outcome is AttemptOutcome.FAILED
    assert moved.attempts[0].error == "nsfw filter"
    # The provider ran the job: its estimate stays spent, as for a job that ends failed there.
    assert world.budget.reservations[job.job_id][2] == "spent"
    run_dispatches(world)

    # The same webhook again, and a late success of that turn: ignored, nothing copied.
    succeeded = failed.model_copy(
        update={"state": ProviderState.SUCCEEDED, "output_url": "https://cdn.example.com/v.mp4"}
    )
    for late in (failed, succeeded):
        assert webhook(world, "byteplus", job, first_token, late).effect is UpdateEffect.IGNORED
    assert stored(world, job).status is JobStatus.SUBMITTED
    assert stored(world, job).provider == "eachlabs"
    assert world.transfers.sent == []


def test_without_failover_on_provider_failure_a_failed_result_fails_the_job() -> None:
    world = FakeWorld()
    world.routing_policy = world.routing_policy.__class__(
        order=world.routing_policy.order, failover_on_provider_failure=False
    )
    job = accepted(world)
    run_dispatches(world)
    submitted = stored(world, job)
    failed = ProviderUpdate(provider_job_id=submitted.provider_job_id or "", state=ProviderState.FAILED)
    world.providers["byteplus"].answers = [failed]

    webhook(world, "byteplus", job, token_of(world, "byteplus"), failed)

    assert stored(world, job).status is JobStatus.FAILED
    (turn,) = stored(world, job).attempts
    assert (turn.outcome, turn.error) == (AttemptOutcome.FAILED, "provider reported failure")
    assert turn.ended_at is not None
    assert world.providers["eachlabs"].created == []


def test_a_create_that_got_no_answer_keeps_its_estimate_spent_when_the_job_moves_on() -> None:
    world = FakeWorld()
    world.providers["byteplus"].error = ProviderError("no answer", retryable=True, ambiguous=True)
    job = accepted(world)

    run_dispatches(world)

    moved = stored(world, job)
    assert (moved.provider, moved.attempts[0].outcome) == ("eachlabs", AttemptOutcome.NO_ANSWER)
    # ModelArk may have made the video it never told of, and billed it: its estimate stays spent.
    assert world.budget.reservations[job.job_id][2] == "spent"
    assert world.budget.reservations[moved.reservation_id][2] == "reserved"


def test_an_unanswered_create_adopted_by_its_webhook_shows_its_prediction_on_its_turn() -> None:
    world = FakeWorld()
    world.providers["byteplus"].error = ProviderError("no answer", retryable=True, ambiguous=True)
    job = accepted(world)
    (message,) = world.dispatches.take()
    assert dispatch_job(message.request, world.deps()) is DispatchOutcome.AWAITING_WEBHOOK
    token = world.deps().authenticator.token_for(job.job_id, attempt=1)
    rendering = ProviderUpdate(provider_job_id="adopted-pred", state=ProviderState.PROCESSING)
    world.providers["byteplus"].answers = [rendering]  # unsigned: the callback asks ModelArk

    webhook(world, "byteplus", job, token, rendering)

    adopted = stored(world, job)
    assert adopted.status is JobStatus.PROCESSING
    assert [turn.provider_job_id for turn in adopted.view().attempts] == ["adopted-pred"]
    # The provider's own failure then moves the job on: the turn it ends keeps its prediction.
    failed = rendering.model_copy(update={"state": ProviderState.FAILED, "error_message": "nsfw filter"})
    world.providers["byteplus"].answers = [failed]
    webhook(world, "byteplus", job, token, failed)
    moved = stored(world, job)
    assert moved.provider == "eachlabs"
    assert (moved.attempts[0].outcome, moved.attempts[0].provider_job_id) == (
        AttemptOutcome.FAILED,
        "adopted-pred",
    )


def test_a_late_webhook_of_a_turn_left_behind_still_rendering_gets_its_prediction_canceled() -> None:
    world = FakeWorld()
    world.providers["byteplus"].error = ProviderError("no answer", retryable=True, ambiguous=True)
    job = accepted(world)
    # The create gets no answer; the grace passes with no webhook; the job moves on (share: 2 creates).
    run_dispatches(world)
    moved = stored(world, job)
    assert moved.provider == "eachlabs"
    assert moved.attempts[0].outcome is AttemptOutcome.NO_ANSWER
    assert moved.create_sent_at is None
    # The first turn's token, as the unanswered create carried it.
    token = world.deps().authenticator.token_for(job.job_id, attempt=1)
    rendering = ProviderUpdate(provider_job_id="lost-pred", state=ProviderState.PROCESSING)
    world.providers["byteplus"].answers = [rendering]

    receipt = webhook(world, "byteplus", job, token, rendering)

    assert receipt.effect is UpdateEffect.IGNORED
    assert world.providers["byteplus"].cancelled == [("lost-pred", None)]
    turn = stored(world, job).attempts[0]
    assert turn.provider_job_id == "lost-pred"
    assert turn.cancel is not None
    assert turn.cancel.status == "canceled"
    assert stored(world, job).provider_job_id != "lost-pred"


def test_a_turn_left_behind_whose_provider_will_not_cancel_is_noted_so() -> None:
    world = FakeWorld()
    world.providers["byteplus"].error = ProviderError("no answer", retryable=True, ambiguous=True)
    world.providers["byteplus"].cancel_error = CancelRefused("no cancel", unsupported=True)
    job = accepted(world)
    run_dispatches(world)
    token = world.deps().authenticator.token_for(job.job_id, attempt=1)

    webhook(
        world, "byteplus", job, token, ProviderUpdate(provider_job_id="p", state=ProviderState.PROCESSING)
    )

    turn = stored(world, job).attempts[0]
    assert turn.cancel is not None
    assert turn.cancel.status == "unsupported"


def test_a_webhook_naming_a_turn_the_job_never_had_is_a_conflict() -> None:
    world = FakeWorld()
    job = accepted(world)
    run_dispatches(world)
    token = world.deps().authenticator.token_for(job.job_id, attempt=5)

    with pytest.raises(WebhookConflict):
        webhook(
            world, "byteplus", job, token, ProviderUpdate(provider_job_id="p", state=ProviderState.PROCESSING)
        )


def test_spill_over_sends_a_job_whose_first_candidate_is_full_to_the_next_with_room() -> None:
    world = FakeWorld()
    world.routing_policy = world.routing_policy.__class__(order=world.routing_policy.order, spillover=True)
    for index in range(world.capacity.limit):
        world.capacity.holders[f"byteplus#key-1#slot#{index:03d}"] = f"other-{index}"
    job = accepted(world)

    assert run_dispatches(world) == [DispatchOutcome.FAILED_OVER, DispatchOutcome.SUBMITTED]
    assert stored(world, job).provider == "eachlabs"


def test_without_spill_over_a_job_waits_for_its_cheapest_candidate() -> None:
    world = FakeWorld()
    for index in range(world.capacity.limit):
        world.capacity.holders[f"byteplus#key-1#slot#{index:03d}"] = f"other-{index}"
    job = accepted(world)

    assert run_dispatches(world, rounds=1) == [DispatchOutcome.WAITING_FOR_CAPACITY]
    assert stored(world, job).provider == "byteplus"


def test_a_turn_waiting_to_retry_a_503_when_the_breaker_opens_ends_unavailable_with_its_error() -> None:
    world = FakeWorld()
    world.health.threshold = 2
    world.health.open_seconds = 100_000
    world.providers["byteplus"].error = UNAVAILABLE
    first, second = accepted(world), accepted(world)
    for message in world.dispatches.take():  # both 503: the second opens the breaker
        dispatch_job(message.request, world.deps())
    assert world.health.opened == ["byteplus"]

    run_dispatches(world, rounds=1)  # their retries find it open and go on to EachLabs at once

    for job in (first, second):
        turn = stored(world, job).attempts[0]
        assert (turn.outcome, turn.creates) == (AttemptOutcome.UNAVAILABLE, 1)
        assert turn.error == f"{UNAVAILABLE}; then byteplus's breaker is open after repeated failures"
        assert stored(world, job).status is JobStatus.SUBMITTED


@pytest.mark.parametrize(("candidates", "share"), [(1, 4), (2, 2), (3, 2), (4, 1), (7, 1)])
def test_each_candidate_gets_its_share_of_the_attempts_rounded_up_and_at_least_one(
    candidates: int, share: int
) -> None:
    world = FakeWorld()  # DISPATCH_MAX_ATTEMPTS 4
    names = ["byteplus", "eachlabs", "atlascloud", "fal", "gateway", "jobs_api", "replicate"][:candidates]
    job = accepted(world, providers=names)
    assert len(job.candidates) == candidates
    assert provider_share(job, world.deps()) == share


def test_a_create_on_another_key_ends_the_turn_on_the_first_unavailable_with_its_last_error() -> None:
    world = FakeWorld()
    now = world.clock()
    job = accepted(world).model_copy(
        update={
            "attempts": [Attempt(provider="byteplus", key_id="key-1", started_at=now, creates=1)],
            "last_dispatch_error": "byteplus answered HTTP 503",
        }
    )

    same_key = attempts_after_create(job, "key-1", now)
    other_key = attempts_after_create(job, "key-2", now)

    assert [(turn.key_id, turn.creates, turn.outcome) for turn in same_key] == [("key-1", 2, "in_progress")]
    first, second = other_key
    assert (first.key_id, first.outcome, first.error, first.ended_at) == (
        "key-1",
        AttemptOutcome.UNAVAILABLE,
        "byteplus answered HTTP 503",
        now,
    )
    assert (second.key_id, second.creates, second.ended_at) == ("key-2", 1, None)
    ended = job.model_copy(update={"attempts": [first]})
    assert [turn.key_id for turn in attempts_after_create(ended, "key-1", now)] == ["key-1", "key-1"]


def test_keys_left_are_the_providers_keys_not_benched_and_none_for_a_provider_not_configured() -> None:
    world = FakeWorld()
    world.add_key("byteplus", "key-2")
    job = accepted(world)
    assert keys_left(job, {"key-1"}, world.deps()) == ["key-2"]
    gone = job.model_copy(update={"provider": "byteplus"})
    world.providers.pop("byteplus")
    world.more_keys.pop("byteplus")
    assert keys_left(gone, set(), world.deps()) == []


def test_moving_on_clears_what_belonged_to_the_turn_left_and_prices_the_next_with_an_operators_price() -> (
    None
):
    world = FakeWorld()
    world.intake_policy = world.intake_policy.__class__(
        **{**world.intake_policy.__dict__, "price_per_second_usd": {"gateway": Decimal("1")}}
    )
    world.providers["byteplus"].links = {"status_url": "https://x.example/s"}
    job = accepted(world, providers=["byteplus", "gateway"])
    run_dispatches(world)
    submitted = stored(world, job).model_copy(update={"create_sent_at": world.clock()})
    world.jobs.jobs[job.job_id] = submitted  # as if a second create were on the wire
    assert submitted.provider_links is not None
    assert submitted.capacity_slot is not None

    moved = move_on(
        submitted,
        to="gateway",
        outcome=AttemptOutcome.FAILED,
        error="melted",
        deps=world.deps(),
        allowed_from=frozenset(JobStatus),
    )

    assert moved is not None
    assert (moved.provider, moved.status, moved.cost_estimate_usd) == ("gateway", JobStatus.QUEUED, 5.0)
    assert moved.route is not None
    assert moved.route.chosen == "gateway"
    assert (moved.provider_job_id, moved.provider_links, moved.provider_key_id) == (None, None, None)
    assert (moved.capacity_slot, moved.create_sent_at, moved.last_dispatch_error) == (None, None, "melted")
    assert (moved.attempts[0].outcome, moved.attempts[0].error) == (AttemptOutcome.FAILED, "melted")


def test_moving_on_a_job_that_changed_since_it_was_read_does_nothing() -> None:
    world = FakeWorld()
    world.providers["byteplus"].error = UNAVAILABLE
    job = accepted(world)
    run_dispatches(world, rounds=1)  # a 503 from ModelArk: queued again, its create counted
    assert (stored(world, job).status, stored(world, job).dispatch_attempts) == (JobStatus.QUEUED, 1)
    world.dispatches.take()

    stale = job  # as read before that create
    assert move_on(stale, to="eachlabs", outcome=AttemptOutcome.FAILED, error="x", deps=world.deps()) is None
    assert stored(world, job).provider == "byteplus"
    assert world.dispatches.take() == []


def test_a_job_stored_before_routing_moves_to_another_key_with_a_route_of_its_one_provider() -> None:
    world = FakeWorld()
    world.providers["byteplus"].error = REFUSED
    world.add_key("byteplus", "key-2")
    world.capacity.more_keys = ("key-2",)
    job = accepted(world, provider="byteplus", providers=None)
    world.jobs.jobs[job.job_id] = job.model_copy(update={"route": None})

    run_dispatches(world, rounds=1)

    moved = stored(world, job)
    assert moved.route is not None
    assert (moved.route.candidates, moved.route.chosen) == (["byteplus"], "byteplus")
    assert moved.attempts[0].outcome is AttemptOutcome.REFUSED


def test_the_webhook_of_the_next_turn_names_that_turn() -> None:
    world = FakeWorld()
    world.providers["byteplus"].error = REFUSED
    job = accepted(world)
    run_dispatches(world)
    assert world.deps().authenticator.verify(job.job_id, token_of(world, "eachlabs")).attempt == 2


def test_an_auto_job_whose_providers_keys_are_all_benched_skips_it_and_a_named_one_still_sends() -> None:
    world = FakeWorld()
    world.health.bench_key("byteplus", "key-1", until=world.clock() + timedelta(hours=1))
    auto = accepted(world)
    named = accepted(world, provider="byteplus", providers=None)

    run_dispatches(world, rounds=1)

    skipped = stored(world, auto)
    assert (skipped.provider, skipped.status) == ("eachlabs", JobStatus.SUBMITTED)
    assert (skipped.attempts[0].outcome, skipped.attempts[0].error) == (
        AttemptOutcome.SKIPPED,
        "every API key of byteplus is benched after refusals of its account",
    )
    # Nowhere else to go: its create goes out on the benched key, as it always did.
    assert stored(world, named).status is JobStatus.SUBMITTED
    assert len(world.providers["byteplus"].created) == 1


def test_a_turn_never_tried_is_skipped_even_after_an_earlier_providers_error() -> None:
    world = FakeWorld()
    world.providers["byteplus"].error = REFUSED
    world.health.threshold = 1
    world.health.open_seconds = 100_000
    world.health.record_failure("eachlabs", now=world.clock())
    job = accepted(world, providers=["byteplus", "eachlabs", "atlascloud"])

    run_dispatches(world)

    turns = stored(world, job).attempts
    assert [(turn.provider, turn.outcome) for turn in turns] == [
        ("byteplus", AttemptOutcome.REFUSED),
        ("eachlabs", AttemptOutcome.SKIPPED),
        ("atlascloud", AttemptOutcome.IN_PROGRESS),
    ]


def test_spill_over_passes_a_later_candidate_with_an_open_breaker_or_no_slot_for_the_next_with_room() -> None:
    world = FakeWorld()
    world.routing_policy = world.routing_policy.__class__(order=world.routing_policy.order, spillover=True)
    world.health.threshold = 1
    world.health.open_seconds = 100_000
    world.health.record_failure("eachlabs", now=world.clock())
    for provider in ("byteplus", "atlascloud"):
        for index in range(world.capacity.limit):
            world.capacity.holders[f"{provider}#key-1#slot#{index:03d}"] = f"other-{index}"
    job = accepted(world, providers=["byteplus", "eachlabs", "atlascloud", "fal"])

    assert run_dispatches(world) == [DispatchOutcome.FAILED_OVER, DispatchOutcome.SUBMITTED]

    spilled = stored(world, job)
    assert spilled.provider == "fal"
    assert (spilled.attempts[0].outcome, spilled.attempts[0].error) == (
        AttemptOutcome.SKIPPED,
        "byteplus had no free slot; spilled over to fal",
    )


def test_a_named_job_whose_creates_never_get_an_answer_ends_with_its_turn_no_answer() -> None:
    world = FakeWorld()
    world.providers["byteplus"].error = ProviderError("no answer", retryable=True, ambiguous=True)
    job = accepted(world, provider="byteplus", providers=None)

    run_dispatches(world, rounds=20)

    failed = stored(world, job)
    assert failed.error is not None
    assert failed.error.code == "provider_no_answer"
    (turn,) = failed.attempts
    assert (turn.outcome, turn.creates) == (AttemptOutcome.NO_ANSWER, 4)
    assert turn.error == "byteplus never answered the create call, and no webhook came for it"


def test_a_turn_left_behind_is_asked_once_and_only_when_its_provider_says_it_still_renders() -> None:
    world = FakeWorld()
    world.providers["byteplus"].error = ProviderError("no answer", retryable=True, ambiguous=True)
    job = accepted(world)
    run_dispatches(world)
    token = world.deps().authenticator.token_for(job.job_id, attempt=1)
    rendering = ProviderUpdate(provider_job_id="lost-pred", state=ProviderState.PROCESSING)

    # ModelArk's webhooks are unsigned: its own word counts, and it says the prediction is done.
    world.providers["byteplus"].answers = [rendering.model_copy(update={"state": ProviderState.SUCCEEDED})]
    webhook(world, "byteplus", job, token, rendering)
    assert world.providers["byteplus"].cancelled == []

    world.providers["byteplus"].answers = [rendering]
    webhook(world, "byteplus", job, token, rendering)
    webhook(world, "byteplus", job, token, rendering)
    assert world.providers["byteplus"].cancelled == [("lost-pred", None)]


def test_a_signed_webhook_of_a_turn_left_behind_is_taken_at_its_word() -> None:
    world = FakeWorld()
    world.providers["eachlabs"].error = ProviderError("no answer", retryable=True, ambiguous=True)
    job = accepted(world, providers=["eachlabs", "fal"])  # EachLabs 1.2095, fal 1.512
    run_dispatches(world)
    assert stored(world, job).provider == "fal"
    token = world.deps().authenticator.token_for(job.job_id, attempt=1)

    webhook(
        world, "eachlabs", job, token, ProviderUpdate(provider_job_id="e-1", state=ProviderState.PROCESSING)
    )

    assert world.providers["eachlabs"].checked == []
    assert world.providers["eachlabs"].cancelled == [("e-1", None)]


def failing_upload(error: ProviderError) -> Any:
    def upload_media(media: Any) -> str:
        b"".join(media.chunks)
        raise error

    return upload_media


def test_an_upload_that_fails_before_the_create_counts_as_a_try_and_moves_the_job_on_after_its_share() -> (
    None
):
    world = FakeWorld()
    world.inputs.objects["s3://inputs/cat.png"] = ("image/png", b"\x89PNG\r\n\x1a\n")
    atlas = world.providers["atlascloud"]
    atlas.upload_media = failing_upload(  # type: ignore[method-assign]
        ProviderError("atlascloud answered HTTP 503", retryable=True, status_code=503)
    )
    # Atlas Cloud (1.2096 USD, uploads s3:// inputs) first, then Replicate (unpriced, presigned URLs).
    job = accepted(world, providers=["atlascloud", "replicate"], first_frame_url="s3://inputs/cat.png")
    assert job.route is not None
    assert job.route.candidates == ["atlascloud", "replicate"]

    outcomes = run_dispatches(world)

    assert outcomes == [
        DispatchOutcome.RETRY_SCHEDULED,
        DispatchOutcome.FAILED_OVER,
        DispatchOutcome.SUBMITTED,
    ]
    assert atlas.created == []
    moved = stored(world, job)
    first, second = moved.attempts
    assert (first.provider, first.outcome, first.creates) == ("atlascloud", AttemptOutcome.UNAVAILABLE, 2)
    assert (second.provider, second.creates) == ("replicate", 1)
    assert moved.dispatch_attempts == 3
    assert not any(slot.startswith("atlascloud#") for slot in world.capacity.holders)


def test_an_upload_refused_for_the_request_fails_a_named_job_with_its_turn_rejected() -> None:
    world = FakeWorld()
    world.budget_policy = world.budget_policy.__class__(daily_limit_micros=10_000_000)
    world.inputs.objects["s3://inputs/cat.png"] = ("image/png", b"\x89PNG\r\n\x1a\n")
    world.providers["atlascloud"].upload_media = failing_upload(  # type: ignore[method-assign]
        ProviderError("atlascloud answered HTTP 400: not an image", retryable=False, status_code=400)
    )
    job = accepted(world, provider="atlascloud", providers=None, first_frame_url="s3://inputs/cat.png")

    assert run_dispatches(world) == [DispatchOutcome.FAILED]

    failed = stored(world, job)
    assert failed.error is not None
    assert failed.error.code == "provider_rejected"
    assert failed.dispatch_attempts == 1
    (turn,) = failed.attempts
    assert (turn.provider, turn.key_id, turn.outcome, turn.creates) == (
        "atlascloud",
        "key-1",
        AttemptOutcome.REJECTED,
        1,
    )
    assert turn.error == "atlascloud answered HTTP 400: not an image"
    assert world.budget.reservations[job.job_id][2] == "released"
