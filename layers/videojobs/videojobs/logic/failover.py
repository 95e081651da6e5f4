"""A job's provider turns (``Job.attempts``): where the next one goes, and moving the job there.

A job moves on only on a definite verdict from its current provider: a refusal of the key's account
(another key of the same provider first, while one is not benched), 429 or 5xx for the provider's
whole share of creates, no answer to a create and no webhook within the grace, the provider's own
"failed", or an open breaker. A refusal of the request itself never moves it: another provider would
refuse it too, and it fails as it always has.

Moving on ends the current turn with its outcome, frees its slot, closes its budget reservation (given
back, but kept as spent after a create that got no answer: that one may have made a video) and queues
the job again, in one conditional write that loses to anyone who changed the job since it was read.
The next provider reserves its own estimate. The webhook token of the turn left behind still
verifies, and names that turn, so its late webhook changes nothing (see `callback`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from videojobs.catalog.estimates import estimate_cost_usd
from videojobs.dependencies import Dependencies
from videojobs.logic.budget import close_reservation
from videojobs.logic.outcomes import left_provider
from videojobs.models import (
    Attempt,
    AttemptOutcome,
    DispatchRequest,
    Job,
    JobStatus,
    ProviderName,
    Route,
)
from videojobs.observability import logger
from videojobs.ports import Lost

QUEUED_ONLY = frozenset({JobStatus.QUEUED})
#: The turns whose provider ran the job, or may have: their estimate stays spent when the job moves on.
PROVIDER_MAY_HAVE_BILLED = frozenset({AttemptOutcome.NO_ANSWER, AttemptOutcome.FAILED})


def provider_share(job: Job, deps: Dependencies) -> int:
    """The creates one provider gets before the job moves on after 429s and 5xx: DISPATCH_MAX_ATTEMPTS
    shared among the candidates (all of them for a job with one)."""
    return max(1, math.ceil(deps.dispatch_policy.max_attempts / len(job.candidates)))


def attempts_after_create(job: Job, key_id: str, now: datetime) -> list[Attempt]:
    """The turns with one more create at the job's provider on ``key_id``: counted in the current turn
    when it is there, else in a new one."""
    attempts = list(job.attempts)
    current = attempts[-1] if attempts else None
    if (
        current is None
        or current.ended_at is not None
        or (current.provider, current.key_id)
        != (
            job.provider,
            key_id,
        )
    ):
        if current is not None and current.ended_at is None:
            # Another key of the same provider after a 429 or 5xx on this one.
            attempts[-1] = current.ended(AttemptOutcome.UNAVAILABLE, job.last_dispatch_error, now)
        attempts.append(Attempt(provider=job.provider, key_id=key_id, started_at=now))
    attempts[-1] = attempts[-1].model_copy(update={"creates": attempts[-1].creates + 1})
    return attempts


def dumped(attempts: Iterable[Attempt]) -> list[dict[str, Any]]:
    return [attempt.model_dump() for attempt in attempts]


def ended_turn(job: Job, outcome: AttemptOutcome, error: str | None, now: datetime) -> list[Attempt]:
    """The turns with the current one ended; a provider never tried gets a turn of its own (skipped)."""
    attempts = list(job.attempts)
    current = job.current_attempt
    if current is not None and current.ended_at is None and current.provider == job.provider:
        attempts[-1] = current.ended(outcome, error, now)
    else:
        untried = Attempt(provider=job.provider, key_id=None, started_at=now)
        attempts.append(untried.ended(outcome, error, now))
    return attempts


def keys_left(job: Job, benched: Iterable[str], deps: Dependencies) -> list[str]:
    """The job's provider's keys that are not benched."""
    out = set(benched)
    return [key for key in deps.providers.get(job.provider, {}) if key not in out]


def move_on(
    job: Job,
    *,
    to: ProviderName,
    outcome: AttemptOutcome,
    error: str,
    deps: Dependencies,
    allowed_from: frozenset[JobStatus] = QUEUED_ONLY,
    requeue: bool = True,
) -> Job | None:
    """End the job's current turn with ``outcome`` and queue it for ``to`` (its next candidate, or its
    own provider again on another key). None when the job changed since it was read (nothing done).
    ``requeue=False``: the caller dispatches it at once, within the delivery that moved it (which SQS
    delivers again if that fails)."""
    now = deps.clock()
    route = job.route or Route(candidates=job.candidates, chosen=job.provider)
    changes: dict[str, Any] = {
        "provider": to,
        "route": route.model_copy(update={"chosen": to}).model_dump(),
        "attempts": dumped(ended_turn(job, outcome, error, now)),
        "provider_job_id": None,
        "provider_links": None,
        "provider_key_id": None,
        "capacity_slot": None,
        "create_sent_at": None,
        "last_dispatch_error": error,
    }
    if to != job.provider:
        price = deps.intake_policy.price_per_second_usd.get(to)
        changes["cost_estimate_usd"] = estimate_cost_usd(job.request.for_provider(to), price)
    moved = deps.jobs.transition(
        job.job_id,
        to=JobStatus.QUEUED,
        allowed_from=allowed_from,
        changes=changes,
        expect={"provider": job.provider, "dispatch_attempts": job.dispatch_attempts},
        now=now,
    )
    if isinstance(moved, Lost):
        logger.info("job changed before it could move on", job_id=job.job_id)
        return None
    left_provider(job, deps)
    if to != job.provider:
        # A refusal, a 429 or 5xx, or an open breaker: the provider took no job, and its estimate is not
        # owed. One that ran it (its own "failed", as a job that ends so) or may have (a create that got
        # no answer) keeps it spent, as close_reservation judges a job that ends there.
        close_reservation(job, deps, provider_started=outcome in PROVIDER_MAY_HAVE_BILLED)
    if requeue:
        deps.dispatches.enqueue(DispatchRequest(job_id=job.job_id))
    logger.warning(
        "job moves on", job_id=job.job_id, left=job.provider, to=to, outcome=outcome.value, error=error
    )
    return moved
