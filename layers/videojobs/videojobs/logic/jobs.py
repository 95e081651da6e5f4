"""GET /jobs/{job_id}, GET /jobs, and links to a job's video and last frame."""

from __future__ import annotations

from typing import Literal

from videojobs.dependencies import Dependencies
from videojobs.errors import JobNotFound, OutputNotAvailable
from videojobs.models import Job, JobListFilters, JobListPage, S3Location

#: What GET /jobs/{job_id}/video and /last-frame link to.
JobOutput = Literal["video", "last frame"]


def get_job(job_id: str, deps: Dependencies) -> Job:
    job = deps.jobs.get(job_id)
    if job is None:
        raise JobNotFound(job_id)
    return job


def list_jobs(filters: JobListFilters, *, limit: int, cursor: str | None, deps: Dependencies) -> JobListPage:
    """One page of the jobs ``filters`` select, newest first. Raises InvalidCursor for a cursor that
    was not issued for these filters."""
    start = deps.list_cursors.resume(cursor, filters) if cursor is not None else None
    found = deps.jobs.list_jobs(filters, limit=limit, start=start)
    next_cursor = (
        deps.list_cursors.issue(found.next_position, filters) if found.next_position is not None else None
    )
    return JobListPage(jobs=[job.view() for job in found.jobs], next_cursor=next_cursor)


def output_url(job_id: str, output: JobOutput, deps: Dependencies) -> str:
    """A presigned GET of the job's video or last frame. Raises JobNotFound, and OutputNotAvailable
    while the job has no such object (not yet succeeded, failed, or no last frame asked for)."""
    job = get_job(job_id, deps)
    stored = job.video if output == "video" else job.last_frame
    if stored is None:
        raise OutputNotAvailable(job_id, job.status.value, output)
    location = S3Location(stored.bucket, stored.key)
    return deps.videos.presign_get(location, expires_in_seconds=deps.output_policy.url_expiry_seconds)
