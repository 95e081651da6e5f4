"""`make bench`: every benchmark once, bounded in count and time; two tables. Asserts nothing.

The first puts each figure beside its baseline, measured in the same run, with the ratio and the goal:
each handler's cold import against ``import boto3`` and the third-party floor (benchmarks/imports.py);
each function's cold import plus its first invocation on its events/ sample against ``import boto3``
plus one GetItem, on moto (benchmarks/cold_start.py);
the transfer against boto3's ``upload_fileobj`` and its peak RSS (benchmarks/transfer.py); the MP4
reader's own cost per GiB against sha256's over the same chunks (benchmarks/reader.py); webhook
acknowledgement with a big transfer running against idle, and Lambda GB-s and provider calls per job
against a polling client (benchmarks/economics.py); each provider's job priced at AWS's us-east-1
rates against the provider's own price, with a breakdown by service printed first
(benchmarks/aws_cost.py); `auto` jobs with their cheapest provider refusing every create against the
same jobs with no fault (benchmarks/failover.py); a burst of 100 image drops against a concurrency limit
of 10 and of 2, its wall time against the limit's floor (benchmarks/pacing.py). The second has figures
without a baseline: warm handler latency with in-memory ports, signature checks, jobs end to end on
the local stack, S3 drops one at a time, and the simulator's rendering.

``--only NAME`` (repeatable) runs the benches named, e.g. ``--quick --only failover``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from benchmarks.aws_cost import aws_cost_rows
from benchmarks.cold_start import cold_start_rows
from benchmarks.economics import ack_rows, gb_seconds_rows, run_job
from benchmarks.failover import failover_rows
from benchmarks.imports import import_ratio_rows
from benchmarks.pacing import pacing_rows
from benchmarks.reader import reader_ratio_rows
from benchmarks.table import RatioRow, print_table
from benchmarks.transfer import transfer_ratio_rows

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
Row = tuple[str, str, str]


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = ordered[len(ordered) // 2]
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"p50 {p50:.2f} ms, p95 {p95:.2f} ms"


def warm_handlers(iterations: int = 300) -> list[Row]:
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Bench")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
    import json

    from functions.callback import app as callback
    from functions.intake import app as intake
    from functions.submit import app as submit
    from tests.support import FakeWorld, load_event
    from videojobs.models import JobStatus, ProviderState, ProviderUpdate

    class Context:
        function_name, memory_limit_in_mb, aws_request_id = "bench", 512, "r"
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"

    world = FakeWorld()
    deps = world.deps()
    event = load_event("create_job")
    intake_ms = []
    for _ in range(iterations):
        started = time.perf_counter()
        response = intake.lambda_handler(event, Context(), deps=deps)
        intake_ms.append((time.perf_counter() - started) * 1000)
        assert response["statusCode"] == 202
    world.capacity.limit = iterations
    dispatch_ms = []
    for queued in world.dispatches.take():
        message = load_event("dispatch_message")
        message["Records"][0]["body"] = queued.request.model_dump_json()
        started = time.perf_counter()
        assert submit.lambda_handler(message, Context(), deps=deps) == {"batchItemFailures": []}
        dispatch_ms.append((time.perf_counter() - started) * 1000)
    job_ids = list(world.jobs.jobs)
    callback_ms = []
    for job_id in job_ids:
        job = world.jobs.jobs[job_id]
        hook = load_event("eachlabs_webhook")
        hook["rawPath"] = f"/webhooks/eachlabs/{job_id}"
        hook["queryStringParameters"] = {"token": world.authenticator.token_for(job_id)}
        update = ProviderUpdate(
            provider_job_id=job.provider_job_id or "",
            state=ProviderState.SUCCEEDED,
            output_url="https://cdn.example.com/o.mp4",
        )
        hook["body"] = update.model_dump_json()
        started = time.perf_counter()
        response = callback.lambda_handler(hook, Context(), deps=deps)
        callback_ms.append((time.perf_counter() - started) * 1000)
        assert json.loads(response["body"])["status"] == JobStatus.TRANSFERRING
    return [
        ("intake handler, POST /jobs, warm (in-memory ports)", percentiles(intake_ms), f"{iterations} calls"),
        (
            "submit handler, one dispatch, warm (in-memory ports)",
            percentiles(dispatch_ms),
            f"{len(dispatch_ms)} calls",
        ),
        ("callback handler, warm (in-memory ports)", percentiles(callback_ms), f"{len(callback_ms)} calls"),
    ]


def end_to_end_rows(jobs: int = 3) -> list[Row]:
    from local.stack import LocalStack, LocalStackConfig

    os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
    # Status checks 1 s after submit and then every second: how the gateway's jobs finish.
    checks = {"STATUS_CHECK_FIRST_DELAY_SECONDS": "1", "STATUS_CHECK_MAX_DELAY_SECONDS": "1"}
    config = LocalStackConfig(
        aws_port=0, api_port=0, simulator_port=0, stack_name="bench", environment=checks
    )
    rows: list[Row] = []
    with (
        tempfile.TemporaryDirectory(),
        LocalStack(config) as stack,
        stack.api_client() as api,
    ):
        for provider, how in (
            ("eachlabs", "submit -> signed webhook -> S3 -> succeeded"),
            ("atlascloud", "submit -> Ed25519 webhook (JWKS) -> S3 -> succeeded"),
            ("gateway", "submit -> status checks (1 s apart) -> S3 -> succeeded"),
            ("byteplus", "submit -> unsigned callbacks, each confirmed by a GET -> S3 -> succeeded"),
            ("fal", "submit -> Ed25519 webhook (kid-less JWKS) -> S3 -> succeeded"),
            ("replicate", "submit -> Standard Webhooks (account secret) -> S3 -> succeeded"),
        ):
            samples = [job_seconds(api, provider) for _ in range(jobs + 1)][1:]  # the first one warms up
            rows.append(
                (
                    f"job end to end on the local stack: {provider} (5 s 480p, cached clip)",
                    f"median {statistics.median(samples):.2f} s",
                    f"{jobs} jobs; {how}",
                )
            )
        job_id = api.post("/jobs", json={"provider": "eachlabs", "prompt": "b", "duration": 5}).json()[
            "job_id"
        ]
        status_ms = []
        for _ in range(20):
            started = time.perf_counter()
            api.get(f"/jobs/{job_id}")
            status_ms.append((time.perf_counter() - started) * 1000)
    rows.append(("GET /jobs/{id} through API front + moto", percentiles(status_ms), "20 calls"))
    return rows


def drop_rows(drops: int = 3) -> list[Row]:
    """S3 drop -> "Video Job Succeeded", one at a time. (Bursts of drops: benchmarks/pacing.py.)"""
    from local.simulator import encode_png
    from local.stack import LocalStack, LocalStackConfig

    os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
    image = encode_png(64, 36, bytes(64 * 36 * 3))
    metadata = {"prompt": "bench", "duration": "4", "resolution": "480p", "aspect-ratio": "16:9"}
    config = LocalStackConfig(aws_port=0, api_port=0, simulator_port=0, stack_name="bench-drops")
    with LocalStack(config) as stack:
        s3, bucket = stack.client("s3"), stack.ref("InputsBucket")
        samples = []
        for index in range(drops + 1):  # the first one warms up (and renders the clip)
            started = time.perf_counter()
            s3.put_object(
                Bucket=bucket,
                Key=f"drops/single-{index}.png",
                Body=image,
                ContentType="image/png",
                Metadata=metadata,
            )
            outcomes = stack.wait_for_outcomes(1, timeout=60)
            if index:
                samples.append(time.perf_counter() - started)
            assert [event["detail-type"] for event in outcomes] == ["Video Job Succeeded"], outcomes
    return [
        (
            "S3 drop -> Video Job Succeeded, local stack",
            f"median {statistics.median(samples):.2f} s",
            f"{drops} image drops with metadata, one at a time; S3 -> EventBridge -> SQS -> intake",
        )
    ]


def job_seconds(api: httpx.Client, provider: str) -> float:
    started = time.perf_counter()
    run_job(api, provider)
    return time.perf_counter() - started


def signature_rows(iterations: int = 2000) -> list[Row]:
    """What verifying one webhook signature costs, warm: EachLabs' HMAC and Atlas's Ed25519."""
    import hmac

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    body = b'{"id": "pred_1", "status": "completed", "outputs": ["https://x/y.mp4"]}' * 4
    key = Ed25519PrivateKey.generate()
    signature, public = key.sign(body), key.public_key()
    started = time.perf_counter()
    for _ in range(iterations):
        public.verify(signature, body)
    ed25519_us = (time.perf_counter() - started) / iterations * 1e6
    digest = hmac.new(b"secret", body, "sha256").hexdigest()
    started = time.perf_counter()
    for _ in range(iterations):
        hmac.compare_digest(hmac.new(b"secret", body, "sha256").hexdigest(), digest)
    hmac_us = (time.perf_counter() - started) / iterations * 1e6
    return [
        ("verify an Atlas webhook signature (Ed25519)", f"{ed25519_us:.1f} us", f"{iterations} calls, warm"),
        (
            "verify an EachLabs webhook signature (HMAC-SHA256)",
            f"{hmac_us:.1f} us",
            f"{iterations} calls, warm",
        ),
    ]


def render_row() -> Row:
    from local.simulator import render_mp4

    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        target = Path(folder) / "clip.mp4"
        render_mp4(target, width=854, height=480, duration_seconds=4, with_audio=True)
        elapsed = time.perf_counter() - started
        digest = hashlib.sha256(target.read_bytes()).hexdigest()[:8]
    return ("simulator renders a 4 s 480p H.264+AAC clip", f"{elapsed:.2f} s", f"sha256 {digest}")


def quietly[T](bench: Callable[[], T]) -> T:
    # Powertools prints a metrics line whenever 100 metrics pile up, whether metrics are disabled or not.
    with contextlib.redirect_stdout(io.StringIO()):
        return bench()


def print_rows(rows: list[Row]) -> None:
    header = ("figure", "result", "notes")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(3)]
    line = "+-" + "-+-".join("-" * w for w in widths) + "-+"
    print(line)
    for index, row in enumerate([header, *rows]):
        print("| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |")
        if index == 0:
            print(line)
    print(line)


def row_benches(quick: bool) -> dict[str, Callable[[], list[Row]]]:
    """The second table's benches, by name, in the order they run."""
    return {
        "warm": lambda: quietly(lambda: warm_handlers(100 if quick else 300)),
        "signatures": lambda: signature_rows(500 if quick else 2000),
        "end-to-end": lambda: end_to_end_rows(1 if quick else 3),
        "drops": lambda: drop_rows(),
        "render": lambda: [render_row()],
    }


def ratio_benches(quick: bool) -> dict[str, Callable[[], list[RatioRow]]]:
    """The first table's benches, by name, in the order they run."""
    return {
        "imports": lambda: import_ratio_rows(quick),
        "cold-start": lambda: cold_start_rows(quick),
        "transfer": lambda: transfer_ratio_rows(quick),
        "reader": lambda: reader_ratio_rows(quick),
        "acks": lambda: ack_rows(jobs=8 if quick else 20, transfer_mib=256 if quick else 1024),
        "gb-seconds": lambda: gb_seconds_rows(jobs_per_provider=1 if quick else 3),
        "aws-cost": lambda: aws_cost_rows(jobs_per_provider=1 if quick else 3),
        "failover": lambda: quietly(lambda: failover_rows(quick)),
        # The same name as the single drops of the second table: `--only drops` runs both.
        "drops": lambda: pacing_rows(jobs=30 if quick else 100),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Speed and memory figures, with their baselines.")
    parser.add_argument("--quick", action="store_true", help="fewer runs and smaller sizes (about 6 minutes)")
    names = list(dict.fromkeys([*row_benches(False), *ratio_benches(False)]))
    parser.add_argument(
        "--only",
        action="append",
        choices=names,
        metavar="NAME",
        help=f"run only this bench (repeatable): {', '.join(names)}",
    )
    args = parser.parse_args()
    quick, only = args.quick, set(args.only or names)
    sys.path[:0] = [str(ROOT), str(ROOT / "layers/videojobs")]
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"  # the table, not metric lines
    os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
    started = time.monotonic()
    # In-process figures first: the local stacks below change and restore the environment.
    rows: list[Row] = [row for name, bench in row_benches(quick).items() if name in only for row in bench()]
    ratios: list[RatioRow] = [
        row for name, bench in ratio_benches(quick).items() if name in only for row in bench()
    ]
    if ratios:
        print_table(ratios)
    if rows:
        print_rows(rows)
    elapsed = time.monotonic() - started
    print(f"make bench{' --quick' if quick else ''}: {elapsed:.0f} s on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
