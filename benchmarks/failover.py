"""`auto` failover: what the cheapest provider refusing every create costs a batch of jobs.

The same ``jobs`` `auto` jobs (720p, 5 s, 16:9, text to video, ``providers: [byteplus, eachlabs]``)
run twice, each time on a fresh local stack: the breaker lives in the stack's ProviderLimitsTable, so
a fresh stack is a fresh breaker. Arm A has no fault: every job goes to BytePlus, the cheapest (0.756
USD against EachLabs' 1.2095). In arm B the simulator answers 503 to every create made at BytePlus
(its faults scoped to that provider): the first jobs spend their share of creates there, the breaker
opens after ``BREAKER_FAILURE_THRESHOLD`` of them, and the rest skip BytePlus for EachLabs.

Every job is submitted over HTTP (POST /jobs, signed) eight at a time; the wall time runs from the
first POST to the last outcome event, read from the stack's tap on its event bus by long polls.
Creates and predictions are the simulator's own count (its request log and its job records): an
extra create is one beyond one per job; a duplicate video is a prediction (an accepted create, at any
provider) beyond one per job.

`python -m benchmarks.failover [--jobs N]` prints the rows and, per arm, where the time went.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import os
import statistics
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from benchmarks.economics import InvocationClock
from benchmarks.table import RatioRow, print_table

ROOT = Path(__file__).resolve().parent.parent
FULL_JOBS = 100
QUICK_JOBS = 40
FAILING = "byteplus"
FALLBACK = "eachlabs"
REQUEST = {
    "provider": "auto",
    "providers": [FAILING, FALLBACK],
    "prompt": "failover bench",
    "resolution": "720p",
    "duration": 5,
    "aspect_ratio": "16:9",
}
#: Each provider's create route at the simulator; other POSTs (cancels) are not creates.
CREATE_PATHS = {FAILING: "/api/v3/contents/generations/tasks", FALLBACK: "/v1/prediction"}
#: The same settings in both arms, so the fault is the only difference between them:
#: - the local stack's own backoff (1 s base, 4 s cap, as in local/stack.py) rather than production's
#:   5 s and 300 s, which the local stack never runs with either;
#: - the breaker's defaults, written out so a changed default shows here: it opens after 5 failed
#:   creates in a row and stays open 60 s, so the jobs dispatched after it opens skip BytePlus at once
#:   (an arm that runs longer meets one half-open probe, refused, and the breaker opens again);
#:   DISPATCH_MAX_ATTEMPTS at its default 6, a share of 3 creates per candidate;
#: - pacing out of the way and equal at both providers (BytePlus allows 3 jobs per key by default,
#:   EachLabs 10): with their defaults arm B would run more jobs at once than arm A and look faster for
#:   a reason that has nothing to do with failover;
#: - status checks pushed past the run: BytePlus's callbacks and EachLabs' webhooks finish the jobs,
#:   and no arm spends its time on checks the other does not make;
#: - the functions' log lines off (the template's level is INFO): the table, not a few thousand lines.
ENVIRONMENT = {
    "POWERTOOLS_LOG_LEVEL": "ERROR",
    "DISPATCH_BACKOFF_BASE_SECONDS": "1",
    "DISPATCH_BACKOFF_MAX_SECONDS": "4",
    "DISPATCH_MAX_ATTEMPTS": "6",
    "BREAKER_FAILURE_THRESHOLD": "5",
    "BREAKER_OPEN_SECONDS": "60",
    "ROUTING_SPILLOVER": "false",
    "STATUS_CHECK_FIRST_DELAY_SECONDS": "300",
    "STATUS_CHECK_MAX_DELAY_SECONDS": "300",
    **{
        f"{name.upper()}_{limit}": value
        for name in (FAILING, FALLBACK)
        for limit, value in (("MAX_CONCURRENT", "1000"), ("MAX_CREATES_PER_MINUTE", "100000"))
    },
}
SUBMITTERS = 8
_arms = itertools.count(1)
ARM_TIMEOUT_SECONDS = 300


@dataclass
class Arm:
    """What one arm measured."""

    jobs: int
    wall_seconds: float
    #: (provider, HTTP status) -> creates the simulator answered.
    creates: Counter[tuple[str, int]]
    #: Provider -> predictions made (accepted creates).
    predictions: Counter[str]
    #: Job status -> jobs (GET /jobs/{id} after the run); "unfinished" for one with no outcome in time.
    statuses: Counter[str]
    breaker_opens: int
    #: Seconds from each job's POST to its outcome event, by how the job met the failing provider:
    #: "created there" (at least one create sent to it), "skipped it" or "went straight" (arm A).
    latencies: dict[str, list[float]] = field(default_factory=dict)
    #: Function -> (invocations, seconds spent in them) from the first POST to the last outcome.
    invocations: dict[str, tuple[int, float]] = field(default_factory=dict)
    #: CPU seconds of this process (moto, the simulator, the functions: the whole stack) meanwhile; its
    #: idle queue pollers alone take about a third of a second every second.
    cpu_seconds: float = 0.0
    #: The machine's 1-minute load average as the arm started and as it ended: other work shows here.
    load: tuple[float, float] = (0.0, 0.0)
    fault_lasted: bool = True

    @property
    def total_creates(self) -> int:
        return sum(self.creates.values())

    @property
    def extra_creates(self) -> int:
        return self.total_creates - self.jobs

    @property
    def refused_at_failing(self) -> int:
        return sum(
            n for (provider, status), n in self.creates.items() if provider == FAILING and status >= 500
        )

    @property
    def duplicate_videos(self) -> int:
        return sum(self.predictions.values()) - self.jobs

    @property
    def not_succeeded(self) -> int:
        return self.jobs - self.statuses["succeeded"]


def failover_rows(quick: bool = False) -> list[RatioRow]:
    """Arm A and arm B, 100 jobs each (40 when quick): the wall-time ratio, extra creates, duplicates."""
    jobs = QUICK_JOBS if quick else FULL_JOBS
    clean, failing = run_arm(jobs, failing=False), run_arm(jobs, failing=True)
    return rows_of(clean, failing, note=f" (--quick; {FULL_JOBS} in the full run)" if quick else "")


def rows_of(clean: Arm, failing: Arm, *, note: str = "") -> list[RatioRow]:
    scope = f"{clean.jobs} `auto` jobs{note}"
    fault = f"{FAILING} answering 503 to every create" + ("" if failing.fault_lasted else " (fault ran out)")
    return [
        RatioRow(
            f"failover, {scope}: wall time, {fault}",
            f"{failing.wall_seconds:.1f} s (breaker opened {failing.breaker_opens}x)",
            f"{clean.wall_seconds:.1f} s, no fault (all at {FAILING})",
            f"{failing.wall_seconds / clean.wall_seconds:.2f}x",
            "<= 1.3x",
        ),
        RatioRow(
            f"failover, {scope}: extra provider creates, duplicate videos, jobs not succeeded",
            f"{failing.extra_creates} extra creates ({failing.refused_at_failing} refused at {FAILING}), "
            f"{failing.duplicate_videos} duplicate videos, {failing.not_succeeded} not succeeded",
            f"{clean.extra_creates} extra, {clean.duplicate_videos} duplicate, {clean.not_succeeded} not "
            "succeeded, no fault",
            "",
            "0 duplicate videos, 0 not succeeded",
        ),
    ]


def run_arm(jobs: int, *, failing: bool) -> Arm:
    from local.stack import LocalStack, LocalStackConfig

    config = LocalStackConfig(
        aws_port=0,
        api_port=0,
        simulator_port=0,
        # moto keeps every stack's tables in this process: a name of its own is a fresh breaker.
        stack_name=f"failover-{'b' if failing else 'a'}-{next(_arms)}",
        environment=ENVIRONMENT,
    )
    with (
        LocalStack(config) as stack,
        stack.api_client() as api,
        httpx.Client(base_url=f"{stack.simulator.base_url}/_sim", timeout=30) as simulator,
    ):
        clock = InvocationClock(stack.functions)
        warm(stack, api)
        known = {record["id"] for record in simulator.get("/predictions").json()}
        simulator.delete("/requests").raise_for_status()
        if failing:
            # Enough 503s for every create every job could send; checked afterwards that it lasted.
            refusals = jobs * int(ENVIRONMENT["DISPATCH_MAX_ATTEMPTS"]) * 2
            fault = {
                "faults_provider": FAILING,
                "reject_creates_with_status": 503,
                "reject_creates_count": refusals,
            }
            simulator.post("/faults", json=fault).raise_for_status()
        clock.take()
        cpu_started, started, load_before = time.process_time(), time.perf_counter(), os.getloadavg()[0]
        submitted = submit(api, jobs)
        outcomes, breaker_opens = wait_for_outcomes(stack, set(submitted), ARM_TIMEOUT_SECONDS)
        finished = len(outcomes) == len(submitted)
        wall = (max(outcomes.values()) if finished else time.perf_counter()) - started
        cpu_seconds, load = time.process_time() - cpu_started, (load_before, os.getloadavg()[0])
        invocations: dict[str, tuple[int, float]] = {}
        for name, seconds in clock.take():
            count, total = invocations.get(name, (0, 0.0))
            invocations[name] = (count + 1, total + seconds)
        time.sleep(1)  # a create still on the wire would show as a prediction
        views = {job_id: api.get(f"/jobs/{job_id}").json() for job_id in submitted}
        fault_lasted = simulator.get("/faults").json()["reject_creates_with_status"] == 503
        creates: Counter[tuple[str, int]] = Counter(
            (entry["provider"], entry["status"])
            for entry in simulator.get("/requests").json()
            if entry["method"] == "POST"
            and entry["provider"] in CREATE_PATHS
            and entry["path"].split("?")[0].endswith(CREATE_PATHS[entry["provider"]])
        )
        predictions = Counter(
            record["provider"] for record in simulator.get("/predictions").json() if record["id"] not in known
        )
    statuses: Counter[str] = Counter(
        view["status"] if job_id in outcomes else "unfinished" for job_id, view in views.items()
    )
    latencies: dict[str, list[float]] = {}
    for job_id, view in views.items():
        if job_id in outcomes:
            latencies.setdefault(how_it_went(view, failing), []).append(outcomes[job_id] - submitted[job_id])
    return Arm(
        jobs=jobs,
        wall_seconds=wall,
        creates=creates,
        predictions=predictions,
        statuses=statuses,
        breaker_opens=breaker_opens,
        latencies=latencies,
        invocations=invocations,
        cpu_seconds=cpu_seconds,
        load=load,
        fault_lasted=fault_lasted or not failing,
    )


def warm(stack: Any, api: httpx.Client) -> None:
    """One job at each provider before the clock starts: both dialects imported, a container of every
    function the jobs use, and the simulator's clip for this request rendered; the breaker stays closed."""
    for provider in (FAILING, FALLBACK):
        body = {**REQUEST, "provider": provider, "providers": None, "client_reference": f"warm-{provider}"}
        answer = api.post("/jobs", json={k: v for k, v in body.items() if v is not None})
        answer.raise_for_status()
        outcomes, _ = wait_for_outcomes(stack, {answer.json()["job_id"]}, 60)
        if not outcomes:
            raise TimeoutError(f"the warm-up job at {provider} did not finish")


def submit(api: httpx.Client, jobs: int) -> dict[str, float]:
    """POST every job, ``SUBMITTERS`` at a time; job id -> when it was accepted (`time.perf_counter`)."""

    def post(number: int) -> tuple[str, float]:
        answer = api.post("/jobs", json={**REQUEST, "client_reference": f"failover-{number}"})
        answer.raise_for_status()
        return answer.json()["job_id"], time.perf_counter()

    with ThreadPoolExecutor(max_workers=SUBMITTERS) as pool:
        return dict(pool.map(post, range(jobs)))


def wait_for_outcomes(stack: Any, job_ids: set[str], timeout: float) -> tuple[dict[str, float], int]:
    """Job id -> when its first outcome event was read (`time.perf_counter`), and how many times a
    breaker opened; until every job has one or ``timeout`` seconds have passed."""
    from local.stack import OUTCOME_DETAIL_TYPES

    sqs = stack.client("sqs")
    seen: dict[str, float] = {}
    opens = 0
    deadline = time.monotonic() + timeout
    while job_ids - seen.keys() and time.monotonic() < deadline:
        # A long poll returns as soon as an event comes, and costs the stack's process nothing meanwhile.
        answer = sqs.receive_message(QueueUrl=stack.events_tap_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        read_at, messages = time.perf_counter(), answer.get("Messages", [])
        for message in messages:
            event = json.loads(message["Body"])
            if event["detail-type"] == "Provider Health Changed" and event["detail"]["state"] == "open":
                opens += 1
            elif event["detail-type"] in OUTCOME_DETAIL_TYPES and event["detail"].get("job_id") in job_ids:
                seen.setdefault(event["detail"]["job_id"], read_at)
        if messages:
            entries = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)]
            sqs.delete_message_batch(QueueUrl=stack.events_tap_url, Entries=entries)
    return seen, opens


def how_it_went(view: dict[str, Any], failing: bool) -> str:
    if not failing:
        return "went straight"
    sent = any(turn["provider"] == FAILING and turn["creates"] for turn in view.get("attempts", []))
    return "created there" if sent else "skipped it"


def breakdown(arm: Arm) -> str:
    parts = []
    for how, samples in sorted(arm.latencies.items()):
        parts.append(
            f"{how}: {len(samples)} jobs, median {statistics.median(samples):.1f} s, max {max(samples):.1f} s"
        )
    creates = ", ".join(f"{p} {s}: {n}" for (p, s), n in sorted(arm.creates.items()))
    invoked = ", ".join(
        f"{name.removesuffix('Function')} {count} in {seconds:.1f} s"
        for name, (count, seconds) in sorted(arm.invocations.items())
    )
    return "\n  ".join(
        (
            f"wall {arm.wall_seconds:.1f} s, CPU {arm.cpu_seconds:.1f} s (the stack's process, pollers too), "
            f"load average {arm.load[0]:.1f} -> {arm.load[1]:.1f}",
            "; ".join(parts),
            f"creates {creates}; statuses {dict(arm.statuses)}",
            f"invocations (and their summed durations): {invoked}",
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--jobs", type=int, default=FULL_JOBS)
    args = parser.parse_args()
    sys.path[:0] = [str(ROOT), str(ROOT / "layers/videojobs")]
    # Powertools prints a metrics line whenever 100 metrics pile up, whether metrics are disabled or not.
    with contextlib.redirect_stdout(io.StringIO()):
        clean, failing = run_arm(args.jobs, failing=False), run_arm(args.jobs, failing=True)
    print_table(rows_of(clean, failing))
    print(f"arm A (no fault): {breakdown(clean)}")
    print(f"arm B ({FAILING} refusing): {breakdown(failing)}")


if __name__ == "__main__":
    main()
