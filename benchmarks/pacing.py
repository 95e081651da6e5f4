"""Pacing: how close a burst against a concurrency limit comes to the limit's own floor.

``jobs`` images are dropped into the inputs bucket at once, on a fresh local stack with
``EACHLABS_MAX_CONCURRENT=limit``, and the simulator takes ``processing_seconds`` over each job (and
answers 429 above ``limit`` active jobs per key). However well slots are passed on, the burst cannot
end sooner than jobs / limit x processing_seconds; the figure is that floor divided by the wall time
from the first drop to the last outcome event, so 1.0 means no slot ever sat free while a job waited.

`python -m benchmarks.pacing [--jobs N] [--limit N ...]` prints the rows.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

import httpx

from benchmarks.table import RatioRow, print_table

ROOT = Path(__file__).resolve().parent.parent
JOBS = 100
LIMITS = (10, 2)
PROCESSING_SECONDS = 2.0
GOAL = 0.9
METADATA = {"prompt": "pacing bench", "duration": "4", "resolution": "480p", "aspect-ratio": "16:9"}


def pacing_rows(
    jobs: int = JOBS, limits: tuple[int, ...] = LIMITS, processing_seconds: float = PROCESSING_SECONDS
) -> list[RatioRow]:
    return [_burst_row(jobs, limit, processing_seconds) for limit in limits]


def _burst_row(jobs: int, limit: int, processing_seconds: float) -> RatioRow:
    from local.simulator import encode_png
    from local.stack import LocalStack, LocalStackConfig

    os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
    image = encode_png(64, 36, bytes(64 * 36 * 3))
    ideal = jobs / limit * processing_seconds
    config = LocalStackConfig(
        aws_port=0,
        api_port=0,
        simulator_port=0,
        # moto keeps its tables per process: one stack name per burst.
        stack_name=f"bench-pacing-{limit}",
        environment={"EACHLABS_MAX_CONCURRENT": str(limit)},
    )
    with LocalStack(config) as stack:
        s3, bucket = stack.client("s3"), stack.ref("InputsBucket")

        def drop(key: str) -> None:
            s3.put_object(Bucket=bucket, Key=key, Body=image, ContentType="image/png", Metadata=METADATA)

        drop("drops/pacing-warm-up.png")  # the first job renders the clip the others reuse
        warmed = stack.wait_for_outcomes(1, timeout=60)
        assert [event["detail-type"] for event in warmed] == ["Video Job Succeeded"], warmed
        stack.simulator.processing_seconds = processing_seconds
        simulator = stack.simulator.base_url
        httpx.post(
            f"{simulator}/_sim/faults", json={"max_active_per_key": limit}, timeout=10
        ).raise_for_status()
        httpx.delete(f"{simulator}/_sim/usage", timeout=10).raise_for_status()
        started = time.perf_counter()
        threads = [threading.Thread(target=drop, args=(f"drops/pacing-{n:03d}.png",)) for n in range(jobs)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        outcomes = stack.wait_for_outcomes(jobs, timeout=max(120.0, 5 * ideal))
        wall = time.perf_counter() - started
        usage = httpx.get(f"{simulator}/_sim/usage", timeout=10).json().get("eachlabs", {})
        peak = max((key["peak"] for key in usage.values()), default=0)
    succeeded = sum(1 for event in outcomes if event["detail-type"] == "Video Job Succeeded")
    finished = "" if succeeded == jobs else f", only {succeeded} of {jobs} succeeded in time"
    return RatioRow(
        figure=f"{jobs} jobs at a limit of {limit}, {processing_seconds:.0f} s each: ideal / wall",
        result=f"{wall:.1f} s wall, peak {peak} at the provider{finished}",
        baseline=f"{ideal:.0f} s ideal",
        ratio=f"{ideal / wall:.2f}",
        goal=f">= {GOAL}",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=JOBS)
    parser.add_argument("--limit", type=int, action="append", help=f"repeatable; default {LIMITS}")
    args = parser.parse_args()
    sys.path[:0] = [str(ROOT), str(ROOT / "layers/videojobs")]
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
    print_table(pacing_rows(args.jobs, tuple(args.limit or LIMITS)))


if __name__ == "__main__":
    main()
