"""POST /webhooks/{provider}/{job_id}: authenticate, then apply the provider's verdict once."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from pydantic import BaseModel

from videojobs.catalog.capabilities import Callbacks, capabilities_of
from videojobs.dependencies import Dependencies
from videojobs.errors import JobNotFound, WebhookConflict
from videojobs.logic.failover import dumped, ended_turn, move_on
from videojobs.logic.outcomes import (
    cancel_prediction,
    fail_job,
    left_provider,
    provider_done,
    queue_owed_transfer,
    settle_owed_work,
)
from videojobs.models import (
    AWAITING_PROVIDER,
    AttemptOutcome,
    Job,
    JobError,
    JobStatus,
    ProviderName,
    ProviderState,
    ProviderUpdate,
)
from videojobs.observability import logger
from videojobs.ports import Lost


class UpdateEffect(StrEnum):
    APPLIED = "applied"
    IGNORED = "ignored"


class WebhookReceipt(BaseModel):
    job_id: str
    status: JobStatus
    effect: UpdateEffect


def receive_webhook(
    provider_name: ProviderName,
    job_id: str,
    token: str | None,
    headers: Mapping[str, str],
    body: bytes,
    deps: Dependencies,
) -> WebhookReceipt:
    # The token is checked before anything is read, so a forged call costs no I/O.
    verified = deps.authenticator.verify(job_id, token)
    provider = deps.provider(provider_name)
    update = provider.parse_webhook(headers, body, signing_secret=verified.signing_secret)

    job = deps.jobs.get(job_id)
    if job is None:
        raise JobNotFound(job_id)
    if verified.attempt != job.attempt_number:
        return _from_a_turn_left_behind(job, verified.attempt, provider_name, update, deps)
    if job.provider != provider_name:
        raise WebhookConflict(f"job {job_id} belongs to {job.provider}, not {provider_name}")
    if job.provider_job_id is not None and job.provider_job_id != update.provider_job_id:
        raise WebhookConflict(f"webhook is about prediction {update.provider_job_id}, not the job's")
    update = _providers_word(provider_name, job.provider_key_id, update, deps, links=job.provider_links)
    return apply_provider_update(job, update, deps)


def _providers_word(
    provider_name: ProviderName,
    key_id: str | None,
    update: ProviderUpdate,
    deps: Dependencies,
    *,
    links: Mapping[str, str] | None = None,
) -> ProviderUpdate:
    """The update, or for a provider whose webhooks are unsigned the provider's own word on that
    prediction: only the URL token vouches for an unsigned body."""
    if capabilities_of(provider_name).callbacks is not Callbacks.UNSIGNED:
        return update
    return deps.provider(provider_name, key_id).get_prediction(update.provider_job_id, links=links)


def apply_provider_update(job: Job, update: ProviderUpdate, deps: Dependencies) -> WebhookReceipt:
    """Move the job forward on the provider's word; a duplicate or late word changes nothing, but does
    what the job still owes (a transfer message, an outcome event) if its first bearer could not."""
    changed: Job | Lost | None
    if update.state is ProviderState.SUCCEEDED and update.output_url:
        changed = _start_transfer(job, update, update.output_url, deps)
    elif update.state is ProviderState.SUCCEEDED:
        error = JobError(code="provider_output_missing", message="provider reported success without output")
        changed = fail_job(job, error, deps)
    elif update.state is ProviderState.FAILED:
        message = update.error_message or "provider reported failure"
        following = job.next_candidate
        if following is not None and deps.routing_policy.failover_on_provider_failure:
            moved = move_on(
                job,
                to=following,
                outcome=AttemptOutcome.FAILED,
                error=message,
                deps=deps,
                allowed_from=AWAITING_PROVIDER,
            )
            changed = moved if moved is not None else Lost(deps.jobs.get(job.job_id))
        else:
            turn = {"attempts": dumped(ended_turn(job, AttemptOutcome.FAILED, message, deps.clock()))}
            changed = fail_job(job, JobError(code="provider_failed", message=message), deps, changes=turn)
    else:
        # From queued too: the webhook of a create that got no answer adopts its job.
        changed = deps.jobs.transition(
            job.job_id,
            to=JobStatus.PROCESSING,
            allowed_from={JobStatus.QUEUED, JobStatus.SUBMITTED},
            changes={"provider_job_id": update.provider_job_id, "create_sent_at": None},
            now=deps.clock(),
        )
    if isinstance(changed, Job):
        return WebhookReceipt(job_id=job.job_id, status=changed.status, effect=UpdateEffect.APPLIED)
    # fail_job answers None when it lost: only then is the job read again.
    current = (changed.current if changed is not None else deps.jobs.get(job.job_id)) or job
    logger.info("provider update ignored", job_id=job.job_id, status=current.status, state=update.state)
    settle_owed_work(current, deps)
    if current.status is JobStatus.CANCELED and update.state is not ProviderState.PROCESSING:
        # A canceled job's prediction rendered (or failed) anyway: nothing is copied, but the provider
        # is done with it now, and so is its slot.
        provider_done(current, deps)
    return WebhookReceipt(job_id=job.job_id, status=current.status, effect=UpdateEffect.IGNORED)


def _from_a_turn_left_behind(
    job: Job, number: int, provider_name: ProviderName, update: ProviderUpdate, deps: Dependencies
) -> WebhookReceipt:
    """A webhook of a provider turn the job has left (it moved on to another provider or key): it
    changes nothing and copies nothing. A prediction that turn made and that still renders is asked
    to stop, where the provider has a cancel, and noted on the turn."""
    turn = job.attempts[number - 1] if 0 < number <= len(job.attempts) else None
    if turn is None or turn.provider != provider_name:
        raise WebhookConflict(f"job {job.job_id} had no turn {number} at {provider_name}")
    update = _providers_word(provider_name, turn.key_id, update, deps)
    logger.info(
        "webhook of a turn left behind ignored", job_id=job.job_id, turn=number, state=update.state.value
    )
    if update.state is ProviderState.PROCESSING and turn.cancel is None:
        # Its webhook comes again on failure only: this is the one try.
        outcome = cancel_prediction(turn.provider, turn.key_id, update.provider_job_id, deps)
        logger.info("turn left behind: provider cancel", job_id=job.job_id, outcome=outcome.status.value)
        attempts = list(job.attempts)
        attempts[number - 1] = turn.model_copy(
            update={"provider_job_id": update.provider_job_id, "cancel": outcome}
        )
        deps.jobs.transition(
            job.job_id,
            to=job.status,
            allowed_from={job.status},
            changes={"attempts": dumped(attempts)},
            expect={"dispatch_attempts": job.dispatch_attempts},
            now=deps.clock(),
        )
    return WebhookReceipt(job_id=job.job_id, status=job.status, effect=UpdateEffect.IGNORED)


def _start_transfer(job: Job, update: ProviderUpdate, output_url: str, deps: Dependencies) -> Job | Lost:
    """Whoever wins ``-> transferring`` owes the transfer message: the same write records the debt, and
    a queue that refuses it leaves it owed (raised, so the provider's retry or the next status check
    pays it) instead of writing the job back."""
    transferring = deps.jobs.transition(
        job.job_id,
        to=JobStatus.TRANSFERRING,
        allowed_from=AWAITING_PROVIDER,
        changes={
            "provider_job_id": update.provider_job_id,
            "output_url": output_url,
            "last_frame_url": update.last_frame_url,
            "create_sent_at": None,
            "transfer_owed": True,
        },
        now=deps.clock(),
    )
    if isinstance(transferring, Lost):
        return transferring
    left_provider(transferring, deps)
    return queue_owed_transfer(transferring, deps)
