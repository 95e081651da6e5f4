"""AWS cost per job: every AWS request one job makes on the local stack, priced at AWS's us-east-1 rates.

One 5 s 720p job of each provider runs on the local stack with its functions pointed at a counting
proxy in front of moto (benchmarks/aws_proxy.py): DynamoDB read and write units worked out from the
items' sizes, SQS requests and EventBridge events by their 64 KB chunks, S3 requests by tier and the
bytes stored. What does not pass through the proxy is counted where it happens, by wrapping each
function's ``invoke``: Lambda's requests and GB-s (duration rounded up to the millisecond × the
template's MemorySize), the HTTP API request behind each API invocation (512 KB increments), and the
event source mapping's SQS receive and delete of each batch it hands a function. The caller's POST and
one GET of the finished job are counted; waiting for the job is done on the stack's events tap, which
is the bench's and not the pipeline's. Storage (the video, its last frame, the job's record and its
index entries) is priced for `RETENTION_MONTHS`.

Left out: the event source mappings' empty long polls of idle queues (a fixed cost per queue, not per
job), CloudWatch Logs and metrics, data transfer out (the caller's download), the free tiers. See
docs/performance.md, "AWS cost per job".
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from benchmarks.aws_prices import SERVICES
from benchmarks.aws_proxy import AwsCall, MeteringProxy
from benchmarks.aws_usage import API_INCREMENT, GB, TableSpec, Usage, chunks, lambda_gb_seconds
from benchmarks.table import RatioRow, print_grid
from videojobs.catalog.estimates import estimate_cost_usd
from videojobs.models import JobRequest
from videojobs.providers import UNITS

#: How long the video, its last frame and the job's record are kept, for their storage's price.
RETENTION_MONTHS = 1
#: What the provider's price is quoted for, and what each measured job asks for.
JOB = {"prompt": "bench", "resolution": "720p", "duration": 5, "aspect_ratio": "16:9"}
PROVIDERS: tuple[str, ...] = tuple(UNITS)


def job_fields(provider: str) -> dict[str, Any]:
    """`JOB` at ``provider``, with its last frame where the provider can return one."""
    last_frame = "return_last_frame" in UNITS[provider].capabilities.optional_fields  # type: ignore[index]
    return {"provider": provider, **JOB, **({"return_last_frame": True} if last_frame else {})}


GOAL = Decimal("0.01")


def invocation_usage(
    event: Mapping[str, Any], result: Any, *, seconds: float, memory_mb: int, raised: bool = False
) -> Usage:
    """What one invocation costs: Lambda's request and GB-s, and its event source's requests (the HTTP
    API request that made it, or the SQS receive of its batch and the delete that follows success)."""
    usage = Usage()
    usage.add("lambda_requests", 1)
    usage.add("lambda_gb_seconds", lambda_gb_seconds(seconds, memory_mb))
    records = event.get("Records") or []
    if records and records[0].get("eventSource") == "aws:sqs":
        usage.add("sqs_requests", chunks(sum(len(str(record["body"]).encode()) for record in records)))
        failures = (result or {}).get("batchItemFailures", []) if isinstance(result, dict) else []
        if not raised and len(failures) < len(records):
            usage.add("sqs_requests", 1)  # one DeleteMessageBatch for the batch's successes
    elif "http" in (event.get("requestContext") or {}):
        answer = result.get("body") if isinstance(result, dict) else None
        size = max(len(str(event.get("body") or "").encode()), len(str(answer or "").encode()))
        usage.add("api_requests", chunks(size, API_INCREMENT))
    return usage


@dataclass(frozen=True)
class Invocation:
    function: str
    seconds: float
    usage: Usage


class FunctionMeter:
    """Wraps every local function's ``invoke`` and prices each invocation (`invocation_usage`)."""

    def __init__(self, functions: Mapping[str, Any], memory_mb: Mapping[str, int]) -> None:
        self._invocations: list[Invocation] = []
        self._lock = threading.Lock()
        for logical_id, function in functions.items():
            function.invoke = self._metered(logical_id, memory_mb[logical_id], function.invoke)

    def _metered(
        self, logical_id: str, memory_mb: int, invoke: Callable[[dict[str, Any]], Any]
    ) -> Callable[[dict[str, Any]], Any]:
        def metered(event: dict[str, Any]) -> Any:
            started, result, raised = time.perf_counter(), None, True
            try:
                result = invoke(event)
                raised = False
                return result
            finally:
                seconds = time.perf_counter() - started
                usage = invocation_usage(event, result, seconds=seconds, memory_mb=memory_mb, raised=raised)
                with self._lock:
                    self._invocations.append(Invocation(logical_id, seconds, usage))

        return metered

    def take(self) -> list[Invocation]:
        with self._lock:
            taken, self._invocations = self._invocations, []
        return taken


@dataclass
class JobBill:
    provider: str
    usage: Usage
    calls: list[AwsCall] = field(default_factory=list)
    invocations: list[Invocation] = field(default_factory=list)
    stored_bytes: int = 0

    @property
    def cost_usd(self) -> Decimal:
        return self.usage.cost_usd()


def job_bill(
    provider: str, calls: list[AwsCall], invocations: list[Invocation], stored_record: int
) -> JobBill:
    """One job's usage: the proxy's calls, the invocations, and ``RETENTION_MONTHS`` of storage (the
    objects the calls stored, and ``stored_record`` bytes of the job's record with its index entries)."""
    usage = Usage()
    for part in [*(call.usage for call in calls), *(invocation.usage for invocation in invocations)]:
        usage = usage + part
    stored = sum(call.stored_bytes for call in calls)
    usage.add("s3_gb_months", stored / GB * RETENTION_MONTHS)
    usage.add("dynamodb_gb_months", stored_record / GB * RETENTION_MONTHS)
    return JobBill(provider, usage, calls, invocations, stored)


def provider_price_usd(provider: str) -> Decimal | None:
    """The provider's published price for `JOB`, from the layer's catalog; None where none is published."""
    estimate = estimate_cost_usd(JobRequest.model_validate(job_fields(provider)))
    return None if estimate is None else Decimal(str(estimate))


def run_measured_job(
    stack: Any, api: Any, proxy: MeteringProxy | None, meter: FunctionMeter, provider: str
) -> JobBill:
    """Run one job, wait for its outcome on the events tap and for what follows it, read it once as
    its caller would; what it cost (without ``proxy``, only what the functions' meter saw)."""
    stack.drain_events()
    if proxy is not None:
        proxy.take()
    meter.take()
    job_id = api.post("/jobs", json=job_fields(provider), timeout=30).json()["job_id"]
    outcomes = stack.wait_for_outcomes(1, timeout=90)
    if [event["detail-type"] for event in outcomes] != ["Video Job Succeeded"]:
        raise RuntimeError(f"{provider} job {job_id} did not succeed: {outcomes}")
    time.sleep(2.5)  # the status check that follows a finished job, and late webhooks
    api.get(f"/jobs/{job_id}").raise_for_status()  # the caller reads the finished job once
    calls, invocations = (proxy.take() if proxy is not None else []), meter.take()
    dynamodb, table = stack.client("dynamodb"), stack.ref("JobsTable")
    record = dynamodb.get_item(TableName=table, Key={"job_id": {"S": job_id}}, ConsistentRead=True).get(
        "Item"
    )
    spec = TableSpec.from_description(dynamodb.describe_table(TableName=table)["Table"])
    return job_bill(provider, calls, invocations, spec.stored_bytes(record))


def measure(jobs_per_provider: int, *, counted: bool) -> dict[str, list[JobBill]]:
    """``jobs_per_provider`` jobs of each provider after one that warms up; ``counted``: with the
    functions' AWS requests through the counting proxy, else straight to moto (for their durations)."""
    from local.stack import LocalStack, LocalStackConfig

    bills: dict[str, list[JobBill]] = {}
    with contextlib.ExitStack() as running:
        proxy = running.enter_context(MeteringProxy()) if counted else None
        environment = {
            "STATUS_CHECK_FIRST_DELAY_SECONDS": "1",
            "STATUS_CHECK_MAX_DELAY_SECONDS": "1",
            "POWERTOOLS_LOG_LEVEL": "ERROR",
            **({"AWS_ENDPOINT_URL": proxy.url} if proxy is not None else {}),
        }
        config = LocalStackConfig(
            aws_port=0,
            api_port=0,
            simulator_port=0,
            stack_name="aws-cost-counted" if counted else "aws-cost-timed",
            environment=environment,
        )
        stack = running.enter_context(LocalStack(config))
        if proxy is not None:
            proxy.set_upstream(stack.aws_endpoint)
        memory_mb = {logical_id: spec.memory_mb for logical_id, spec in stack.application.functions.items()}
        meter = FunctionMeter(stack.functions, memory_mb)
        api = running.enter_context(stack.api_client())
        for provider in PROVIDERS:  # warm every function each dialect uses, and render the clip
            run_measured_job(stack, api, proxy, meter, provider)
        for provider in PROVIDERS:
            bills[provider] = [
                run_measured_job(stack, api, proxy, meter, provider) for _ in range(jobs_per_provider)
            ]
    return bills


def median_bill(bills: list[JobBill], key: Callable[[JobBill], Any] = lambda bill: bill.cost_usd) -> JobBill:
    ordered = sorted(bills, key=key)
    return ordered[(len(ordered) - 1) // 2]


def combined(counted: JobBill, timed: JobBill) -> JobBill:
    """The counted job's requests with the timed job's GB-s: the proxy's own work (it reads each
    DynamoDB item before and after a write) would otherwise lengthen the invocations it serves."""
    usage = counted.usage.with_quantity("lambda_gb_seconds", timed.usage.quantities["lambda_gb_seconds"])
    return JobBill(counted.provider, usage, counted.calls, timed.invocations, counted.stored_bytes)


def aws_cost_rows(*, jobs_per_provider: int = 3) -> list[RatioRow]:
    counted = measure(jobs_per_provider, counted=True)
    timed = measure(jobs_per_provider, counted=False)
    medians = {
        provider: combined(
            median_bill(counted[provider]),
            median_bill(timed[provider], key=lambda bill: bill.usage.quantities["lambda_gb_seconds"]),
        )
        for provider in PROVIDERS
    }
    print_breakdown(medians)
    return cost_rows(medians, jobs_per_provider)


def cost_rows(medians: Mapping[str, JobBill], jobs_per_provider: int) -> list[RatioRow]:
    prices = {provider: provider_price_usd(provider) for provider in medians}
    published = {provider: price for provider, price in prices.items() if price is not None}
    cheapest = min(published, key=lambda provider: published[provider]) if published else None
    rows = []
    for provider, bill in medians.items():
        price = prices[provider]
        if price is not None:
            baseline, against = f"${price * 1000:,.0f} at {provider}'s published price", price
        elif cheapest is not None:
            against = published[cheapest]
            baseline = f"none published; ${against * 1000:,.0f} at the cheapest ({cheapest})"
        else:
            baseline, against = "no published price", None
        rows.append(
            RatioRow(
                f"AWS cost per 1,000 jobs: {provider} (5 s 720p, median of {jobs_per_provider})",
                f"${bill.cost_usd * 1000:.4f}",
                baseline,
                f"{bill.cost_usd / against:.4%}" if against else "",
                f"<= {GOAL:.0%}",
            )
        )
    return rows


def print_breakdown(medians: Mapping[str, JobBill]) -> None:
    """Per provider: each service's $ per 1,000 jobs, then the quantities of one job."""
    services = list(dict.fromkeys(SERVICES.values()))
    header = ["provider", *services, "total"]
    cells = [header]
    for provider, bill in medians.items():
        costs = bill.usage.by_service()
        cells.append(
            [
                provider,
                *(f"${costs.get(service, Decimal(0)) * 1000:.4f}" for service in services),
                f"${bill.cost_usd * 1000:.4f}",
            ]
        )
    print("AWS cost per 1,000 jobs, by service (us-east-1 on-demand; benchmarks/aws_prices.py)")
    print_grid(cells)
    print("One job's quantities:")
    for provider, bill in medians.items():
        print(f"  {provider}: {quantities(bill)}")
    notes = sorted(
        {
            f"{call.service} {call.operation}: {call.note}"
            for bill in medians.values()
            for call in bill.calls
            if call.note
        }
    )
    for note in notes:
        print(f"  note: {note}")


def quantities(bill: JobBill) -> str:
    q = bill.usage.quantities
    functions = Counter(invocation.function.removesuffix("Function") for invocation in bill.invocations)
    operations = Counter(f"{call.service}:{call.operation}" for call in bill.calls)
    return (
        f"{q['lambda_requests']:.0f} invocations ({', '.join(f'{k} {v}' for k, v in functions.items())}), "
        f"{q['lambda_gb_seconds']:.3f} GB-s; "
        f"DynamoDB {q['dynamodb_wru']:.0f} WRU, {q['dynamodb_rru']:.1f} RRU; "
        f"SQS {q['sqs_requests']:.0f} requests; {q['eventbridge_events']:.0f} events; "
        f"S3 {q['s3_write_requests']:.0f} PUT-tier + {q['s3_read_requests']:.0f} GET-tier requests, "
        f"{bill.stored_bytes / 1e6:.2f} MB stored; {q['api_requests']:.0f} API requests; "
        f"{q['secrets_calls']:.0f} Secrets Manager calls; calls: {json.dumps(dict(operations))}"
    )
