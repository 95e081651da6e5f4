"""Deferred status checks: the safety net for providers without webhooks and for lost webhooks.

Each check is one delivery of a delayed queue message and makes at most one status GET. It then
finishes the job, schedules the next check with a longer gap, or expires a job older than the
maximum age. Nothing waits in a loop: the queue's delay is the wait.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from videojobs.dependencies import Dependencies
from videojobs.errors import ProviderError
from videojobs.logic.callback import apply_provider_update
from videojobs.logic.hops import hop_towards, is_early
from videojobs.logic.outcomes import expire_job, settle_owed_work
from videojobs.models import AWAITING_PROVIDER, Job, JobStatus, StatusCheckRequest
from videojobs.observability import logger


class CheckOutcome(StrEnum):
    NOT_NEEDED = "not_needed"
    WAITING = "waiting"
    CHECKED = "checked"
    EXPIRED = "expired"


def schedule_first_check(job: Job, deps: Dependencies, *, dispatch_attempt: int) -> None:
    """The first check of the chain that watches the create of ``dispatch_attempt``."""
    request = StatusCheckRequest(job_id=job.job_id, attempt=1, dispatch_attempt=dispatch_attempt)
    first_delay = timedelta(seconds=deps.status_check_policy.first_delay_seconds)
    _schedule(request, deps.clock() + first_delay, deps)


def check_job_status(request: StatusCheckRequest, deps: Dependencies) -> CheckOutcome:
    """Look at the job once. Raises DependencyUnavailable if the next check cannot be scheduled, and
    ProviderError if an expired job's cancel failed for now, so the queue delivers this one again."""
    job = deps.jobs.get(request.job_id)
    # A queued job belongs to the submit function; a chain of an earlier create attempt has been
    # replaced by the chain of the latest one.
    if (
        job is None
        or job.status not in AWAITING_PROVIDER
        or job.status is JobStatus.QUEUED
        or (request.dispatch_attempt is not None and request.dispatch_attempt != job.dispatch_attempts)
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

    if job.provider_job_id is not None:
        try:
            update = deps.provider(job.provider, job.provider_key_id).get_prediction(
                job.provider_job_id, links=job.provider_links
            )
        except ProviderError as error:
            logger.warning("status check failed; will look again", job_id=job.job_id, error=str(error))
        else:
            receipt = apply_provider_update(job, update, deps)
            if receipt.status not in AWAITING_PROVIDER:
                return CheckOutcome.CHECKED

    attempt = request.attempt + 1
    due_at = min(now + timedelta(seconds=policy.delay_before(attempt)), expires_at)
    next_check = StatusCheckRequest(
        job_id=job.job_id, attempt=attempt, dispatch_attempt=request.dispatch_attempt
    )
    _schedule(next_check, due_at, deps)
    return CheckOutcome.CHECKED


def _schedule(request: StatusCheckRequest, due_at: datetime, deps: Dependencies) -> None:
    hop = hop_towards(due_at, deps.clock())
    deps.status_checks.schedule(
        request.model_copy(update={"due_at": hop.due_at}), delay_seconds=hop.delay_seconds
    )
