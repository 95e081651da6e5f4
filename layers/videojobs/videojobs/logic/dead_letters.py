"""The dead-letter queues' work: a message that ran out of deliveries ends the job it names, with the
reason, so no job is left waiting for work that will never happen."""

from __future__ import annotations

import json
from datetime import timedelta

from videojobs.dependencies import Dependencies
from videojobs.logic.cancel import cancel_at_deadline
from videojobs.logic.dispatch import fail_dead_lettered_dispatch
from videojobs.logic.outcomes import expire_job, fail_job, provider_done, settle_owed_work
from videojobs.logic.transfer import fail_dead_lettered_transfer
from videojobs.models import (
    AWAITING_PROVIDER,
    DispatchRequest,
    Job,
    JobError,
    JobStatus,
    StatusCheckRequest,
    TransferRequest,
)

DeadLetter = TransferRequest | StatusCheckRequest | DispatchRequest


def dead_letter_of(body: str) -> DeadLetter:
    """The message a dead-letter queue holds, told apart by its shape: a transfer names its source,
    a status check counts its attempts, a dispatch names only its job. Raises ValueError (a pydantic
    ValidationError is one) when the body is none of them."""
    data = json.loads(body)
    if not isinstance(data, dict):
        raise ValueError("a dead-lettered message must be a JSON object")
    model: type[DeadLetter] = (
        TransferRequest
        if "source_url" in data
        else StatusCheckRequest
        if "attempt" in data
        else DispatchRequest
    )
    return model.model_validate(data)


def end_dead_lettered(message: DeadLetter, deps: Dependencies) -> Job | None:
    """The job it names, failed (or expired); None when the job had already moved on."""
    ended = _end(message, deps)
    if ended is None:
        # The last delivery there will be: what the job's end still owes is done now or never.
        settle_owed_work(deps.jobs.get(message.job_id), deps, last_try=True)
    return ended


def _end(message: DeadLetter, deps: Dependencies) -> Job | None:
    match message:
        case TransferRequest():
            return fail_dead_lettered_transfer(message, deps)
        case StatusCheckRequest(purpose="deadline"):
            return cancel_dead_lettered_deadline(message, deps)
        case StatusCheckRequest():
            return fail_dead_lettered_check(message, deps)
        case DispatchRequest():
            return fail_dead_lettered_dispatch(message, deps)


def cancel_dead_lettered_deadline(request: StatusCheckRequest, deps: Dependencies) -> Job | None:
    """The job's deadline message kept failing: if the deadline has passed, cancel the job now."""
    job = deps.jobs.get(request.job_id)
    if job is None or job.status not in AWAITING_PROVIDER or not job.past_deadline(deps.clock()):
        return None
    canceled = cancel_at_deadline(job, deps)
    return canceled if canceled.status is JobStatus.CANCELED else None


def fail_dead_lettered_check(request: StatusCheckRequest, deps: Dependencies) -> Job | None:
    """The job lost its safety net: its status checks kept failing for our own reasons."""
    job = deps.jobs.get(request.job_id)
    if job is not None and job.status is JobStatus.CANCELED:
        # Nobody watches its prediction any more: free the slot it kept for it.
        provider_done(job, deps)
        return None
    if job is None or job.status not in AWAITING_PROVIDER or job.status is JobStatus.QUEUED:
        return None
    max_age = timedelta(seconds=deps.status_check_policy.job_max_age_seconds)
    if deps.clock() >= job.started_at + max_age:
        return expire_job(job, deps, last_try=True)
    message = "its status checks kept failing and were dead-lettered; the provider's result is unknown"
    return fail_job(job, JobError(code="status_checks_failed", message=message), deps)
