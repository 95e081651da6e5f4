"""The spending ceiling: reserve before the create, settle when the provider may have worked, release
when it surely did not; once per job, per UTC day and month, per end user."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tests.support import FakeWorld, fake_mp4
from videojobs.dependencies import BudgetPolicy, IntakePolicy
from videojobs.errors import DependencyUnavailable, ProviderError
from videojobs.logic.budget import close_reservation, reserve_budget, spend_report
from videojobs.logic.callback import apply_provider_update
from videojobs.logic.cancel import cancel_job
from videojobs.logic.dispatch import DispatchOutcome, dispatch_job, fail_dead_lettered_dispatch
from videojobs.logic.intake import accept_job
from videojobs.logic.transfer import transfer_video
from videojobs.models import (
    BudgetUnpriced,
    DispatchRequest,
    HttpOrigin,
    Job,
    JobRequest,
    JobStatus,
    ProviderState,
    ProviderUpdate,
    TransferRequest,
)
from videojobs.pricing import micros_usd, usd_micros
from videojobs.settings import Settings

#: EachLabs' price for a 5-second 480p job: 0.5645 USD.
ESTIMATE = usd_micros("0.5645")
DAY = datetime(2026, 12, 7, 23, 59, 30, tzinfo=UTC)


def world_with(**ceilings_usd: str) -> FakeWorld:
    """A world whose ceilings are given in USD: daily=, monthly=, end_user=."""
    names = {
        "daily": "daily_limit_micros",
        "monthly": "monthly_limit_micros",
        "end_user": "end_user_daily_limit_micros",
    }
    world = FakeWorld(
        budget_policy=BudgetPolicy(**{names[key]: usd_micros(value) for key, value in ceilings_usd.items()})
    )
    world.clock.now = DAY
    return world


def queued(world: FakeWorld, **fields: object) -> Job:
    request = JobRequest.model_validate(
        {"provider": "eachlabs", "prompt": "a lighthouse", "resolution": "480p", "duration": 5, **fields}
    )
    job = accept_job(request, HttpOrigin(), world.deps()).job
    world.dispatches.take()
    return job


def dispatch(world: FakeWorld, job: Job) -> DispatchOutcome:
    return dispatch_job(DispatchRequest(job_id=job.job_id), world.deps())


def counter(world: FakeWorld, key: str) -> tuple[int, int]:
    """(spent, reserved) in micro-dollars."""
    spent, reserved = world.budget.counters.get(key, [0, 0])
    return spent, reserved


# -- reserve ------------------------------------------------------------------------------------------
def test_a_job_under_the_ceiling_reserves_its_estimate_on_the_day_and_the_month_and_is_sent() -> None:
    world = world_with(daily="10", monthly="100")
    job = queued(world)

    assert dispatch(world, job) is DispatchOutcome.SUBMITTED

    assert job.cost_estimate_usd == 0.5645
    assert counter(world, "day#2026-12-07") == (0, ESTIMATE)
    assert counter(world, "month#2026-12") == (0, ESTIMATE)
    assert world.budget.state_of(job.job_id) == "reserved"


def test_jobs_up_to_exactly_the_ceiling_are_sent_and_the_next_fails_with_the_figures_holding_no_slot() -> (
    None
):
    world = world_with(daily=str(micros_usd(2 * ESTIMATE)))  # room for exactly two
    first, second, third = queued(world), queued(world), queued(world)

    outcomes = [dispatch(world, job) for job in (first, second, third)]

    assert outcomes == [DispatchOutcome.SUBMITTED, DispatchOutcome.SUBMITTED, DispatchOutcome.FAILED]
    failed = world.jobs.jobs[third.job_id]
    assert failed.status is JobStatus.FAILED
    assert failed.error is not None
    assert failed.error.code == "budget_exceeded"
    assert failed.error.message == (
        "the job's estimate of 0.5645 USD would pass the daily ceiling (2026-12-07) of 1.129 USD:"
        " 0.00 USD spent and 1.129 USD reserved"
    )
    assert [event.job_id for event in world.events.failed] == [third.job_id]
    assert third.job_id not in world.capacity.holders.values()
    assert len(world.provider.created) == 2
    assert counter(world, "day#2026-12-07") == (0, 2 * ESTIMATE)
    assert world.budget.state_of(third.job_id) is None


def test_the_message_counts_spent_and_reserved_apart() -> None:
    world = world_with(daily="1.00")
    world.budget.counters["day#2026-12-07"] = [usd_micros("0.25"), usd_micros("0.30")]
    job = queued(world)

    dispatch(world, job)

    error = world.jobs.jobs[job.job_id].error
    assert error is not None
    assert error.message == (
        "the job's estimate of 0.5645 USD would pass the daily ceiling (2026-12-07) of 1.00 USD:"
        " 0.25 USD spent and 0.30 USD reserved"
    )


def test_a_monthly_ceiling_binds_on_its_own() -> None:
    world = world_with(monthly="0.50")
    job = queued(world)

    assert dispatch(world, job) is DispatchOutcome.FAILED

    error = world.jobs.jobs[job.job_id].error
    assert error is not None
    assert "monthly ceiling (2026-12) of 0.50 USD" in error.message
    assert world.budget.counters == {}  # all or nothing: the day's counter took nothing either


def test_an_end_users_ceiling_holds_only_that_end_users_jobs() -> None:
    world = world_with(end_user="1.00")
    alice_1, alice_2 = queued(world, end_user_id="alice"), queued(world, end_user_id="alice")
    bob, anonymous = queued(world, end_user_id="bob"), queued(world)

    outcomes = [dispatch(world, job) for job in (alice_1, alice_2, bob, anonymous)]

    assert outcomes == [
        DispatchOutcome.SUBMITTED,
        DispatchOutcome.FAILED,
        DispatchOutcome.SUBMITTED,
        DispatchOutcome.SUBMITTED,
    ]
    error = world.jobs.jobs[alice_2.job_id].error
    assert error is not None
    assert "daily ceiling of end user alice (2026-12-07) of 1.00 USD" in error.message
    assert counter(world, "end_user#alice#day#2026-12-07") == (0, ESTIMATE)
    assert counter(world, "day#2026-12-07") == (0, 3 * ESTIMATE)


def test_the_day_rolls_over_at_utc_midnight_and_the_month_at_the_months_end() -> None:
    world = world_with(daily="0.60", monthly="1.20")
    first = queued(world)
    assert dispatch(world, first) is DispatchOutcome.SUBMITTED  # 2026-12-07 23:59:30

    world.clock.advance(20)  # still 23:59:50: the day is full
    assert dispatch(world, queued(world)) is DispatchOutcome.FAILED
    world.clock.advance(10)  # 2026-12-08 00:00:00 UTC: a new day, the same month
    assert dispatch(world, queued(world)) is DispatchOutcome.SUBMITTED
    world.clock.now = datetime(2026, 12, 9, 12, tzinfo=UTC)  # a new day, but the month is full
    month_full = queued(world)
    assert dispatch(world, month_full) is DispatchOutcome.FAILED
    world.clock.now = datetime(2027, 1, 1, 0, 0, tzinfo=UTC)  # a new month
    assert dispatch(world, queued(world)) is DispatchOutcome.SUBMITTED

    error = world.jobs.jobs[month_full.job_id].error
    assert error is not None
    assert "monthly ceiling (2026-12)" in error.message
    assert counter(world, "day#2026-12-08") == (0, ESTIMATE)
    assert counter(world, "month#2026-12") == (0, 2 * ESTIMATE)
    assert counter(world, "month#2027-01") == (0, ESTIMATE)


def test_a_day_in_another_time_zone_counts_in_its_utc_day() -> None:
    world = world_with(daily="10")
    world.clock.now = datetime(2026, 12, 8, 1, 0, tzinfo=UTC).astimezone(  # 2026-12-07 in New York
        __import__("zoneinfo").ZoneInfo("America/New_York")
    )

    dispatch(world, queued(world))

    assert list(world.budget.counters) == ["day#2026-12-08", "month#2026-12"]


def test_a_redelivered_dispatch_reserves_once() -> None:
    world = world_with(daily="10")
    world.capacity.limit = 0  # the job waits for a slot, keeping its reservation
    job = queued(world)

    assert dispatch(world, job) is DispatchOutcome.WAITING_FOR_CAPACITY
    assert dispatch(world, job) is DispatchOutcome.WAITING_FOR_CAPACITY
    assert reserve_budget(job, world.clock(), world.deps()) is None  # a delivery that died after reserving

    assert counter(world, "day#2026-12-07") == (0, ESTIMATE)
    world.capacity.limit = 1
    assert dispatch(world, job) is DispatchOutcome.SUBMITTED
    assert counter(world, "day#2026-12-07") == (0, ESTIMATE)


def test_a_redelivery_finds_its_reservation_even_when_the_ceiling_is_full_by_then() -> None:
    world = world_with(daily="0.60")
    world.capacity.limit = 0
    job = queued(world)
    dispatch(world, job)
    world.budget.counters["day#2026-12-07"][0] = usd_micros("0.60")  # others spent the rest meanwhile

    world.capacity.limit = 1

    assert dispatch(world, job) is DispatchOutcome.SUBMITTED


def test_the_ledger_down_leaves_the_job_queued_for_the_next_delivery() -> None:
    world = world_with(daily="10")
    world.budget.down = True
    job = queued(world)

    with pytest.raises(Exception, match="budget ledger down"):
        dispatch(world, job)

    assert world.jobs.jobs[job.job_id].status is JobStatus.QUEUED
    assert world.provider.created == []
    assert world.capacity.holders == {}


# -- release ------------------------------------------------------------------------------------------
def test_a_refused_create_gives_its_reservation_back() -> None:
    world = world_with(daily="10")
    job = queued(world)
    world.provider.error = ProviderError(
        "eachlabs answered HTTP 422: bad prompt", retryable=False, status_code=422
    )

    assert dispatch(world, job) is DispatchOutcome.FAILED

    assert counter(world, "day#2026-12-07") == (0, 0)
    assert counter(world, "month#2026-12") == (0, 0)
    assert world.budget.state_of(job.job_id) == "released"


def test_a_release_that_failed_is_made_good_by_the_redelivered_dispatch() -> None:
    world = world_with(daily="10")
    job = queued(world)
    world.provider.error = ProviderError("eachlabs answered HTTP 400", retryable=False, status_code=400)

    def ledger_down_after_reserve(*_: object) -> bool:
        raise DependencyUnavailable("budget ledger down")

    world.budget.release = ledger_down_after_reserve  # type: ignore[method-assign]
    with pytest.raises(DependencyUnavailable):
        dispatch(world, job)
    assert world.jobs.jobs[job.job_id].status is JobStatus.FAILED
    del world.budget.release

    assert dispatch(world, job) is DispatchOutcome.NOT_NEEDED  # SQS delivers the message again

    assert world.budget.state_of(job.job_id) == "released"
    assert counter(world, "day#2026-12-07") == (0, 0)


def test_a_retryable_refusal_keeps_the_reservation_and_the_last_one_gives_it_back() -> None:
    world = world_with(daily="10")
    job = queued(world)
    world.provider.error = ProviderError("503", retryable=True, status_code=503)

    assert dispatch(world, job) is DispatchOutcome.RETRY_SCHEDULED
    assert counter(world, "day#2026-12-07") == (0, ESTIMATE)
    outcomes = [dispatch(world, job) for _ in range(3)]

    assert outcomes[-1] is DispatchOutcome.FAILED
    assert counter(world, "day#2026-12-07") == (0, 0)


def test_a_job_canceled_while_waiting_for_a_slot_gives_its_reservation_back_once() -> None:
    # Given a job that reserved its estimate and waits for a slot
    world = world_with(daily="10")
    world.capacity.limit = 0
    job = queued(world)
    assert dispatch(world, job) is DispatchOutcome.WAITING_FOR_CAPACITY
    assert counter(world, "day#2026-12-07") == (0, ESTIMATE)

    # When its caller cancels it, twice
    cancel_job(job.job_id, world.deps())
    cancel_job(job.job_id, world.deps())

    # Then nothing was sent, and the reservation is back, once
    assert world.provider.created == []
    assert world.budget.state_of(job.job_id) == "released"
    assert counter(world, "day#2026-12-07") == (0, 0)


def test_a_job_past_its_deadline_while_waiting_for_a_slot_gives_its_reservation_back() -> None:
    world = world_with(daily="10")
    world.capacity.limit = 0
    job = queued(world, deadline_seconds=60)
    dispatch(world, job)

    world.clock.now = DAY + timedelta(seconds=61)
    assert dispatch(world, job) is DispatchOutcome.CANCELED

    assert world.jobs.jobs[job.job_id].status is JobStatus.CANCELED
    assert world.budget.state_of(job.job_id) == "released"
    assert counter(world, "day#2026-12-07") == (0, 0)


def test_a_job_canceled_after_its_create_keeps_its_reservation_as_spent() -> None:
    # Given a job its provider has: the prediction may already have been billed
    world = world_with(daily="10")
    job = queued(world)
    assert dispatch(world, job) is DispatchOutcome.SUBMITTED

    cancel_job(job.job_id, world.deps())

    assert world.budget.state_of(job.job_id) == "spent"
    assert counter(world, "day#2026-12-07") == (ESTIMATE, 0)


def test_a_dead_lettered_dispatch_releases_when_no_create_went_out_and_settles_when_one_may_have() -> None:
    world = world_with(daily="10")
    world.capacity.limit = 0
    never_sent, maybe_sent = queued(world), queued(world)
    dispatch(world, never_sent)
    dispatch(world, maybe_sent)
    stored = world.jobs.jobs[maybe_sent.job_id]
    world.jobs.jobs[maybe_sent.job_id] = stored.model_copy(update={"create_sent_at": world.clock()})

    fail_dead_lettered_dispatch(DispatchRequest(job_id=never_sent.job_id), world.deps())
    fail_dead_lettered_dispatch(DispatchRequest(job_id=maybe_sent.job_id), world.deps())

    assert world.budget.state_of(never_sent.job_id) == "released"
    assert world.budget.state_of(maybe_sent.job_id) == "spent"
    assert counter(world, "day#2026-12-07") == (ESTIMATE, 0)


# -- settle -------------------------------------------------------------------------------------------
def submitted(world: FakeWorld) -> Job:
    job = queued(world)
    assert dispatch(world, job) is DispatchOutcome.SUBMITTED
    return world.jobs.jobs[job.job_id]


def test_a_job_that_succeeds_keeps_its_reservation_as_spent() -> None:
    world = world_with(daily="10")
    job = submitted(world)
    output = "https://cdn.example.com/out.mp4"
    world.source.files[output] = fake_mp4()
    update = ProviderUpdate(provider_job_id="pred-1", state=ProviderState.SUCCEEDED, output_url=output)

    apply_provider_update(job, update, world.deps())
    assert counter(world, "day#2026-12-07") == (0, ESTIMATE)  # transferring: not over yet
    transfer_video(TransferRequest(job_id=job.job_id, source_url=output), world.deps())
    transfer_video(TransferRequest(job_id=job.job_id, source_url=output), world.deps())  # redelivered

    assert world.jobs.jobs[job.job_id].status is JobStatus.SUCCEEDED
    assert counter(world, "day#2026-12-07") == (ESTIMATE, 0)
    assert counter(world, "month#2026-12") == (ESTIMATE, 0)


def test_a_job_that_fails_at_the_provider_keeps_its_reservation_as_spent_once() -> None:
    world = world_with(daily="10")
    job = submitted(world)
    failed = ProviderUpdate(provider_job_id="pred-1", state=ProviderState.FAILED, error_message="nsfw")

    apply_provider_update(job, failed, world.deps())
    apply_provider_update(job, failed, world.deps())  # a duplicate webhook
    close_reservation(world.jobs.jobs[job.job_id], world.deps())
    close_reservation(world.jobs.jobs[job.job_id], world.deps(), provider_started=False)

    assert counter(world, "day#2026-12-07") == (ESTIMATE, 0)
    assert world.budget.state_of(job.job_id) == "spent"


def test_a_settle_that_failed_is_made_good_by_the_next_delivery() -> None:
    world = world_with(daily="10")
    job = submitted(world)
    failed = ProviderUpdate(provider_job_id="pred-1", state=ProviderState.FAILED, error_message="nsfw")
    world.budget.down = True
    with pytest.raises(Exception, match="budget ledger down"):
        apply_provider_update(job, failed, world.deps())
    assert world.jobs.jobs[job.job_id].status is JobStatus.FAILED

    world.budget.down = False
    apply_provider_update(job, failed, world.deps())  # the provider's retry

    assert counter(world, "day#2026-12-07") == (ESTIMATE, 0)


# -- jobs without an estimate -------------------------------------------------------------------------
def gateway_job(world: FakeWorld, **fields: object) -> Job:
    return queued(world, provider="gateway", aspect_ratio="16:9", resolution="720p", **fields)


def test_an_unpriced_job_is_refused_while_a_ceiling_is_set() -> None:
    world = world_with(daily="10")
    job = gateway_job(world)

    assert dispatch(world, job) is DispatchOutcome.FAILED

    stored = world.jobs.jobs[job.job_id]
    assert stored.error is not None
    assert stored.error.code == "budget_unpriced"
    assert world.providers["gateway"].created == []
    assert world.capacity.holders == {}


def test_an_unpriced_job_is_sent_uncounted_when_allowed_or_when_no_ceiling_is_set() -> None:
    allowing = world_with(daily="10")
    allowing.budget_policy = BudgetPolicy(daily_limit_micros=usd_micros(10), unpriced=BudgetUnpriced.ALLOW)
    unlimited = world_with()
    only_end_users = world_with(end_user="1")

    for world in (allowing, unlimited, only_end_users):
        assert dispatch(world, gateway_job(world)) is DispatchOutcome.SUBMITTED
        assert world.budget.counters == {}
    on_auto = queued(only_end_users, end_user_id="alice", duration=None)  # EachLabs, no duration: no estimate
    assert on_auto.cost_estimate_usd is None
    assert dispatch(only_end_users, on_auto) is DispatchOutcome.FAILED


def test_an_operators_price_per_second_makes_the_estimate_of_a_provider_without_prices() -> None:
    world = world_with(daily="10")
    world.intake_policy = IntakePolicy(
        drop_default_provider=None,
        drop_default_prompt=None,
        max_drop_bytes=1024,
        allow_loopback_urls=False,
        max_request_bytes=256 * 1024,
        price_per_second_usd={"gateway": Decimal("0.0333"), "eachlabs": Decimal("99")},
    )

    priced = gateway_job(world, duration=7)
    on_auto = gateway_job(world, duration=None)
    published = queued(world)

    assert priced.cost_estimate_usd == 0.2331
    assert on_auto.cost_estimate_usd is None
    assert published.cost_estimate_usd == 0.5645  # EachLabs publishes prices: those win
    assert dispatch(world, priced) is DispatchOutcome.SUBMITTED
    assert counter(world, "day#2026-12-07") == (0, usd_micros("0.2331"))


# -- GET /spend and money -----------------------------------------------------------------------------
def test_the_spend_report_gives_the_day_the_month_and_an_end_users_day() -> None:
    world = world_with(daily="10", end_user="2")
    job = submitted(world)
    queued_alice = queued(world, end_user_id="alice")
    world.capacity.limit = 1  # alice's job waits, reserved
    dispatch(world, queued_alice)
    apply_provider_update(
        job, ProviderUpdate(provider_job_id="pred-1", state=ProviderState.FAILED), world.deps()
    )

    report = spend_report("alice", world.deps()).model_dump()

    assert report == {
        "day": {"date": "2026-12-07", "limit": 10.0, "spent": 0.5645, "reserved": 0.5645},
        "month": {"month": "2026-12", "limit": None, "spent": 0.5645, "reserved": 0.5645},
        "end_user": {
            "end_user_id": "alice",
            "date": "2026-12-07",
            "limit": 2.0,
            "spent": 0.0,
            "reserved": 0.5645,
        },
    }
    assert spend_report(None, world.deps()).end_user is None


def test_money_is_counted_in_micro_dollars_rounded_up_without_float_drift() -> None:
    assert usd_micros(0.1) == 100_000
    assert usd_micros("0.0000001") == 1
    assert usd_micros(Decimal("12.345678")) == 12_345_678
    assert sum(usd_micros(0.1) for _ in range(10)) == usd_micros(1)
    assert micros_usd(1_129_000) == 1.129


def test_the_budget_settings_are_read_in_usd_and_empty_means_none() -> None:
    base = {
        "JOBS_TABLE_NAME": "t",
        "VIDEOS_BUCKET_NAME": "b",
        "EVENT_BUS_NAME": "e",
        "TRANSFER_QUEUE_URL": "q",
        "STATUS_CHECK_QUEUE_URL": "q",
        "DISPATCH_QUEUE_URL": "q",
        "NOTIFY_QUEUE_URL": "q",
        "IDEMPOTENCY_TABLE_NAME": "i",
        "PROVIDER_LIMITS_TABLE_NAME": "l",
        "WEBHOOK_TOKEN_SECRET": "s" * 16,
    }
    settings = Settings.load(
        environ={
            **base,
            "BUDGET_DAILY_USD": "12.50",
            "BUDGET_MONTHLY_USD": "",
            "BUDGET_UNPRICED": "Allow",
            "GATEWAY_PRICE_PER_SECOND_USD": "0.05",
        }
    )
    defaults = Settings.load(environ=base)

    assert settings.budget_daily_usd == Decimal("12.50")
    assert settings.budget_monthly_usd is None
    assert settings.budget_unpriced is BudgetUnpriced.ALLOW
    assert settings.provider("gateway").price_per_second_usd == Decimal("0.05")
    assert (defaults.budget_daily_usd, defaults.budget_per_end_user_daily_usd) == (None, None)
    assert defaults.budget_unpriced is BudgetUnpriced.REFUSE
    with pytest.raises(ValueError, match="budget_daily_usd"):
        Settings.load(environ={**base, "BUDGET_DAILY_USD": "-1"})


def test_a_day_is_a_utc_day_even_a_second_before_midnight() -> None:
    world = world_with(daily="10")
    world.clock.now = DAY + timedelta(seconds=29)  # 23:59:59

    dispatch(world, queued(world))

    assert "day#2026-12-07" in world.budget.counters


def test_a_job_ended_while_its_dispatch_reserved_gets_the_reservation_back() -> None:
    from tests.unit.test_mutants_dispatch import RacingCapacity

    world = world_with(daily="10")
    job = queued(world)
    # A cancel ends the queued job between this delivery's reservation and its claim on the create.
    world.capacity = RacingCapacity(
        meanwhile=lambda job_id: world.jobs.transition(
            job_id,
            to=JobStatus.FAILED,
            allowed_from={JobStatus.QUEUED},
            changes={"error": {"code": "canceled", "message": "canceled while queued"}},
            now=world.clock(),
        )
    )

    assert dispatch(world, job) is DispatchOutcome.NOT_NEEDED

    assert world.provider.created == []
    assert world.budget.state_of(job.job_id) == "released"
    assert counter(world, "day#2026-12-07") == (0, 0)
