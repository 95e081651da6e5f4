"""Runs every benchmark once, bounded in count and time, and prints one table.

Figures: cold import of each handler (fresh interpreter, with and without the X-Ray tracer), warm
handler latency with in-memory ports, transfer throughput and peak Python memory streaming a large
file from a loopback HTTP server into moto S3, one job end to end on the local stack, the time from an
S3 drop to its "Video Job Succeeded" event, and a burst of dropped images against a concurrency limit.
"""

from __future__ import annotations

import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from benchmarks.transfer import transfer_rows

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
Row = tuple[str, str, str]


def cold_import_ms(module_path: str, *, tracer: bool, runs: int = 5) -> float:
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT}:{ROOT / 'layers/videojobs'}",
        "POWERTOOLS_METRICS_NAMESPACE": "B",
    }
    env["POWERTOOLS_TRACE_DISABLED"] = "false" if tracer else "true"
    if tracer:
        env["AWS_LAMBDA_FUNCTION_NAME"] = "bench"  # a Lambda-like environment turns the tracer on
    code = (
        "import time, importlib.util as u; t = time.perf_counter();"
        f"s = u.spec_from_file_location('handler', {module_path!r}); m = u.module_from_spec(s);"
        "s.loader.exec_module(m); print((time.perf_counter() - t) * 1000)"
    )
    return median_ms_printed_by(code, env=env, runs=runs)


def median_ms_printed_by(code: str, *, env: dict[str, str] | None = None, runs: int) -> float:
    """Runs the code in fresh interpreters; each prints its own timing in ms as its last line."""
    samples = []
    for _ in range(runs):
        command = [sys.executable, "-c", code]
        out = subprocess.run(command, env=env, capture_output=True, text=True, check=True)  # noqa: S603
        samples.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(samples)


def tracer_import_ms(runs: int = 5) -> float:
    """What the X-Ray SDK adds once boto3 (which the handlers need anyway) is loaded."""
    code = (
        "import boto3, botocore.session, time; t = time.perf_counter(); import aws_xray_sdk.core;"
        "print((time.perf_counter() - t) * 1000)"
    )
    return median_ms_printed_by(code, runs=runs)


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
        ):
            request = {"provider": provider, "prompt": "bench", "resolution": "480p", "duration": 5}
            samples = [job_seconds(api, request) for _ in range(jobs + 1)][1:]  # the first one warms up
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


def drop_rows(
    drops: int = 3, burst: int = 100, limit: int = 10, processing_seconds: float = 2.0
) -> list[Row]:
    """S3 drop -> "Video Job Succeeded", one at a time; then ``burst`` images at once against a limit."""
    from local.simulator import encode_png
    from local.stack import LocalStack, LocalStackConfig

    os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
    image = encode_png(64, 36, bytes(64 * 36 * 3))
    metadata = {"prompt": "bench", "duration": "4", "resolution": "480p", "aspect-ratio": "16:9"}
    config = LocalStackConfig(
        aws_port=0,
        api_port=0,
        simulator_port=0,
        stack_name="bench-drops",
        environment={"EACHLABS_MAX_CONCURRENT": str(limit)},
    )
    rows: list[Row] = []
    with LocalStack(config) as stack:
        s3, bucket = stack.client("s3"), stack.ref("InputsBucket")

        def put(key: str) -> None:
            s3.put_object(Bucket=bucket, Key=key, Body=image, ContentType="image/png", Metadata=metadata)

        samples = []
        for index in range(drops + 1):  # the first one warms up (and renders the clip)
            started = time.perf_counter()
            put(f"drops/single-{index}.png")
            outcomes = stack.wait_for_outcomes(1, timeout=60)
            if index:
                samples.append(time.perf_counter() - started)
            assert [event["detail-type"] for event in outcomes] == ["Video Job Succeeded"], outcomes
        rows.append(
            (
                "S3 drop -> Video Job Succeeded, local stack",
                f"median {statistics.median(samples):.2f} s",
                f"{drops} image drops with metadata, one at a time; S3 -> EventBridge -> SQS -> intake",
            )
        )

        stack.simulator.processing_seconds = processing_seconds
        httpx.post(
            f"{stack.simulator.base_url}/_sim/faults", json={"max_active_per_key": limit}, timeout=10
        ).raise_for_status()
        httpx.delete(f"{stack.simulator.base_url}/_sim/usage", timeout=10).raise_for_status()
        started = time.perf_counter()
        threads = [
            threading.Thread(target=put, args=(f"drops/burst-{index:03d}.png",)) for index in range(burst)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        outcomes = stack.wait_for_outcomes(burst, timeout=300)
        wall = time.perf_counter() - started
        usage = httpx.get(f"{stack.simulator.base_url}/_sim/usage", timeout=10).json()["eachlabs"]
        peak = max(key["peak"] for key in usage.values())
        refused = sum(
            1
            for entry in httpx.get(f"{stack.simulator.base_url}/_sim/requests?provider=eachlabs").json()
            if entry["status"] == 429
        )
        succeeded = {
            event["detail"]["origin"]["key"]
            for event in outcomes
            if event["detail-type"] == "Video Job Succeeded"
        }
        rows.append(
            (
                f"{burst} images dropped at once, EACHLABS_MAX_CONCURRENT={limit}",
                f"{wall:.1f} s wall, peak {peak} at the provider, {burst - len(succeeded)} lost",
                f"{processing_seconds:.0f} s per job at the simulator (which 429s above {limit}): "
                f"{refused} 429s; {burst / limit * processing_seconds:.0f} s if slots passed on at once",
            )
        )
    return rows


def job_seconds(api: httpx.Client, request: dict[str, Any]) -> float:
    started = time.perf_counter()
    job_id = api.post("/jobs", json=request, timeout=30).json()["job_id"]
    status = "submitted"
    deadline = started + 60
    while status not in ("succeeded", "failed", "expired") and time.perf_counter() < deadline:
        time.sleep(0.05)
        status = api.get(f"/jobs/{job_id}").json()["status"]
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


def module_import_ms(module: str, runs: int = 5) -> float:
    """What importing ``module`` adds once boto3 and the Powertools core are loaded."""
    code = (
        "import boto3, botocore.session, aws_lambda_powertools, time; t = time.perf_counter();"
        f"import {module}; print((time.perf_counter() - t) * 1000)"
    )
    return median_ms_printed_by(code, runs=runs)


def render_row() -> Row:
    from local.simulator import render_mp4

    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        target = Path(folder) / "clip.mp4"
        render_mp4(target, width=854, height=480, duration_seconds=4, with_audio=True)
        elapsed = time.perf_counter() - started
        digest = hashlib.sha256(target.read_bytes()).hexdigest()[:8]
    return ("simulator renders a 4 s 480p H.264+AAC clip", f"{elapsed:.2f} s", f"sha256 {digest}")


def main() -> None:
    sys.path[:0] = [str(ROOT), str(ROOT / "layers/videojobs")]
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"  # the table, not metric lines
    rows: list[Row] = []
    for name in ("intake", "submit", "callback", "status", "status_check", "transfer", "notify"):
        path = str(ROOT / "functions" / name / "app.py")
        without = cold_import_ms(path, tracer=False)
        with_tracer = cold_import_ms(path, tracer=True)
        rows.append(
            (f"cold import: {name} handler", f"{without:.0f} ms", f"{with_tracer:.0f} ms with tracer on")
        )
    rows.append(
        (
            "X-Ray SDK import on top of boto3",
            f"{tracer_import_ms():.0f} ms",
            "Powertools Tracer, paid per cold start",
        )
    )
    rows.append(
        (
            "cryptography (Ed25519) import on top of boto3",
            f"{module_import_ms('cryptography.hazmat.primitives.asymmetric.ed25519'):.0f} ms",
            "Atlas Cloud webhook verification, part of every handler's cold import",
        )
    )
    benches: list[Callable[[], list[Row]]] = [
        warm_handlers,
        signature_rows,
        transfer_rows,
        end_to_end_rows,
        drop_rows,
        lambda: [render_row()],
    ]
    for bench in benches:
        rows.extend(bench())
    widths = [max(len(row[i]) for row in [("benchmark", "result", "notes"), *rows]) for i in range(3)]
    line = "+-" + "-+-".join("-" * w for w in widths) + "-+"
    print(line)
    print(
        "| "
        + " | ".join(h.ljust(w) for h, w in zip(("benchmark", "result", "notes"), widths, strict=True))
        + " |"
    )
    print(line)
    for row in rows:
        print("| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |")
    print(line)


if __name__ == "__main__":
    main()
