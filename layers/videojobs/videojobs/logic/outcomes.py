"""Ending a job: the one place that turns a failure into a state change and an event, and the one
place a job gives its provider slot back."""

from __future__ import annotations

from videojobs.dependencies import Dependencies
from videojobs.errors import DependencyUnavailable
from videojobs.models import AWAITING_PROVIDER, Job, JobError, JobStatus
from videojobs.observability import logger


def fail_job(
    job: Job,
    error: JobError,
    deps: Dependencies,
    *,
    allowed_from: frozenset[JobStatus] = AWAITING_PROVIDER,
    status: JobStatus = JobStatus.FAILED,
) -> Job | None:
    """Move the job to ``status`` (failed, or expired) and announce it as "Video Job Failed"."""
    failed = deps.jobs.transition(
        job.job_id,
        to=status,
        allowed_from=allowed_from,
        changes={"error": error.model_dump(), "create_sent_at": None},
        now=deps.clock(),
    )
    if failed is None:
        logger.info("job already moved on; failure ignored", job_id=job.job_id, error_code=error.code)
        return None
    left_provider(failed, deps)
    deps.events.job_failed(failed)
    logger.info("job failed", job_id=job.job_id, error_code=error.code)
    return failed


def left_provider(job: Job, deps: Dependencies) -> None:
    """The job is done at its provider (finished or failed there, or given up on): free its slot.

    Called by whoever won the transition out of the provider's hands, so once; a second call is
    harmless. A slot that cannot be freed now is reclaimed when its lease runs out.
    """
    if job.capacity_slot is None:
        return
    try:
        deps.capacity.release(job.capacity_slot, job.job_id)
    except DependencyUnavailable:
        logger.warning("provider slot not released; its lease will free it", job_id=job.job_id)
