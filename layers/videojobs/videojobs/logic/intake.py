"""The one intake behind every door (POST /jobs, S3 drops, "Video Job Requested" events).

It validates the request, stores the job as ``queued`` and queues it for the submit function. It
never calls a provider. A request from S3 or EventBridge is idempotent per origin: its job id is
derived from where it came from, and the create is conditional, so a redelivery finds its job.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from aws_lambda_powertools.utilities.idempotency import idempotent_function
from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer
from pydantic import BaseModel

from videojobs.catalog.routing import plan_route
from videojobs.dependencies import Dependencies
from videojobs.download_policy import public_url_problem
from videojobs.errors import DependencyUnavailable, RequestRejected
from videojobs.logic.media import check_media_inputs
from videojobs.logic.outcomes import fail_job
from videojobs.logic.status_checks import schedule_deadline
from videojobs.models import (
    DispatchRequest,
    EventOrigin,
    HttpOrigin,
    Job,
    JobError,
    JobRejection,
    JobRequest,
    JobStatus,
    S3Origin,
    ValidationDetail,
)
from videojobs.observability import logger, trace_job

#: Job and rejection ids of S3 and EventBridge requests are UUIDv5s of their origin in this namespace.
ORIGIN_NAMESPACE = uuid.UUID("5f0c7a2e-3c1b-4f7e-9d86-2b1f6c0e9a41")

AnyOrigin = HttpOrigin | S3Origin | EventOrigin


@dataclass(frozen=True)
class Intake:
    job: Job
    #: False when this origin had already given a job (a redelivery, or a re-upload unchanged).
    created: bool


def origin_key(origin: AnyOrigin, client_reference: str | None) -> str | None:
    """What makes two deliveries the same request; None for HTTP (Idempotency-Key covers it)."""
    match origin:
        case S3Origin(bucket=bucket, key=key, etag=etag, line=line):
            return f"s3\n{bucket}\n{key}\n{etag}\n{line or 0}"
        case EventOrigin(source=source) if client_reference:
            return f"event-reference\n{source}\n{client_reference}"
        case EventOrigin(event_id=event_id):
            return f"event\n{event_id}"
    return None


def accept_job(request: JobRequest, origin: AnyOrigin, deps: Dependencies) -> Intake:
    """Raises RequestRejected naming the field, before anything is written."""
    policy = deps.intake_policy
    plan = plan_route(
        request,
        enabled=deps.enabled_providers,
        order=deps.routing_policy.order,
        price_per_second_usd=policy.price_per_second_usd,
    )
    check_media_inputs(request, deps)
    if request.notify_url is not None:
        problem = public_url_problem(request.notify_url, allow_loopback=policy.allow_loopback_urls)
        if problem:
            raise RequestRejected("notify_url", problem)

    key = origin_key(origin, request.client_reference)
    job = Job.new(
        request,
        now=deps.clock(),
        retention=deps.job_retention,
        route=plan.route,
        origin=origin,
        job_id=str(uuid.uuid5(ORIGIN_NAMESPACE, key)) if key else None,
        cost_estimate_usd=plan.first_estimate,
    )
    trace_job(job.job_id)
    existing = deps.jobs.create_if_absent(job)
    if existing is not None:
        if existing.status is JobStatus.QUEUED and existing.dispatch_attempts == 0:
            # Stored by an earlier delivery that may have died before queueing it; the submit
            # function takes a job once however often it is queued, and a deadline ends it once.
            schedule_deadline(existing, deps)
            deps.dispatches.enqueue(DispatchRequest(job_id=existing.job_id))
        logger.info("request already taken", job_id=existing.job_id, origin=origin.kind)
        return Intake(existing, created=False)
    try:
        schedule_deadline(job, deps)
        deps.dispatches.enqueue(DispatchRequest(job_id=job.job_id))
    except DependencyUnavailable as error:
        if isinstance(origin, HttpOrigin):
            # Nobody would deliver this request again: end the job rather than leave it queued.
            fail_job(job, JobError(code=error.code, message="could not queue the job for submission"), deps)
        raise
    logger.info(
        "job accepted",
        job_id=job.job_id,
        origin=origin.kind,
        provider=job.provider,
        candidates=len(plan.route.candidates),
    )
    return Intake(job, created=True)


def reject(
    origin: S3Origin | EventOrigin,
    client_reference: str | None,
    detail: list[ValidationDetail],
    deps: Dependencies,
) -> JobRejection:
    """A request that no one can be answered a 422 about: announce it as "Video Job Rejected"."""
    key = origin_key(origin, None) or ""
    rejection = JobRejection(
        rejection_id=str(uuid.uuid5(ORIGIN_NAMESPACE, f"rejected\n{key}")),
        origin=origin,
        client_reference=client_reference,
        detail=detail,
    )
    deps.events.job_rejected(rejection)
    logger.info("request rejected", origin=origin.kind, fields=[".".join(map(str, d.loc)) for d in detail])
    return rejection


class KeyedSubmission(BaseModel):
    key: str
    request: JobRequest


def accept_http_job_once(key: str, request: JobRequest, deps: Dependencies) -> Job:
    """POST /jobs at most once per Idempotency-Key: a retry gets the first job back.

    The same key with another body raises IdempotencyValidationError; a retry while the first call
    is still running raises IdempotencyAlreadyInProgressError.
    """

    def accept_keyed(submission: KeyedSubmission) -> Job:
        return accept_job(submission.request, HttpOrigin(), deps).job

    guarded = idempotent_function(
        data_keyword_argument="submission",
        persistence_store=deps.idempotency.store,
        config=deps.idempotency.config,
        output_serializer=PydanticSerializer(model=Job),
    )(accept_keyed)
    job: Job = guarded(submission=KeyedSubmission(key=key, request=request))
    return job
