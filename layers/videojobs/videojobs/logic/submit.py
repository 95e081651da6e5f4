"""POST /jobs: store the job, create the prediction with our webhook, record the provider's id."""

from __future__ import annotations

from aws_lambda_powertools.utilities.idempotency import idempotent_function
from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer
from pydantic import BaseModel

from videojobs.capabilities import check_request
from videojobs.dependencies import Dependencies
from videojobs.errors import ProviderError, RequestRejected
from videojobs.logic.outcomes import fail_job
from videojobs.models import Job, JobError, JobRequest, JobStatus
from videojobs.observability import logger


def submit_job(request: JobRequest, deps: Dependencies, *, fallback_base_url: str | None = None) -> Job:
    """Nothing is written unless the request passes every check; provider failures fail the job."""
    check_request(request)
    provider = deps.provider(request.provider)
    base_url = deps.public_base_url or fallback_base_url
    if not base_url:
        raise RequestRejected("provider", "no public callback URL is configured (PUBLIC_BASE_URL)")

    now = deps.clock()
    job = Job.new(request, now=now, retention=deps.job_retention)
    deps.jobs.create(job)
    webhook = deps.authenticator.target_for(base_url, request.provider, job.job_id)
    try:
        receipt = provider.create_prediction(request, webhook)
    except ProviderError as error:
        logger.warning("provider refused the job", job_id=job.job_id, provider=job.provider, error=str(error))
        fail_job(job, JobError(code=error.code, message=str(error)), deps)
        raise

    submitted = deps.jobs.transition(
        job.job_id,
        to=JobStatus.SUBMITTED,
        allowed_from={JobStatus.QUEUED},
        changes={"provider_job_id": receipt.provider_job_id},
        now=deps.clock(),
    )
    if submitted is not None:
        return submitted
    # The provider's webhook beat us here and already moved the job on.
    current = deps.jobs.get(job.job_id)
    return current if current is not None else job


class KeyedSubmission(BaseModel):
    key: str
    request: JobRequest


def submit_job_once(
    key: str, request: JobRequest, deps: Dependencies, *, fallback_base_url: str | None = None
) -> Job:
    """submit_job, at most once per Idempotency-Key: a retry gets the first job back.

    The same key with another body raises IdempotencyValidationError; a retry while the first call
    is still running raises IdempotencyAlreadyInProgressError.
    """

    def submit_keyed(submission: KeyedSubmission) -> Job:
        return submit_job(submission.request, deps, fallback_base_url=fallback_base_url)

    guarded = idempotent_function(
        data_keyword_argument="submission",
        persistence_store=deps.idempotency.store,
        config=deps.idempotency.config,
        output_serializer=PydanticSerializer(model=Job),
    )(submit_keyed)
    job: Job = guarded(submission=KeyedSubmission(key=key, request=request))
    return job
