"""`make load`: 1,000 jobs through the local stack under faults, and nothing lost or doubled.

Faults, all at once: every webhook is delivered twice; bursts of 429 (with Retry-After) and of 503 on
create; and a window in which every S3 write fails with 503 (a proxy between the functions and moto,
reached through AWS_ENDPOINT_URL_S3). At the end every job must be `succeeded`, with exactly one
video object, exactly one "Video Job Succeeded" event, and no multipart upload left open.

Prints the figures: jobs, wall time, the submit rate, lost, duplicate objects and events, faults
injected, and the webhook acknowledgement latency seen by the provider simulator (p50, p99). Exits 1 on
any loss or duplicate. Bounded: at most ``--timeout`` seconds of waiting.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REQUEST = {"provider": "eachlabs", "prompt": "load", "resolution": "480p", "duration": 4}
S3_UNAVAILABLE = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # botocore drops a connection after a 503 now and then: nothing to report.
        return


class S3FaultProxy:
    """Forwards to moto; while ``failing``, answers every write (PUT, POST, DELETE) with S3's 503."""

    def __init__(self) -> None:
        self.target = ""
        self.failing = threading.Event()
        self.refused = 0
        self._client = httpx.Client(timeout=60, trust_env=False)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                if proxy.failing.is_set() and self.command in ("PUT", "POST", "DELETE"):
                    proxy.refused += 1
                    self._answer(503, {"content-type": "application/xml"}, S3_UNAVAILABLE)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "host")}
                response = proxy._client.request(
                    self.command, f"{proxy.target}{self.path}", headers=headers, content=body
                )
                kept = {
                    k: v
                    for k, v in response.headers.items()
                    if k.lower()
                    not in ("content-length", "transfer-encoding", "connection", "content-encoding")
                }
                self._answer(response.status_code, kept, response.content)

            def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

            def log_message(self, *args: Any) -> None:
                return

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else 0.0


def run(jobs: int, timeout: float) -> int:
    sys.path[:0] = [ROOT, os.path.join(ROOT, "layers/videojobs")]
    os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    from local.stack import LocalStack, LocalStackConfig

    proxy = S3FaultProxy()
    config = LocalStackConfig(
        aws_port=0,
        api_port=0,
        simulator_port=0,
        stack_name="load",
        retry_delay_seconds=2,
        environment={
            "AWS_ENDPOINT_URL_S3": proxy.url,
            # Faults are the subject here, not pacing (tests/e2e_isolated covers that).
            "EACHLABS_MAX_CONCURRENT": "1000",
            "EACHLABS_MAX_CREATES_PER_MINUTE": "100000",
            "STATUS_CHECK_FIRST_DELAY_SECONDS": "60",
            "STATUS_CHECK_MAX_DELAY_SECONDS": "60",
            "JOB_MAX_AGE_SECONDS": "3600",
            # The 503 burst opens EachLabs' breaker; at its default 60 s, with one probe per opening,
            # the rest of a 25-create burst would take 25 minutes to use up.
            "BREAKER_OPEN_SECONDS": "2",
        },
    )
    with LocalStack(config) as stack:
        proxy.target = stack.aws_endpoint
        stack.simulator.processing_seconds = 0.5
        control = httpx.Client(base_url=f"{stack.simulator.base_url}/_sim", timeout=30)
        control.post("/faults", json={"duplicate_webhooks": 2}).raise_for_status()
        stack.drain_events()
        started = time.monotonic()

        def provider_bursts() -> None:
            time.sleep(3)
            burst = {
                "reject_creates_with_status": 429,
                "reject_creates_count": 25,
                "reject_creates_retry_after": 1,
            }
            control.post("/faults", json=burst).raise_for_status()
            time.sleep(5)
            control.post("/faults", json={"reject_creates_with_status": 503, "reject_creates_count": 25})

        def s3_outage() -> None:
            # Shorter than the transfer's retries (3 deliveries, 2 s apart, each with botocore's own).
            proxy.failing.set()
            time.sleep(2)
            proxy.failing.clear()

        injector = threading.Thread(target=provider_bursts, daemon=True)
        injector.start()
        outage = threading.Thread(target=s3_outage, daemon=True)
        answers: list[httpx.Response] = []
        submitted_after: list[float] = []

        def submit_all() -> None:
            with stack.api_client() as api, ThreadPoolExecutor(max_workers=8) as pool:
                answers.extend(
                    pool.map(
                        lambda n: api.post("/jobs", json={**REQUEST, "client_reference": f"load-{n}"}),
                        range(jobs),
                    )
                )
            submitted_after.append(time.monotonic() - started)

        submitter = threading.Thread(target=submit_all, daemon=True)
        submitter.start()
        events: Counter[str] = Counter()
        failed: set[str] = set()
        deadline = started + timeout
        while time.monotonic() < deadline:
            for event in stack.drain_events(wait_seconds=0.5):
                job_id = event["detail"].get("job_id")
                if event["detail-type"] == "Video Job Succeeded":
                    events[job_id] += 1
                elif event["detail-type"] == "Video Job Failed":
                    failed.add(job_id)
            if len(events) >= jobs // 4 and not outage.is_alive() and not proxy.refused:
                outage.start()  # once transfers are in full swing
            if len(events) + len(failed) >= jobs or (
                not submitter.is_alive() and len(events) + len(failed) >= len(answers)
            ):
                break
        wall = time.monotonic() - started
        submitter.join(timeout=60)
        accepted = [answer.json()["job_id"] for answer in answers if answer.status_code == 202]
        submitted_in = submitted_after[0] if submitted_after else wall
        injector.join(timeout=5)
        if outage.ident is not None:  # started once a quarter of the jobs had succeeded
            outage.join(timeout=5)
        stack.drain_events(wait_seconds=3)  # late duplicates would show here
        s3 = stack.client("s3")
        bucket = stack.ref("VideosBucket")
        keys = [
            item["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="videos/")
            for item in page.get("Contents", [])
        ]
        open_uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        table = stack.client("dynamodb").get_paginator("scan").paginate(TableName=stack.ref("JobsTable"))
        statuses = Counter(item["status"]["S"] for page in table for item in page["Items"])
        predictions = control.get("/predictions").json()
        acks = [
            attempt["duration_seconds"] * 1000
            for record in predictions
            for attempt in record["webhook"]["attempts"]
            if attempt["status_code"] is not None
        ]
        refused_webhooks = Counter(
            str(attempt["status_code"] or (attempt["error"] or "no answer").split(":")[0])
            for record in predictions
            for attempt in record["webhook"]["attempts"]
            if not 200 <= (attempt["status_code"] or 0) < 300
        )
        creates = [
            entry["status"]
            for entry in control.get("/requests", params={"provider": "eachlabs"}).json()
            if entry["method"] == "POST"
        ]
        control.close()
    proxy.close()

    lost = len(accepted) - sum(1 for job_id in accepted if events[job_id] >= 1)
    duplicate_events = sum(count - 1 for count in events.values() if count > 1)
    duplicate_objects = len(keys) - len(set(keys)) + max(0, len(keys) - len(accepted))
    rows = [
        ("jobs submitted / accepted", f"{jobs} / {len(accepted)}"),
        ("wall time (first POST to last event)", f"{wall:.1f} s (submitting took {submitted_in:.1f} s)"),
        ("submit rate (8 callers)", f"{len(answers) / submitted_in:.1f} jobs/s" if submitted_in else "-"),
        ("job statuses in DynamoDB", json.dumps(dict(statuses))),
        ("lost (no Video Job Succeeded)", str(lost)),
        ("failed", str(len(failed))),
        ("duplicate events / duplicate objects", f"{duplicate_events} / {duplicate_objects}"),
        ("video objects / open multipart uploads", f"{len(keys)} / {len(open_uploads)}"),
        (
            "provider creates: 200 / 429 / 503",
            f"{creates.count(200)} / {creates.count(429)} / {creates.count(503)}",
        ),
        ("S3 writes refused in the fault window", str(proxy.refused)),
        ("webhook deliveries (2 per job)", str(len(acks))),
        (
            "webhook deliveries not taken (by answer)",
            json.dumps(dict(refused_webhooks)) if refused_webhooks else "none",
        ),
        (
            "webhook acknowledgement p50 / p99",
            f"{percentile(acks, 0.5):.1f} ms / {percentile(acks, 0.99):.1f} ms",
        ),
        ("webhook acknowledgement mean", f"{statistics.fmean(acks) if acks else 0:.1f} ms"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")
    ok = lost == 0 and not failed and duplicate_events == 0 and duplicate_objects == 0 and not open_uploads
    if not proxy.refused:
        print("FAILED: the S3 fault window refused nothing, so it tested nothing")
        ok = False
    print("OK: nothing lost or doubled" if ok else "FAILED: something was lost or doubled")
    return 0 if ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    sys.exit(run(args.jobs, args.timeout))


if __name__ == "__main__":
    main()
