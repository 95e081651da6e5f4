"""GET /jobs/{job_id} and GET /jobs."""

from __future__ import annotations

from videojobs.dependencies import Dependencies
from videojobs.errors import JobNotFound
from videojobs.models import Job, JobListFilters, JobListPage


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
