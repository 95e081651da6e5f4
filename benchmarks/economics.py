"""What a job costs, and what a big transfer costs the others.

GB-s: Lambda GB-s from measured warm durations, and the provider API calls a job makes.

Each function invocation on the local stack is timed; a job's GB-s is the sum of its invocations'
durations times each function's MemorySize from template.yaml, as Lambda bills them. The baseline is
the client this pipeline replaces: a function that submits and then polls every 2 s until the video
is ready, awake (and billed) the whole time. At the 512 MB of our default function and the 120 s
EachLabs documents as a typical run, that is 60 GB-s per job.

Acknowledgement: how long the provider waits for our answer to its webhook (the simulator times each
delivery), for jobs that finish while nothing else runs, and while a 1 GiB transfer runs in another
process into an S3 (moto) process of its own, as a transfer function would on Lambda.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx

from benchmarks.table import RatioRow
from videojobs.models import TERMINAL as FINAL_STATUSES
from videojobs.providers import UNITS

POLLING_CLIENT_MB = 512
POLLING_CLIENT_SECONDS = 120
POLLING_GB_SECONDS = POLLING_CLIENT_MB / 1024 * POLLING_CLIENT_SECONDS
PROVIDERS = tuple(UNITS)
TERMINAL = {status.value for status in FINAL_STATUSES}


class InvocationClock:
    """Times every invocation of every local function: (function id, seconds)."""

    def __init__(self, functions: dict[str, Any]) -> None:
        self.samples: list[tuple[str, float]] = []
        self._lock = threading.Lock()
        for logical_id, function in functions.items():
            function.invoke = self._timed(logical_id, function.invoke)

    def _timed(
        self, logical_id: str, invoke: Callable[[dict[str, Any]], Any]
    ) -> Callable[[dict[str, Any]], Any]:
        def timed(event: dict[str, Any]) -> Any:
            started = time.perf_counter()
            try:
                return invoke(event)
            finally:
                with self._lock:
                    self.samples.append((logical_id, time.perf_counter() - started))

        return timed

    def take(self) -> list[tuple[str, float]]:
        with self._lock:
            taken, self.samples = self.samples, []
        return taken


def run_job(api: httpx.Client, provider: str) -> str:
    """Submit a 5 s 480p job and wait for it to end; its id."""
    request = {"provider": provider, "prompt": "bench", "resolution": "480p", "duration": 5}
    job_id: str = api.post("/jobs", json=request, timeout=30).json()["job_id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if api.get(f"/jobs/{job_id}").json()["status"] in TERMINAL:
            return job_id
        time.sleep(0.05)
    raise TimeoutError(f"{provider} job {job_id} did not finish")


def webhook_acks_ms(stack: Any, api: httpx.Client, simulator: httpx.Client, jobs: int) -> list[float]:
    """Run ``jobs`` EachLabs jobs four at a time; the simulator's timing of each webhook answer."""
    from concurrent.futures import ThreadPoolExecutor

    known = {record["id"] for record in simulator.get("/predictions").json()}
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda _: run_job(api, "eachlabs"), range(jobs)))
    return [
        attempt["duration_seconds"] * 1000
        for record in simulator.get("/predictions").json()
        if record["id"] not in known
        for attempt in record["webhook"]["attempts"]
        if attempt["status_code"] is not None
    ]


def p50_p99(samples: list[float]) -> str:
    ordered = sorted(samples)
    return (
        f"p50 {ordered[len(ordered) // 2]:.0f} ms, p99 {ordered[max(0, int(len(ordered) * 0.99) - 1)]:.0f} ms"
    )


def ack_rows(*, jobs: int = 20, transfer_mib: int = 1024) -> list[RatioRow]:
    from benchmarks.transfer import BUCKET, MIB, file_server, moto_process, run_arm
    from local.aws import aws_client
    from local.stack import LocalStack, LocalStackConfig

    config = LocalStackConfig(aws_port=0, api_port=0, simulator_port=0, stack_name="acks")
    with LocalStack(config) as stack, stack.api_client() as api:
        simulator = httpx.Client(base_url=f"{stack.simulator.base_url}/_sim", timeout=30)
        run_job(api, "eachlabs")  # warm
        idle = webhook_acks_ms(stack, api, simulator, jobs)
        # S3 is not in the functions' process on AWS: the copy goes to a moto of its own, so the two
        # share only this machine's cores, as two containers share nothing on Lambda.
        with file_server(transfer_mib * MIB) as url, moto_process() as endpoint:
            aws_client("s3", endpoint).create_bucket(Bucket=BUCKET)
            failed: list[BaseException] = []

            def copy() -> None:
                try:
                    run_arm("ours", url, endpoint, part_size=8 * MIB, parts_in_flight=2)
                except BaseException as error:  # a thread's exception is only printed: keep it
                    failed.append(error)

            transfer = threading.Thread(target=copy)
            transfer.start()
            time.sleep(1.5)  # the copy is under way
            loaded = webhook_acks_ms(stack, api, simulator, jobs)
            still_copying = transfer.is_alive()
            transfer.join()
            if failed:  # acks beside a copy that failed early are not acks beside a copy
                raise RuntimeError("the transfer running beside the acks failed") from failed[0]
        simulator.close()
    ratio = statistics.median(loaded) / statistics.median(idle)
    return [
        RatioRow(
            f"webhook acknowledgement, {jobs} EachLabs jobs, a {transfer_mib} MiB transfer running"
            + ("" if still_copying else " (it ended before the jobs did)"),
            p50_p99(loaded),
            f"{p50_p99(idle)} idle",
            f"{ratio:.2f}x (p50)",
            "acks never wait for a copy (here both share 2 cores)",
        )
    ]


def gb_seconds_rows(*, jobs_per_provider: int = 3) -> list[RatioRow]:
    from local.stack import LocalStack, LocalStackConfig

    # Status checks 1 s after submit, then every second: how the gateway's jobs finish here.
    environment = {"STATUS_CHECK_FIRST_DELAY_SECONDS": "1", "STATUS_CHECK_MAX_DELAY_SECONDS": "1"}
    config = LocalStackConfig(
        aws_port=0, api_port=0, simulator_port=0, stack_name="cost", environment=environment
    )
    rows: list[RatioRow] = []
    with LocalStack(config) as stack, stack.api_client() as api:
        memory_mb = {logical_id: spec.memory_mb for logical_id, spec in stack.application.functions.items()}
        simulator = httpx.Client(base_url=f"{stack.simulator.base_url}/_sim", timeout=30)
        clock = InvocationClock(stack.functions)
        for provider in PROVIDERS:
            run_job(api, provider)  # warm every function this dialect uses
        time.sleep(2.5)
        clock.take()
        for provider in PROVIDERS:
            per_job: list[float] = []
            calls: list[int] = []
            shares: Counter[str] = Counter()
            for _ in range(jobs_per_provider):
                simulator.delete("/requests")
                run_job(api, provider)
                time.sleep(2.5)  # the status check that follows a finished job, and late webhooks
                # The bench's own GET /jobs polling is the caller's cost, not the job's.
                billed = [
                    (name, s * memory_mb[name] / 1024) for name, s in clock.take() if name != "StatusFunction"
                ]
                per_job.append(sum(gb for _, gb in billed))
                for name, gb in billed:
                    shares[name] += gb
                logged = simulator.get("/requests", params={"provider": provider}).json()
                calls.append(len(logged))
            gb_s = statistics.median(per_job)
            top, top_gb = shares.most_common(1)[0]
            rows.append(
                RatioRow(
                    f"Lambda GB-s per job: {provider} ({top.removesuffix('Function')} "
                    f"{top_gb / sum(shares.values()):.0%} of it)",
                    f"{gb_s:.3f} GB-s",
                    f"{POLLING_GB_SECONDS:.0f} GB-s polling client",
                    f"{POLLING_GB_SECONDS / gb_s:.0f}x less",
                    ">= 50x less",
                )
            )
            rows.append(
                RatioRow(
                    f"provider HTTP calls per job: {provider}",
                    f"{statistics.median(calls):.0f}",
                    f"{POLLING_CLIENT_SECONDS // 2 + 1} for a client polling every 2 s",
                    "",
                    "",
                )
            )
        simulator.close()
    return rows
