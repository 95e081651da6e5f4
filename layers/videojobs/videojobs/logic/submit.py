"""POST /jobs: store the job, create the prediction with our webhook, record the provider's id."""

from __future__ import annotations

from aws_lambda_powertools.utilities.idempotency import idempotent_function
from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer
from pydantic import BaseModel

from videojobs.capabilities import check_request
from videojobs.dependencies import Dependencies
from videojobs.errors import DependencyUnavailable, ProviderError, RequestRejected
from videojobs.logic.media import check_s3_inputs, with_fetchable_media
from videojobs.logic.outcomes import fail_job
from videojobs.logic.status_checks import schedule_first_check
from videojobs.models import Job, JobError, JobRequest, JobStatus
from videojobs.observability import logger
from videojobs.pricing import estimate_cost_usd


def submit_job(request: JobRequest, deps: Dependencies, *, fallback_base_url: str | None = None) -> Job:
    """Nothing is written unless the request passes every check; provider failures fail the job."""
    check_request(request)
    provider = deps.provider(request.provider)
    base_url = deps.public_base_url or fallback_base_url
    if not base_url:
        raise RequestRejected("provider", "no public callback URL is configured (PUBLIC_BASE_URL)")
    check_s3_inputs(request, deps)

    job = Job.new(
        request, now=deps.clock(), retention=deps.job_retention, cost_estimate_usd=estimate_cost_usd(request)
    )
    deps.jobs.create(job)
    # The safety net goes first: a job whose webhook never comes must still be looked at, so
    # nothing is sent to the provider unless its first status check is scheduled.
    try:
        schedule_first_check(job, deps)
    except DependencyUnavailable as error:
        fail_job(job, JobError(code=error.code, message=str(error)), deps)
        raise
    webhook = deps.authenticator.target_for(base_url, request.provider, job.job_id)
    try:
        receipt = provider.create_prediction(with_fetchable_media(request, provider, deps), webhook)
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
