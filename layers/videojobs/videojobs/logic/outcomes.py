"""Ending a job: the one place that turns a failure into a state change and an event."""

from __future__ import annotations

from videojobs.dependencies import Dependencies
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
        changes={"error": error.model_dump()},
        now=deps.clock(),
    )
    if failed is None:
        logger.info("job already moved on; failure ignored", job_id=job.job_id, error_code=error.code)
        return None
    deps.events.job_failed(failed)
    logger.info("job failed", job_id=job.job_id, error_code=error.code)
    return failed
