"""Ending a job: the one place that turns a failure into a state change and an event, the one place a
job gives its provider slot back and closes its budget reservation, and the outbox that makes sure
every outcome event goes out.

The terminal write records the outcome event as ``pending_event`` on the job, in the same conditional
update. The event is then published and the marker cleared. If publishing fails (an error, or
PutEvents answering FailedEntryCount > 0) the marker stays, the caller's message or webhook is
delivered again, and whoever finds the finished job next publishes it (`deliver_pending_event`).

Only one caller publishes at a time: the terminal write claims the event for EVENT_CLAIM_SECONDS, a
duplicate delivery arriving meanwhile leaves it alone, a failed publish hands the claim back at once,
and a claim whose holder died runs out. The detail's deterministic ``event_id`` lets consumers drop
what is left: a repeat after a publish whose answer was lost."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from videojobs.dependencies import Dependencies
from videojobs.errors import CancelRefused, DependencyUnavailable, ProviderError, ProviderNotConfigured
from videojobs.logic.budget import close_reservation
from videojobs.logic.handoff import give_back_slot
from videojobs.models import (
    AWAITING_PROVIDER,
    JOB_CANCELED,
    JOB_FAILED,
    JOB_SUCCEEDED,
    TERMINAL,
    Job,
    JobError,
    JobStatus,
    ProviderCancel,
    ProviderCancelStatus,
    ProviderName,
    StatusCheckRequest,
    TransferRequest,
)
from videojobs.observability import logger
from videojobs.ports import Lost


def fail_job(
    job: Job,
    error: JobError,
    deps: Dependencies,
    *,
    allowed_from: frozenset[JobStatus] = AWAITING_PROVIDER,
    status: JobStatus = JobStatus.FAILED,
    provider_started: bool | None = None,
    changes: Mapping[str, Any] | None = None,
) -> Job | None:
    """Move the job to ``status`` (failed, or expired) and announce it as "Video Job Failed".

    An expired job's prediction may still be running at the provider: the same write records that a
    cancel is owed (see `expire_job`). The job's budget reservation is then closed: spent, or given
    back when ``provider_started`` is False (None: judged from the failure, see `close_reservation`).
    ``changes``: more fields to write with it (the provider turn it ends)."""
    terminal = {
        "error": error.model_dump(),
        "create_sent_at": None,
        **pending(JOB_FAILED, deps),
        **(changes or {}),
    }
    if status is JobStatus.EXPIRED and job.provider_job_id is not None:
        terminal["provider_cancel"] = ProviderCancel(status=ProviderCancelStatus.PENDING).model_dump()
    failed = deps.jobs.transition(
        job.job_id, to=status, allowed_from=allowed_from, changes=terminal, now=deps.clock()
    )
    if isinstance(failed, Lost):
        logger.info("job already moved on; failure ignored", job_id=job.job_id, error_code=error.code)
        return None
    left_provider(failed, deps)
    logger.info("job failed", job_id=job.job_id, error_code=error.code)
    announce(failed, deps)
    close_reservation(failed, deps, provider_started=provider_started)
    return failed


def expire_job(job: Job, deps: Dependencies, *, last_try: bool = False) -> Job | None:
    """The job is past its maximum age: end it as expired, and ask its provider to stop the prediction
    (see `stop_at_provider` for ``last_try``)."""
    max_age = deps.status_check_policy.job_max_age_seconds
    error = JobError(code="job_expired", message=f"{job.provider} gave no result within {max_age} seconds")
    expired = fail_job(job, error, deps, status=JobStatus.EXPIRED)
    return None if expired is None else stop_at_provider(expired, deps, last_try=last_try)


def stop_at_provider(job: Job, deps: Dependencies, *, last_try: bool) -> Job:
    """Ask the provider to cancel the prediction of a job that owes a cancel, and record its answer.

    A retryable failure leaves the cancel owed and raises the ProviderError, so the message that got
    here is delivered again and whoever finds the job next asks again (`settle_owed_work`); with
    ``last_try`` it is recorded as failed instead. Returns the job as recorded.

    Two functions may settle one owed cancel at once (the cancel function, and the callback of the
    webhook its provider sends on the change): the answer is recorded only over the cancel still owed,
    so the second caller's "refused" (the task is already cancelled) never overwrites the first
    caller's "accepted"; the loser returns the job as the winner recorded it (if it is still in the
    status it was given)."""
    owed = job.provider_cancel
    if owed is None or owed.status is not ProviderCancelStatus.PENDING or job.provider_job_id is None:
        return job
    try:
        outcome = cancel_prediction(
            job.provider,
            job.provider_key_id,
            job.provider_job_id,
            deps,
            links=job.provider_links,
            last_try=last_try,
        )
    except ProviderError as error:
        logger.warning("provider cancel failed; will ask again", job_id=job.job_id, error=str(error))
        raise
    logger.info("provider cancel", job_id=job.job_id, outcome=outcome.status.value)
    recorded = deps.jobs.transition(
        job.job_id,
        to=job.status,
        allowed_from={job.status},
        changes={"provider_cancel": outcome.model_dump()},
        expect={"provider_cancel": owed.model_dump()},
        now=deps.clock(),
    )
    if isinstance(recorded, Lost):
        current = recorded.current
        # Settled by the other caller meanwhile: its record is the answer. Moved on: the job given.
        return current if current is not None and current.status is job.status else job
    if recorded.status is JobStatus.CANCELED and outcome.status is ProviderCancelStatus.CANCELED:
        return provider_done(recorded, deps)
    return recorded


def cancel_prediction(
    provider: ProviderName,
    key_id: str | None,
    provider_job_id: str,
    deps: Dependencies,
    *,
    links: Mapping[str, str] | None = None,
    last_try: bool = True,
) -> ProviderCancel:
    """Ask the provider, on the key that made it, to stop a prediction, and say what came of it. A
    retryable failure is raised (ProviderError) unless ``last_try``; then it is recorded as failed."""
    try:
        deps.provider(provider, key_id).cancel(provider_job_id, links=links)
    except CancelRefused as refused:
        status = ProviderCancelStatus.UNSUPPORTED if refused.unsupported else ProviderCancelStatus.REFUSED
        return ProviderCancel(status=status, message=str(refused))
    except ProviderError as error:
        if error.retryable and not last_try:
            raise
        return ProviderCancel(status=ProviderCancelStatus.FAILED, message=str(error))
    except ProviderNotConfigured as error:  # its key was taken out of the deployment since
        return ProviderCancel(status=ProviderCancelStatus.FAILED, message=str(error))
    return ProviderCancel(status=ProviderCancelStatus.CANCELED)


def provider_done(job: Job, deps: Dependencies) -> Job:
    """The provider is done with a canceled job's prediction (it took the cancel, or it finished or
    failed anyway, or the job is past its maximum age): free the slot the job kept for it, once.

    An expired job gives its slot back as it ends; a canceled one keeps it while the provider may
    still render, since that prediction still counts against the key's concurrency."""
    if job.capacity_slot is None:
        return job
    freed = deps.jobs.transition(
        job.job_id,
        to=job.status,
        allowed_from={job.status},
        changes={"capacity_slot": None},
        expect={"capacity_slot": job.capacity_slot},
        now=deps.clock(),
    )
    if isinstance(freed, Lost):
        return freed.current or job
    left_provider(job, deps)
    logger.info("provider done with a canceled job; slot freed", job_id=job.job_id)
    return freed


#: How long the provider cancel a caller's (or a deadline's) cancel made owed stays the business of the
#: cancel that asked it (the cancel function's timeout is 29 s): a status check or a webhook settling it
#: at the same moment raced that call, and the provider's "already cancelled" to the later caller could
#: be recorded over the acceptance the earlier one got, and answered to the caller.
OWED_CANCEL_GRACE = timedelta(seconds=30)


def settle_owed_work(job: Job | None, deps: Dependencies, *, last_try: bool = False) -> None:
    """A delivery found the job moved on: do what the move still owes (its transfer message, its
    outcome event, the cancel of its prediction, its budget reservation closed) in case whoever moved
    it could not. A cancel asked less than `OWED_CANCEL_GRACE` ago is left to the call that asked it,
    with a status check after the grace in case that call could not (unless the job's own chain of
    checks still watches its prediction)."""
    if job is None:
        return
    queue_owed_transfer(job, deps)
    deliver_pending_event(job, deps)
    if job.status not in TERMINAL:
        return
    close_reservation(job, deps)
    left = _grace_left(job, deps)
    if last_try or left is None:
        stop_at_provider(job, deps, last_try=last_try)
    elif job.capacity_slot is None:
        delay = math.ceil(left.total_seconds()) + 1
        deps.status_checks.schedule(StatusCheckRequest(job_id=job.job_id), delay_seconds=delay)


def _grace_left(job: Job, deps: Dependencies) -> timedelta | None:
    """How long the call that asked the job's owed provider cancel still has to settle it itself."""
    owed = job.provider_cancel
    if owed is None or owed.status is not ProviderCancelStatus.PENDING or job.cancel_requested_at is None:
        return None
    left = job.cancel_requested_at + OWED_CANCEL_GRACE - deps.clock()
    return left if left > timedelta(0) else None


def queue_owed_transfer(job: Job, deps: Dependencies) -> Job:
    """Queue the transfer message of a transferring job that still owes it (``transfer_owed``), then
    clear the debt. Raises DependencyUnavailable when the queue refuses, leaving it owed."""
    if job.status is not JobStatus.TRANSFERRING or not job.transfer_owed or job.output_url is None:
        return job
    request = TransferRequest(job_id=job.job_id, source_url=job.output_url, last_frame_url=job.last_frame_url)
    deps.transfers.enqueue(request)
    logger.info("transfer enqueued", job_id=job.job_id)
    paid = deps.jobs.transition(
        job.job_id,
        to=JobStatus.TRANSFERRING,
        allowed_from={JobStatus.TRANSFERRING},
        changes={"transfer_owed": None},
        now=deps.clock(),
    )
    return job if isinstance(paid, Lost) else paid


#: How long the caller that claimed a pending event has to publish it before another may.
EVENT_CLAIM_SECONDS = 60


def pending(detail_type: str, deps: Dependencies) -> dict[str, object]:
    """The changes that go with a terminal write: the event is owed, and this caller publishes it."""
    until = deps.clock() + timedelta(seconds=EVENT_CLAIM_SECONDS)
    return {"pending_event": detail_type, "event_claimed_until": int(until.timestamp())}


def announce(job: Job, deps: Dependencies) -> None:
    """Publish the pending outcome event of a job this caller has claimed, then forget it. Raises
    DependencyUnavailable when the bus refuses it, after handing the claim back for the next try."""
    detail_type = job.pending_event
    if detail_type is None:
        return
    try:
        if detail_type == JOB_SUCCEEDED:
            deps.events.job_succeeded(job)
        elif detail_type == JOB_CANCELED:
            deps.events.job_canceled(job)
        else:
            deps.events.job_failed(job)
    except DependencyUnavailable:
        deps.jobs.release_event_claim(job.job_id)
        raise
    deps.jobs.clear_pending_event(job.job_id, detail_type)


def deliver_pending_event(job: Job | None, deps: Dependencies) -> None:
    """A delivery found the job already finished: if its outcome event never went out and no one is
    publishing it right now, publish it."""
    if job is None or job.status not in TERMINAL or job.pending_event is None:
        return
    now = deps.clock()
    until = now + timedelta(seconds=EVENT_CLAIM_SECONDS)
    if deps.jobs.claim_pending_event(job.job_id, job.pending_event, now=now, until=until):
        logger.info("publishing an outcome event that did not go out", job_id=job.job_id)
        announce(job, deps)


def left_provider(job: Job, deps: Dependencies) -> None:
    """The job is done at its provider (finished or failed there, or given up on): free its slot, and
    hand it to the job that has waited longest for one (`handoff`).

    Called by whoever won the transition out of the provider's hands, so once; a second call is
    harmless. A slot that cannot be freed now is reclaimed when its lease runs out.
    """
    if job.capacity_slot is None:
        return
    try:
        give_back_slot(job.capacity_slot, job.job_id, deps)
    except DependencyUnavailable:
        logger.warning("provider slot not released; its lease will free it", job_id=job.job_id)
