"""The submit function's work: take a queued job to its provider, within each API key's limits.

One delivery of a dispatch message does at most one create. Nothing waits by sleeping: a job that
must wait (no free slot, a provider asking for patience, a create whose fate is unknown) goes back
on the queue with a delay.

- Budget: before it takes a slot, the job reserves its estimate against the spending ceilings
  (`budget.reserve_budget`); a job that would pass one fails with ``budget_exceeded`` and never takes a
  slot. A waiting job keeps its reservation; a refused create gives it back when the job fails.
- Capacity: a job takes a slot at one of the provider's keys before its create and holds it until it
  leaves the provider (`outcomes.left_provider`). A job that finds every slot taken joins the
  provider's line and is woken by the next slot given back (`handoff`); its own delayed look stays
  as the safety net. One short of creates per minute waits out the computed time instead.
- 429 and 5xx: retried with exponential backoff and jitter, never sooner than Retry-After, up to
  ``max_attempts``; then the job fails with the provider's last answer. Other 4xx fail it at once.
- A job past its deadline (``deadline_seconds``) is canceled instead of sent.
- An ambiguous create (no answer after the request went out) is not sent again blindly: the job
  waits ``uncertain_grace_seconds`` for its webhook, which adopts it. Only if none comes is the create
  sent once more: at worst one extra provider job, never a lost one, and never a loop, since every
  send counts as an attempt.
- Health: a provider whose breaker is open gets no create (`ports.ProviderHealth`); a job with another
  candidate moves on, one without waits. A key refused for its account is benched.
- Failover (`failover`): a job with more than one candidate moves to the next on a definite verdict;
  429 and 5xx count against the provider's share of ``max_attempts`` first.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from enum import StrEnum

from videojobs.dependencies import Dependencies
from videojobs.errors import DependencyUnavailable, ProviderError
from videojobs.logic.budget import close_reservation, reserve_budget
from videojobs.logic.cancel import ask_provider_to_stop, cancel_at_deadline
from videojobs.logic.failover import (
    QUEUED_ONLY,
    attempts_after_create,
    dumped,
    ended_turn,
    keys_left,
    move_on,
    provider_share,
)
from videojobs.logic.handoff import give_back_slot, pass_on
from videojobs.logic.hops import hop_towards, is_early
from videojobs.logic.media import with_fetchable_media
from videojobs.logic.outcomes import fail_job, settle_owed_work
from videojobs.logic.status_checks import schedule_first_check
from videojobs.models import (
    AWAITING_PROVIDER,
    TERMINAL,
    AttemptOutcome,
    BreakerState,
    DispatchRequest,
    Job,
    JobError,
    JobStatus,
    ProviderCancel,
    ProviderCancelStatus,
    ProviderHealthChange,
    ProviderName,
    ProviderReceipt,
    SlotWait,
)
from videojobs.observability import logger
from videojobs.ports import Admitted, BreakerOpen, CapacityGrant, CapacityWait, Lost


class DispatchOutcome(StrEnum):
    SUBMITTED = "submitted"
    NOT_NEEDED = "not_needed"
    #: In the provider's line for a slot (or an early hop of a long wait).
    WAITING_FOR_CAPACITY = "waiting_for_capacity"
    #: Every key with a free slot has spent its creates for the minute: a given-back slot won't help.
    WAITING_FOR_RATE = "waiting_for_rate"
    #: The provider's breaker is open and the job has nowhere else to go.
    WAITING_FOR_PROVIDER = "waiting_for_provider"
    #: Moved to its next provider turn (queued again for it).
    FAILED_OVER = "failed_over"
    RETRY_SCHEDULED = "retry_scheduled"
    AWAITING_WEBHOOK = "awaiting_webhook"
    FAILED = "failed"
    CANCELED = "canceled"


#: What a woken job may come to without using the slot it was woken for: the wake goes to the next.
WAKE_UNUSED = frozenset(
    {
        DispatchOutcome.NOT_NEEDED,
        DispatchOutcome.CANCELED,
        DispatchOutcome.FAILED,
        DispatchOutcome.FAILED_OVER,
    }
)


def dispatch_job(request: DispatchRequest, deps: Dependencies) -> DispatchOutcome:
    """Raises DependencyUnavailable when our own infrastructure fails, so SQS delivers it again.

    A message for a place in a provider's line (``slot_wait``) is needed only while the job holds that
    place; the delivery that takes the job out of the line sends whatever comes next, and leaves the
    line last, so that a crash before then leaves the message needed."""
    place = request.slot_wait
    if place is not None and not deps.capacity.in_line(place.provider, request.job_id, since=place.since):
        logger.info("dispatch not needed: the job has left that line", job_id=request.job_id)
        if place.woken:
            pass_on(place.provider, deps)
        return DispatchOutcome.NOT_NEEDED
    outcome = _dispatch(request, deps)
    if place is not None and outcome is not DispatchOutcome.WAITING_FOR_CAPACITY:
        deps.capacity.leave_line(place.provider, request.job_id, since=place.since)
        if place.woken and outcome in WAKE_UNUSED:
            pass_on(place.provider, deps)
    return outcome


def _dispatch(request: DispatchRequest, deps: Dependencies) -> DispatchOutcome:
    job = deps.jobs.get(request.job_id)
    if job is None or job.status is not JobStatus.QUEUED:
        logger.info("dispatch not needed", job_id=request.job_id, status=job.status if job else None)
        settle_owed_work(job, deps)
        return DispatchOutcome.NOT_NEEDED
    now = deps.clock()
    if job.past_deadline(now):
        # Its deadline message cancels it too; a job waiting for a slot is not sent past its deadline.
        cancel_at_deadline(job, deps)
        return DispatchOutcome.CANCELED
    held = _not_yet_due(job, request.due_at, now, deps) or _after_an_unanswered_create(job, now, deps)
    if held is not None:
        return held
    if deps.public_base_url is None:
        return _fail_unconfigured(job, deps)
    admitted = _admit(job, now, deps)
    # A candidate that may not be tried is skipped within this delivery, one candidate at a time.
    while isinstance(admitted, Job):
        job = admitted
        admitted = _admit(job, now, deps)
    if not isinstance(admitted, Admitted):
        return admitted
    over_budget = reserve_budget(job, now, deps)
    if over_budget is not None:
        # Reserved before each candidate's first create: no turn is under way to end.
        fail_job(job, over_budget, deps, allowed_from=QUEUED_ONLY)
        return DispatchOutcome.FAILED
    grant = deps.capacity.acquire(job.provider, job.job_id, now=now, skip_keys=admitted.benched_keys)
    if isinstance(grant, CapacityGrant):
        return _create(job, grant, admitted, deps.public_base_url, now, deps)
    spilled = _spill_over(job, now, deps)
    if spilled is not None:
        return spilled
    if not grant.for_a_slot:
        _look_again(job, grant.seconds, None, now, deps)
        return DispatchOutcome.WAITING_FOR_RATE
    place = _join_line(job, request.slot_wait, now, deps)
    # A slot given back between the look above and joining found nobody in line: look once more.
    grant = deps.capacity.acquire(job.provider, job.job_id, now=now, skip_keys=admitted.benched_keys)
    if isinstance(grant, CapacityWait):
        logger.info("every slot of the provider taken; job waits in line", job_id=job.job_id)
        return DispatchOutcome.WAITING_FOR_CAPACITY
    outcome = _create(job, grant, admitted, deps.public_base_url, now, deps)
    came_with = request.slot_wait
    if came_with is None or (came_with.provider, came_with.since) != (place.provider, place.since):
        deps.capacity.leave_line(place.provider, job.job_id, since=place.since)  # its new place
    return outcome


def _admit(job: Job, now: datetime, deps: Dependencies) -> Admitted | Job | DispatchOutcome:
    """The provider's breaker and benched keys: whether the job may send its create there now. A Job:
    it was moved to its next candidate, to be tried at once."""
    health = deps.health.admit(job.provider, job.job_id, now=now)
    following = job.next_candidate
    if isinstance(health, BreakerOpen):
        if following is not None:
            return _skip_to(job, following, f"{job.provider}'s breaker is open after repeated failures", deps)
        delay = max(health.seconds, deps.dispatch_policy.capacity_retry_seconds)
        _requeue(job, now + timedelta(seconds=math.ceil(delay)), deps)
        logger.info(
            "provider's breaker is open; job waits", job_id=job.job_id, delay_seconds=math.ceil(delay)
        )
        return DispatchOutcome.WAITING_FOR_PROVIDER
    if health.benched_keys and not keys_left(job, health.benched_keys, deps):
        if following is not None:
            reason = f"every API key of {job.provider} is benched after refusals of its account"
            return _skip_to(job, following, reason, deps)
        # Nowhere else to go: its create goes out as it always did, and gets its own answer.
        return Admitted(probe=health.probe, clean=health.clean)
    return health


def _skip_to(job: Job, following: ProviderName, reason: str, deps: Dependencies) -> Job | DispatchOutcome:
    """Move the job to ``following`` for ``reason``: its turn here is ``skipped``, or ``unavailable``
    when it had already sent creates here (429s or 5xx it was waiting to retry)."""
    current = job.current_attempt
    tried = current is not None and current.ended_at is None and current.provider == job.provider
    outcome, error = AttemptOutcome.SKIPPED, reason
    if tried and job.last_dispatch_error:
        outcome, error = AttemptOutcome.UNAVAILABLE, f"{job.last_dispatch_error}; then {reason}"
    moved = move_on(job, to=following, outcome=outcome, error=error, deps=deps, requeue=False)
    return DispatchOutcome.NOT_NEEDED if moved is None else moved


def _spill_over(job: Job, now: datetime, deps: Dependencies) -> DispatchOutcome | None:
    """ROUTING_SPILLOVER: the first later candidate with a free slot (and a closed breaker) takes the
    job, its slot held for it; None when spill-over is off or no candidate has room."""
    if not deps.routing_policy.spillover:
        return None
    for name in job.later_candidates:
        health = deps.health.admit(name, job.job_id, now=now)
        if isinstance(health, BreakerOpen):
            continue
        grant = deps.capacity.acquire(name, job.job_id, now=now, skip_keys=health.benched_keys)
        if isinstance(grant, CapacityWait):
            continue
        error = f"{job.provider} had no free slot; spilled over to {name}"
        if move_on(job, to=name, outcome=AttemptOutcome.SKIPPED, error=error, deps=deps) is None:
            give_back_slot(grant.slot, job.job_id, deps)
            return DispatchOutcome.NOT_NEEDED
        return DispatchOutcome.FAILED_OVER
    return None


def _not_yet_due(
    job: Job, due_at: datetime | None, now: datetime, deps: Dependencies
) -> DispatchOutcome | None:
    """A wait longer than the queue's delay arrives in hops: an early hop goes back on the queue."""
    if not is_early(due_at, now):
        return None
    _requeue(job, due_at, deps)
    return DispatchOutcome.WAITING_FOR_CAPACITY


def _after_an_unanswered_create(job: Job, now: datetime, deps: Dependencies) -> DispatchOutcome | None:
    """The last create got no answer: wait out the grace for its webhook, then send it once more, unless
    the attempts are spent. None: go on and send."""
    if job.create_sent_at is None:
        return None
    policy = deps.dispatch_policy
    if (now - job.create_sent_at).total_seconds() < policy.uncertain_grace_seconds:
        _requeue(job, job.create_sent_at + timedelta(seconds=policy.uncertain_grace_seconds), deps)
        return DispatchOutcome.AWAITING_WEBHOOK
    if job.creates_at(job.provider) >= provider_share(job, deps):
        message = f"{job.provider} never answered the create call, and no webhook came for it"
        following = job.next_candidate
        if following is not None:
            moved = move_on(job, to=following, outcome=AttemptOutcome.NO_ANSWER, error=message, deps=deps)
            return DispatchOutcome.FAILED_OVER if moved else DispatchOutcome.NOT_NEEDED
        error = JobError(code="provider_no_answer", message=message)
        turn = {"attempts": dumped(ended_turn(job, AttemptOutcome.NO_ANSWER, message, now))}
        fail_job(job, error, deps, allowed_from=QUEUED_ONLY, changes=turn)
        return DispatchOutcome.FAILED
    logger.warning("no webhook adopted the unanswered create; sending it once more", job_id=job.job_id)
    return None


def _fail_unconfigured(job: Job, deps: Dependencies) -> DispatchOutcome:
    error = JobError(code="not_configured", message="no public callback URL is configured (PUBLIC_BASE_URL)")
    fail_job(job, error, deps, allowed_from=QUEUED_ONLY)
    return DispatchOutcome.FAILED


def _join_line(job: Job, held: SlotWait | None, now: datetime, deps: Dependencies) -> SlotWait:
    """Put the job in its provider's line, keeping the place it holds there, and make sure its own
    delayed look is on the queue (a woken job's is already). Returns its place."""
    kept = held if held is not None and held.provider == job.provider else None
    if held is not None and kept is None:
        deps.capacity.leave_line(held.provider, job.job_id, since=held.since)  # it moved to another provider
    place = SlotWait(provider=job.provider, since=kept.since if kept is not None else now)
    if kept is None or not kept.woken:
        # Sent before the place is taken: should taking it fail, the look finds no place and is dropped.
        _look_again(job, 0.0, place, now, deps)
    deps.capacity.join_line(job.provider, job.job_id, since=place.since)
    return place


def _look_again(job: Job, seconds: float, place: SlotWait | None, now: datetime, deps: Dependencies) -> None:
    """The job's own look at its provider's limits, after ``seconds`` or DISPATCH_CAPACITY_RETRY_SECONDS,
    whichever is longer (jittered): the safety net under the hand-off for a slot freed without one (a
    lapsed lease, a lost wake), and the only way on for a job short of creates per minute."""
    delay = math.ceil(max(seconds, deps.dispatch_policy.capacity_retry_seconds) * random.uniform(1.0, 1.5))  # noqa: S311
    _requeue(job, now + timedelta(seconds=delay), deps, slot_wait=place)
    logger.info("provider at its limits; job waits", job_id=job.job_id, delay_seconds=delay)


def _create(
    job: Job,
    grant: CapacityGrant,
    admitted: Admitted,
    public_base_url: str,
    now: datetime,
    deps: Dependencies,
) -> DispatchOutcome:
    """One create at the provider, on the key and slot of ``grant``: the first status check, the
    inputs, the claim on the job, the call, its answer told to the provider's breaker, and its receipt
    recorded."""
    attempt = job.dispatch_attempts + 1
    # The safety net goes first: a job whose webhook never comes is still looked at.
    schedule_first_check(job, deps, dispatch_attempt=attempt)
    provider = deps.provider(job.provider, grant.key_id)
    try:
        request = with_fetchable_media(job.provider_request, provider, deps)
    except ProviderError as error:
        return _after_refusal(job, error, grant, claimed=False, deps=deps)
    claimed = _claim(job, grant, attempt, now, deps)
    if isinstance(claimed, Lost):
        return _lost_the_claim(job, claimed.current, grant.slot, deps)
    webhook = deps.authenticator.target_for(
        public_base_url, job.provider, job.job_id, attempt=claimed.attempt_number
    )
    try:
        receipt = provider.create_prediction(request, webhook)
    except ProviderError as error:
        _tell_the_breaker(claimed, error, admitted, deps)
        if error.ambiguous:
            # The provider may have the job: keep the slot and the marker, and wait for its webhook.
            logger.warning("create got no answer; waiting for a webhook", job_id=job.job_id, error=str(error))
            _requeue(claimed, now + timedelta(seconds=deps.dispatch_policy.uncertain_grace_seconds), deps)
            return DispatchOutcome.AWAITING_WEBHOOK
        return _after_refusal(claimed, error, grant, claimed=True, deps=deps)
    _tell_the_breaker(claimed, None, admitted, deps)
    _record(claimed, receipt, grant, deps)
    return DispatchOutcome.SUBMITTED


def _tell_the_breaker(job: Job, error: ProviderError | None, admitted: Admitted, deps: Dependencies) -> None:
    """No answer or a 5xx counts against the provider's breaker; any other answer closes it (a write
    only when it is not already closed and clean)."""
    if error is not None and error.provider_unhealthy:
        if deps.health.record_failure(job.provider, now=deps.clock()):
            _health_changed(job.provider, BreakerState.OPEN, str(error), deps)
    elif not admitted.clean and deps.health.record_success(job.provider):
        _health_changed(job.provider, BreakerState.CLOSED, None, deps)


def _health_changed(
    provider: ProviderName, state: BreakerState, error: str | None, deps: Dependencies
) -> None:
    now = deps.clock()
    reading = deps.health.reading(provider, now=now)
    change = ProviderHealthChange(
        provider=provider,
        state=state,
        changed_at=now,
        consecutive_failures=reading.consecutive_failures,
        open_until=reading.open_until if state is BreakerState.OPEN else None,
        last_error=error,
    )
    logger.warning("provider health changed", provider=provider, state=state.value, error=error)
    try:
        deps.events.provider_health_changed(change)
    except DependencyUnavailable:
        # The breaker itself is recorded; its announcement is not worth a second create.
        logger.warning("provider health event not published", provider=provider, state=state.value)


def _claim(job: Job, grant: CapacityGrant, attempt: int, now: datetime, deps: Dependencies) -> Job | Lost:
    """Mark the create as sent, on the condition that nobody has sent one since ``job`` was read: a
    create whose answer is lost leaves this mark, and the next delivery knows its fate is unknown."""
    return deps.jobs.transition(
        job.job_id,
        to=JobStatus.QUEUED,
        allowed_from=QUEUED_ONLY,
        expect={
            "create_sent_at": job.create_sent_at,
            "dispatch_attempts": job.dispatch_attempts,
            "provider": job.provider,
        },
        changes={
            "create_sent_at": now,
            "dispatch_attempts": attempt,
            "dispatched_at": job.dispatched_at or now,
            "provider_key_id": grant.key_id,
            "capacity_slot": grant.slot,
            "attempts": dumped(attempts_after_create(job, grant.key_id, now)),
        },
        now=now,
    )


def _record(job: Job, receipt: ProviderReceipt, grant: CapacityGrant, deps: Dependencies) -> None:
    """``job``: as claimed."""
    attempts = list(job.attempts)
    if attempts:
        attempts[-1] = attempts[-1].model_copy(update={"provider_job_id": receipt.provider_job_id})
    submitted = deps.jobs.transition(
        job.job_id,
        to=JobStatus.SUBMITTED,
        allowed_from=QUEUED_ONLY,
        changes={
            "provider_job_id": receipt.provider_job_id,
            "provider_links": dict(receipt.links) or None,
            "create_sent_at": None,
            "last_dispatch_error": None,
            "attempts": dumped(attempts),
        },
        # Not if its webhook moved it on to another provider while the create was on the wire.
        expect={"dispatch_attempts": job.dispatch_attempts, "provider": job.provider},
        now=deps.clock(),
    )
    logger.info(
        "prediction created",
        job_id=job.job_id,
        provider=job.provider,
        provider_job_id=receipt.provider_job_id,
        key_id=grant.key_id,
        # False: its webhook got here first and moved the job on
        recorded=not isinstance(submitted, Lost),
    )
    if isinstance(submitted, Lost) and submitted.current is not None:
        _canceled_during_create(submitted.current, receipt, deps)


def _canceled_during_create(job: Job, receipt: ProviderReceipt, deps: Dependencies) -> None:
    """The job was canceled while its create was on the wire: the prediction it made is owed a cancel."""
    if job.status is not JobStatus.CANCELED or job.provider_job_id is not None:
        return
    owing = deps.jobs.transition(
        job.job_id,
        to=JobStatus.CANCELED,
        allowed_from={JobStatus.CANCELED},
        expect={"provider_job_id": None},
        changes={
            "provider_job_id": receipt.provider_job_id,
            "provider_links": dict(receipt.links) or None,
            "create_sent_at": None,
            "provider_cancel": ProviderCancel(status=ProviderCancelStatus.PENDING).model_dump(),
        },
        now=deps.clock(),
    )
    if isinstance(owing, Job):
        ask_provider_to_stop(owing, deps)


def _after_refusal(
    job: Job, error: ProviderError, grant: CapacityGrant, *, claimed: bool, deps: Dependencies
) -> DispatchOutcome:
    """The provider said no (or could not be reached before anything was sent): it has no job.
    ``claimed``: ``job`` is as claimed, its create counted in its turn (an upload that failed before
    the claim is counted here)."""
    give_back_slot(grant.slot, job.job_id, deps)
    now = deps.clock()
    if not claimed:
        job = job.model_copy(update={"attempts": attempts_after_create(job, grant.key_id, now)})
    attempt = job.dispatch_attempts + (0 if claimed else 1)
    following = job.next_candidate
    if error.account_refused:
        deps.health.bench_key(
            job.provider, grant.key_id, until=now + timedelta(seconds=deps.routing_policy.key_bench_seconds)
        )
        reading = deps.health.reading(job.provider, now=now)
        if keys_left(job, {*reading.benched_until, grant.key_id}, deps):
            following = job.provider  # another key of the same provider
    elif error.retryable and job.creates_at(job.provider) < provider_share(job, deps):
        return _retry_later(job, error, attempt, deps)
    if following is not None and (error.account_refused or error.retryable):
        outcome = AttemptOutcome.REFUSED if error.account_refused else AttemptOutcome.UNAVAILABLE
        moved = _move_on_after(job, following, outcome, str(error), attempt, deps)
        return DispatchOutcome.FAILED_OVER if moved else DispatchOutcome.NOT_NEEDED
    code = "provider_unavailable" if error.retryable else "provider_rejected"
    logger.warning("provider refused the job", job_id=job.job_id, provider=job.provider, error=str(error))
    refusal = JobError(code=code, message=str(error))
    outcome = (
        AttemptOutcome.REFUSED
        if error.account_refused
        else AttemptOutcome.UNAVAILABLE
        if error.retryable
        else AttemptOutcome.REJECTED
    )
    changes = {"dispatch_attempts": attempt, "attempts": dumped(ended_turn(job, outcome, str(error), now))}
    fail_job(job, refusal, deps, allowed_from=QUEUED_ONLY, provider_started=False, changes=changes)
    return DispatchOutcome.FAILED


def _retry_later(job: Job, error: ProviderError, attempt: int, deps: Dependencies) -> DispatchOutcome:
    """429 or 5xx within the provider's share: the same provider again, after a backoff."""
    retried = deps.jobs.transition(
        job.job_id,
        to=JobStatus.QUEUED,
        allowed_from=QUEUED_ONLY,
        changes={
            "create_sent_at": None,
            "dispatch_attempts": attempt,
            "last_dispatch_error": str(error),
            "attempts": dumped(job.attempts),
        },
        now=deps.clock(),
    )
    if isinstance(retried, Lost):
        return DispatchOutcome.NOT_NEEDED
    delay = retry_delay(job.creates_at(job.provider), error.retry_after_seconds, deps)
    logger.warning(
        "provider refused for now; retrying", job_id=job.job_id, error=str(error), delay_seconds=delay
    )
    _requeue(retried, deps.clock() + timedelta(seconds=delay), deps)
    return DispatchOutcome.RETRY_SCHEDULED


def _move_on_after(
    job: Job, following: ProviderName, outcome: AttemptOutcome, error: str, attempt: int, deps: Dependencies
) -> Job | None:
    """`move_on` from a refusal: a create that failed before its claim was still a try."""
    if attempt != job.dispatch_attempts:
        counted = deps.jobs.transition(
            job.job_id,
            to=JobStatus.QUEUED,
            allowed_from=QUEUED_ONLY,
            changes={"dispatch_attempts": attempt, "attempts": dumped(job.attempts), "create_sent_at": None},
            expect={"dispatch_attempts": job.dispatch_attempts},
            now=deps.clock(),
        )
        if isinstance(counted, Lost):
            return None
        job = counted
    return move_on(job, to=following, outcome=outcome, error=error, deps=deps)


def _lost_the_claim(job: Job, current: Job | None, slot: str, deps: Dependencies) -> DispatchOutcome:
    """Another delivery of this job's message, or its webhook, changed it first."""
    if current is None or current.status not in AWAITING_PROVIDER:
        give_back_slot(slot, job.job_id, deps)  # the slot was taken again for a job already done
    if current is not None and current.status in TERMINAL:
        # The job ended (a cancel while queued) after this delivery reserved: nothing was sent under a
        # reservation its end did not find. One made and closed before is not moved again.
        close_reservation(current, deps, provider_started=current.provider_job_id is not None)
    logger.info("job changed under the dispatch; nothing sent", job_id=job.job_id)
    return DispatchOutcome.NOT_NEEDED


def retry_delay(attempt: int, retry_after_seconds: float | None, deps: Dependencies) -> int:
    """Exponential backoff with jitter (x0.5 to x1.5), capped, and never sooner than Retry-After."""
    policy = deps.dispatch_policy
    backoff: float = min(policy.backoff_max_seconds, policy.backoff_base_seconds * 2.0 ** (attempt - 1))
    jittered = backoff * random.uniform(0.5, 1.5)  # noqa: S311 - jitter, not a secret
    return max(1, math.ceil(max(jittered, retry_after_seconds or 0.0)))


def _requeue(job: Job, due_at: datetime, deps: Dependencies, *, slot_wait: SlotWait | None = None) -> None:
    hop = hop_towards(due_at, deps.clock())
    deps.dispatches.enqueue(
        DispatchRequest(job_id=job.job_id, due_at=hop.due_at, slot_wait=slot_wait),
        delay_seconds=hop.delay_seconds,
    )


def fail_dead_lettered_dispatch(request: DispatchRequest, deps: Dependencies) -> Job | None:
    """The dispatch message ran out of deliveries (our own infrastructure kept failing): end the job."""
    job = deps.jobs.get(request.job_id)
    if job is None:
        return None
    reason = job.last_dispatch_error or "its dispatch message was dead-lettered"
    error = JobError(code="dispatch_failed", message=f"the job could not be submitted: {reason}")
    # Only a create whose answer never came may have reached the provider.
    sent = job.create_sent_at is not None or job.provider_job_id is not None
    return fail_job(job, error, deps, allowed_from=QUEUED_ONLY, provider_started=sent)
