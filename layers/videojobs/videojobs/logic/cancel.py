"""Canceling a job, at its caller's word (POST /jobs/{job_id}/cancel) or at its deadline.

A job can be canceled while it awaits its provider (queued, submitted, processing); once it is
transferring its video is ours, and a cancel comes too late. ``canceled`` is terminal like the others:
the write is conditional, so a cancel and a webhook racing leave exactly one winner.

- queued: nothing was sent, nothing is asked; the submit function, finding the job canceled, sends
  nothing and takes no slot.
- submitted, processing: the provider's own cancel, through the port (`outcomes.stop_at_provider`).
  What it said is the job's ``provider_cancel`` record, shown to callers as ``cancel.provider_cancel``.
  If it took the cancel, the job's provider slot is free at once. If it refused or has no cancel, the
  prediction may still render: the slot is held until the provider is done with it (its webhook, a
  status check, or the maximum age: `outcomes.provider_done`), so the pacing counts what really runs.
  Its output is never copied: only a job awaiting its provider can start a transfer.
"""

from __future__ import annotations

from videojobs.dependencies import Dependencies
from videojobs.errors import JobNotCancelable, JobNotFound, ProviderError
from videojobs.logic.budget import close_reservation
from videojobs.logic.outcomes import (
    announce,
    deliver_pending_event,
    left_provider,
    pending,
    stop_at_provider,
)
from videojobs.models import (
    AWAITING_PROVIDER,
    JOB_CANCELED,
    Job,
    JobError,
    JobStatus,
    ProviderCancel,
    ProviderCancelStatus,
)
from videojobs.observability import logger
from videojobs.ports import Lost

#: A cancel written over a job that moved on between its read and the write is tried again from the
#: job as the write found it, a few times: each loss means the job moved forward once.
_ATTEMPTS = 3


def cancel_job(job_id: str, deps: Dependencies) -> Job:
    """POST /jobs/{job_id}/cancel. A canceled job is answered as it is, so a second cancel gets the
    same view. Raises JobNotFound, and JobNotCancelable for a job transferring or ended otherwise."""
    job = deps.jobs.get(job_id)
    if job is None:
        raise JobNotFound(job_id)
    ended = end_canceled(job, JobError(code="canceled", message="canceled by its caller"), deps)
    if ended.status is not JobStatus.CANCELED:
        raise JobNotCancelable(job_id, ended.status)
    return ended


def cancel_at_deadline(job: Job, deps: Dependencies) -> Job:
    """The job's deadline has passed: cancel it unless it is transferring or ended already."""
    seconds = job.request.deadline_seconds
    error = JobError(code="deadline_exceeded", message=f"not done within its deadline of {seconds} seconds")
    return end_canceled(job, error, deps)


def end_canceled(job: Job, error: JobError, deps: Dependencies) -> Job:
    """Cancel the job if it still awaits its provider; returns it as it now stands (canceled by this
    call or an earlier one, or moved on beyond a cancel's reach)."""
    for _ in range(_ATTEMPTS):
        if job.status is JobStatus.CANCELED:
            deliver_pending_event(job, deps)
            return job
        if job.status not in AWAITING_PROVIDER:
            return job
        outcome = _write_canceled(job, error, deps)
        if isinstance(outcome, Job):
            return _after_cancel(outcome, deps)
        if outcome.current is None:
            raise JobNotFound(job.job_id)
        job = outcome.current
    return job


def _write_canceled(job: Job, error: JobError, deps: Dependencies) -> Job | Lost:
    now = deps.clock()
    changes: dict[str, object] = {
        "error": error.model_dump(),
        "cancel_requested_at": now,
        **pending(JOB_CANCELED, deps),
    }
    if job.provider_job_id is not None:
        changes["provider_cancel"] = ProviderCancel(status=ProviderCancelStatus.PENDING).model_dump()
    return deps.jobs.transition(
        job.job_id,
        to=JobStatus.CANCELED,
        allowed_from=AWAITING_PROVIDER,
        changes=changes,
        # The prediction the cancel is owed for is the one the job had when read.
        expect={"provider_job_id": job.provider_job_id},
        now=now,
    )


def _after_cancel(job: Job, deps: Dependencies) -> Job:
    logger.info("job canceled", job_id=job.job_id, error_code=job.error.code if job.error else None)
    if job.provider_job_id is None and job.create_sent_at is None:
        left_provider(job, deps)  # nothing runs at the provider
    close_reservation(job, deps)
    job = ask_provider_to_stop(job, deps)
    announce(job, deps)
    return job


def ask_provider_to_stop(job: Job, deps: Dependencies) -> Job:
    """The provider's cancel for a canceled job that owes one; its slot is freed if it took it. A call
    that fails for now leaves the cancel owed: the job's next status check asks again."""
    try:
        return stop_at_provider(job, deps, last_try=False)
    except ProviderError:
        return job
