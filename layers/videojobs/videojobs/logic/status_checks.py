"""Deferred status checks: the safety net for providers without webhooks and for lost webhooks.

Each check is one delivery of a delayed queue message and makes at most one status GET. It then
finishes the job, schedules the next check with a longer gap, or expires a job older than the
maximum age. Nothing waits in a loop: the queue's delay is the wait.

The same queue carries two more kinds of look:
- a canceled job whose provider did not take the cancel keeps its chain of checks until the provider
  is done with the prediction (or the maximum age has passed), then frees its slot;
- a job's deadline (``purpose="deadline"``), scheduled at acceptance, cancels it if it is still due.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from videojobs.dependencies import Dependencies
from videojobs.errors import ProviderError
from videojobs.logic.callback import apply_provider_update
from videojobs.logic.cancel import cancel_at_deadline
from videojobs.logic.hops import hop_towards, is_early
from videojobs.logic.outcomes import expire_job, provider_done, settle_owed_work
from videojobs.models import (
    AWAITING_PROVIDER,
    Job,
    JobStatus,
    ProviderState,
    ProviderUpdate,
    StatusCheckRequest,
)
from videojobs.observability import logger


class CheckOutcome(StrEnum):
    NOT_NEEDED = "not_needed"
    WAITING = "waiting"
    CHECKED = "checked"
    EXPIRED = "expired"
    CANCELED = "canceled"


def schedule_first_check(job: Job, deps: Dependencies, *, dispatch_attempt: int) -> None:
    """The first check of the chain that watches the create of ``dispatch_attempt``."""
    request = StatusCheckRequest(job_id=job.job_id, attempt=1, dispatch_attempt=dispatch_attempt)
    first_delay = timedelta(seconds=deps.status_check_policy.first_delay_seconds)
    _schedule(request, deps.clock() + first_delay, deps)


def schedule_deadline(job: Job, deps: Dependencies) -> None:
    """The look at the job at its deadline, if it has one. Raises DependencyUnavailable."""
    if job.deadline is not None:
        _schedule(StatusCheckRequest(job_id=job.job_id, purpose="deadline"), job.deadline, deps)


def check_job_status(request: StatusCheckRequest, deps: Dependencies) -> CheckOutcome:
    """Look at the job once. Raises DependencyUnavailable if the next check cannot be scheduled, and
    ProviderError if an expired job's cancel failed for now, so the queue delivers this one again."""
    job = deps.jobs.get(request.job_id)
    if request.purpose == "deadline":
        return _at_deadline(request, job, deps)
    if (
        job is not None
        and _rendering_after_cancel(job)
        and request.dispatch_attempt in (None, job.dispatch_attempts)
    ):
        return _watch_canceled(request, job, deps)
    create_underway = job is not None and job.status is JobStatus.QUEUED and _create_underway(request, job)
    # A queued job belongs to the submit function, unless its create is underway; a chain of an earlier
    # create attempt has been replaced by the chain of the latest one.
    if (
        job is None
        or job.status not in AWAITING_PROVIDER
        or (
            not create_underway
            and (
                job.status is JobStatus.QUEUED
                or (
                    request.dispatch_attempt is not None and request.dispatch_attempt != job.dispatch_attempts
                )
            )
        )
    ):
        logger.info("status check not needed", job_id=request.job_id, status=job.status if job else None)
        settle_owed_work(job, deps)
        return CheckOutcome.NOT_NEEDED
    now = deps.clock()
    if is_early(request.due_at, now):
        _schedule(request, request.due_at, deps)
        return CheckOutcome.WAITING
    policy = deps.status_check_policy
    expires_at = job.started_at + timedelta(seconds=policy.job_max_age_seconds)
    if now >= expires_at:
        expire_job(job, deps)
        return CheckOutcome.EXPIRED
    if create_underway:
        # Nothing to ask before the create answers, but the chain must outlive the call, or a slow
        # create would leave its job with no safety net at all.
        _schedule_next(request, job, now, expires_at, deps)
        return CheckOutcome.WAITING

    update = _ask_provider(job, deps)
    if update is not None and apply_provider_update(job, update, deps).status not in AWAITING_PROVIDER:
        return CheckOutcome.CHECKED

    _schedule_next(request, job, now, expires_at, deps)
    return CheckOutcome.CHECKED


def _at_deadline(request: StatusCheckRequest, job: Job | None, deps: Dependencies) -> CheckOutcome:
    deadline = None if job is None else job.deadline
    if job is None or deadline is None or job.status not in AWAITING_PROVIDER:
        settle_owed_work(job, deps)
        return CheckOutcome.NOT_NEEDED
    if deadline > deps.clock():
        _schedule(request, deadline, deps)
        return CheckOutcome.WAITING
    cancel_at_deadline(job, deps)
    return CheckOutcome.CANCELED


def _create_underway(request: StatusCheckRequest, job: Job) -> bool:
    """The queued job's create of the attempt this chain watches is on the wire (claimed, unanswered),
    or, for the chain's first check, not claimed yet: the submit function schedules the first check
    before it claims the create, and under load the check can come first. A first check that still
    finds no claim on its second look stops there: the dispatch that scheduled it died before its
    create."""
    if request.dispatch_attempt is None:
        return False
    if request.dispatch_attempt == job.dispatch_attempts:
        return job.create_sent_at is not None
    return request.attempt == 1 and request.dispatch_attempt == job.dispatch_attempts + 1


def _rendering_after_cancel(job: Job) -> bool:
    """A canceled job whose prediction may still run at the provider, holding its slot."""
    return (
        job.status is JobStatus.CANCELED and job.capacity_slot is not None and job.provider_job_id is not None
    )


def _watch_canceled(request: StatusCheckRequest, job: Job, deps: Dependencies) -> CheckOutcome:
    """Ask the provider whether it is done with a canceled job's prediction; free the slot once it is."""
    now = deps.clock()
    if is_early(request.due_at, now):
        _schedule(request, request.due_at, deps)
        return CheckOutcome.WAITING
    settle_owed_work(job, deps)  # a cancel that failed for now is asked again
    expires_at = job.started_at + timedelta(seconds=deps.status_check_policy.job_max_age_seconds)
    if now >= expires_at:
        provider_done(job, deps)
        return CheckOutcome.EXPIRED
    update = _ask_provider(job, deps)
    if update is not None and update.state is not ProviderState.PROCESSING:
        provider_done(job, deps)
        return CheckOutcome.CHECKED
    _schedule_next(request, job, now, expires_at, deps)
    return CheckOutcome.CHECKED


def _schedule_next(
    request: StatusCheckRequest, job: Job, now: datetime, expires_at: datetime, deps: Dependencies
) -> None:
    attempt = request.attempt + 1
    due_at = min(now + timedelta(seconds=deps.status_check_policy.delay_before(attempt)), expires_at)
    next_check = StatusCheckRequest(
        job_id=job.job_id, attempt=attempt, dispatch_attempt=request.dispatch_attempt
    )
    _schedule(next_check, due_at, deps)


def _schedule(request: StatusCheckRequest, due_at: datetime, deps: Dependencies) -> None:
    hop = hop_towards(due_at, deps.clock())
    deps.status_checks.schedule(
        request.model_copy(update={"due_at": hop.due_at}), delay_seconds=hop.delay_seconds
    )


def _ask_provider(job: Job, deps: Dependencies) -> ProviderUpdate | None:
    """The provider's word on the job's prediction; None when it has none yet or the call failed (the
    next check asks again)."""
    if job.provider_job_id is None:
        return None
    try:
        return deps.provider(job.provider, job.provider_key_id).get_prediction(
            job.provider_job_id, links=job.provider_links
        )
    except ProviderError as error:
        logger.warning("status check failed; will look again", job_id=job.job_id, error=str(error))
        return None
