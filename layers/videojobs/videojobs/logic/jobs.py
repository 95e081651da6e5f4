"""GET /jobs/{job_id}."""

from __future__ import annotations

from videojobs.dependencies import Dependencies
from videojobs.errors import JobNotFound
from videojobs.models import Job


def get_job(job_id: str, deps: Dependencies) -> Job:
    job = deps.jobs.get(job_id)
    if job is None:
        raise JobNotFound(job_id)
    return job
