"""The spending ceiling: reserve a job's estimate before its create, settle it or give it back at the end.

- Reserve: the submit function reserves the job's ``cost_estimate_usd`` on today's counter, this month's
  and, for a job with an ``end_user_id``, that end user's today, in one all-or-nothing write that holds
  ``spent + reserved + estimate <= ceiling`` on each (`reserve_budget`). A job that would pass a ceiling
  is not sent: it fails with ``budget_exceeded``. Counters are kept whether a ceiling is set or not, so
  `spend_report` always has the figures; days and months are UTC, and a job counts in the day and month
  of its reservation, however late it ends.
- Settle: a job that ends after its provider may have started work keeps its reservation as spent.
- Release: a job that ends before its provider could have started (a create refused, a job that was
  never sent, a job canceled or past its deadline while still queued) gives it back
  (`close_reservation`, which every terminal write calls: `fail_job`, the transfer, the cancel).

Every step is idempotent per job: the reservation is recorded under the job with where it was made, a
second reserve finds it, and only the first settle or release moves the counters.

Money is counted in integer micro-dollars (`usd_micros`): estimates are rounded up to the micro-dollar,
and no sum ever drifts the way floats do.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from videojobs.dependencies import BudgetPolicy, Dependencies
from videojobs.models import (
    BudgetUnpriced,
    DaySpend,
    EndUserSpend,
    Job,
    JobError,
    JobStatus,
    MonthSpend,
    SpendReport,
)
from videojobs.observability import logger
from videojobs.ports import CeilingReached, SpendCounter, SpendReading
from videojobs.pricing import MICROS_PER_USD, micros_usd, usd_micros

#: Failures that end a job before its provider could have started work on it: its reservation goes
#: back. Any other end keeps it as spent, because when in doubt the money may be gone.
NEVER_STARTED = frozenset(
    {"provider_rejected", "provider_unavailable", "not_configured", "budget_exceeded", "budget_unpriced"}
)


def usd_text(micros: int) -> str:
    """12.5 USD as "12.50", 0.123456 USD as "0.123456": cents always, further digits when there are."""
    text = f"{Decimal(micros) / MICROS_PER_USD:.6f}".rstrip("0")
    whole, _, cents = text.partition(".")
    return f"{whole}.{cents.ljust(2, '0')}"


def day_key(moment: datetime) -> str:
    return f"day#{_utc_day(moment)}"


def month_key(moment: datetime) -> str:
    return f"month#{_utc_day(moment)[:7]}"


def end_user_day_key(end_user_id: str, moment: datetime) -> str:
    return f"end_user#{end_user_id}#{day_key(moment)}"


def _utc_day(moment: datetime) -> str:
    return moment.astimezone(UTC).date().isoformat()


def counters_for(end_user_id: str | None, moment: datetime, policy: BudgetPolicy) -> list[SpendCounter]:
    """The counters a job reserved at ``moment`` counts on, with their ceilings."""
    counters = [
        SpendCounter(day_key(moment), policy.daily_limit_micros),
        SpendCounter(month_key(moment), policy.monthly_limit_micros),
    ]
    if end_user_id is not None:
        counters.append(
            SpendCounter(end_user_day_key(end_user_id, moment), policy.end_user_daily_limit_micros)
        )
    return counters


def reserve_budget(job: Job, now: datetime, deps: Dependencies) -> JobError | None:
    """Reserve the job's estimate on its counters; the error to fail it with when it may not be sent.

    A job without an estimate reserves nothing; while a ceiling applies to it, ``BUDGET_UNPRICED``
    decides whether it is sent anyway. Raises DependencyUnavailable when the ledger cannot be reached,
    so the message is delivered again (a redelivery finds the reservation already made)."""
    policy = deps.budget_policy
    end_user_id = job.request.end_user_id
    if job.cost_estimate_usd is None:
        if policy.applies_to(end_user_id) and policy.unpriced is BudgetUnpriced.REFUSE:
            message = (
                f"{job.provider} has no price for this job, so it cannot be held to the spending ceiling"
                " (set a price per second, or BUDGET_UNPRICED=allow)"
            )
            return JobError(code="budget_unpriced", message=message)
        return None
    estimate = usd_micros(job.cost_estimate_usd)
    answer = deps.budget.reserve(job.reservation_id, estimate, counters_for(end_user_id, now, policy))
    if isinstance(answer, CeilingReached):
        logger.info("job would pass a spending ceiling", job_id=job.job_id, counter=answer.counter.key)
        return JobError(code="budget_exceeded", message=_exceeded_message(answer, estimate))
    logger.info("budget reserved", job_id=job.job_id, micros=answer.amount_micros, already=answer.already)
    return None


def _exceeded_message(reached: CeilingReached, estimate_micros: int) -> str:
    counter, reading = reached.counter, reached.reading
    limit = counter.limit_micros if counter.limit_micros is not None else 0
    return (
        f"the job's estimate of {usd_text(estimate_micros)} USD would pass the {_ceiling_name(counter.key)}"
        f" of {usd_text(limit)} USD: {usd_text(reading.spent_micros)} USD spent and"
        f" {usd_text(reading.reserved_micros)} USD reserved"
    )


def _ceiling_name(key: str) -> str:
    """``day#2026-12-07`` -> "daily ceiling (2026-12-07)", and so on."""
    if key.startswith("end_user#"):
        end_user, _, day = key.removeprefix("end_user#").rpartition("#day#")
        return f"daily ceiling of end user {end_user} ({day})"
    period, _, when = key.partition("#")
    return f"{'daily' if period == 'day' else 'monthly'} ceiling ({when})"


def provider_may_have_started(job: Job) -> bool:
    """Whether a finished job's provider may have done (and billed) work for it."""
    if job.status is JobStatus.SUCCEEDED or job.provider_job_id is not None:
        return True
    if job.dispatched_at is None:
        return False  # no create was ever sent: canceled, expired or failed while queued
    return job.error is None or job.error.code not in NEVER_STARTED


def close_reservation(job: Job, deps: Dependencies, *, provider_started: bool | None = None) -> None:
    """The job has ended: its reservation becomes spent, or goes back when its provider surely never
    started (``provider_started``, or else judged from the job). A second call changes nothing."""
    started = provider_may_have_started(job) if provider_started is None else provider_started
    closed = deps.budget.settle(job.reservation_id) if started else deps.budget.release(job.reservation_id)
    if closed:
        logger.info("budget reservation closed", job_id=job.job_id, spent=started)


def spend_report(end_user_id: str | None, deps: Dependencies) -> SpendReport:
    """Today's and this month's figures (UTC), and ``end_user_id``'s today when given."""
    now = deps.clock()
    counters = counters_for(end_user_id, now, deps.budget_policy)
    readings = deps.budget.readings([counter.key for counter in counters])
    day, month, *end_users = (
        _figures(readings.get(counter.key), counter.limit_micros) for counter in counters
    )
    today = _utc_day(now)
    return SpendReport(
        day=DaySpend(date=today, **day),
        month=MonthSpend(month=today[:7], **month),
        end_user=EndUserSpend(end_user_id=end_user_id, date=today, **end_users[0])
        if end_user_id is not None
        else None,
    )


def _figures(reading: SpendReading | None, limit_micros: int | None) -> dict[str, float | None]:
    reading = reading or SpendReading()
    return {
        "limit": None if limit_micros is None else micros_usd(limit_micros),
        "spent": micros_usd(reading.spent_micros),
        "reserved": micros_usd(reading.reserved_micros),
    }
