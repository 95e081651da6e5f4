"""Cold start, whole: each function's import and its first invocation, beside boto3's in the same run.

Every sample is a fresh interpreter, as Lambda gives a new execution environment: it reads its event
(the Lambda runtime does that before our code runs), then times ``import app`` and one call of
``app.lambda_handler`` on its sample from events/. The baseline is a fresh interpreter timing ``import
boto3`` and one DynamoDB GetItem on the jobs table through a new client: the least any function of this
stack does on its first invocation. Interpreter start-up is left out, the same for all.

Both talk to one moto server holding template.yaml's resources, created as the local stack creates
them (`local.aws.provision`), and a function runs with the environment the local stack gives it
(`local.stack.function_environments`): its settings, and its secrets read from Secrets Manager on its
first invocation as on Lambda. Providers are the local stack's simulator; a notify_url and a video to
download are a small loopback server here (no request leaves the machine). Before each sample, the job
the events name is put back in the state its event expects (`SAMPLES`), so every sample does the real
work, not a 404: the row says what the work was and what the invocation answered.

Beside each whole cold start, the same sample "after a SnapStart restore": a fresh interpreter imports
the function and runs its priming (``videojobs.snapstart``: what Lambda runs before the snapshot, then
the after-restore hooks), untimed as the snapshot is, then times the first invocation alone. Lambda's
restore of the snapshot is not in it: it happens only on Lambda, and Lambda reports it as the Restore
Duration of the invocation.

The interpreters are the layer's own (benchmarks/imports.py's ``layer_python``). Targets take turns,
run after run, so a busy machine slows them alike; each figure is the median.
`python -m benchmarks.cold_start [--quick]` prints the table; it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import statistics
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from benchmarks.imports import GOAL_RATIO, LAYER, ROOT, layer_python
from benchmarks.table import RatioRow, print_table
from local.aws import ProvisionedStack, aws_client, provision
from local.lambdas import cold_start_environment
from local.moto_server import moto_server
from local.sample_events import local_keys, signed_for_local
from local.stack import (
    HOST,
    LocalStackConfig,
    function_environments,
    local_overrides,
    local_secret_values,
    local_simulator,
    simulator_settings,
)
from local.template import Application, read_application

#: The job every sample in events/ names.
JOB_ID = "7d3f6c1e-2b4a-4e8f-9a51-0c6de2f4b8a9"
NOTIFY_SIGNING_SECRET = "whsec_" + "Y29sZC1zdGFydC1iZW5jaC1zaWduaW5nLXNlY3JldA=="  # noqa: S105 - a bench fixture
#: The little loopback server's paths: a clip to download, a caller's webhook receiver.
CLIP_PATH, HOOK_PATH = "/clip.mp4", "/hook"

#: Run in the fresh interpreter: the event is read first (the runtime's work), then import and invoke.
INVOKE = """import json, sys, time
event = json.loads(open(sys.argv[1]).read())
class Context:
    function_name = sys.argv[2]
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    aws_request_id = "cold-start"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + sys.argv[2]
    log_group_name = "/aws/lambda/" + sys.argv[2]
    log_stream_name = "cold-start"
    def get_remaining_time_in_millis(self):
        return 29000
started = time.perf_counter()
import app
imported = time.perf_counter()
if sys.argv[3] == "restored":
    # SnapStart's part, untimed: the priming before the snapshot, the hooks after a restore. The
    # restore itself (Lambda's) is not here: it exists only on Lambda.
    from videojobs import snapstart
    snapstart.prime()
    snapstart.restored()
    imported = time.perf_counter()
response = app.lambda_handler(event, Context())
done = time.perf_counter()
print()
print(json.dumps({"import": (imported - started) * 1000, "invoke": (done - imported) * 1000,
                  "response": response}))
"""
BASELINE = """import json, os, sys, time
started = time.perf_counter()
import boto3
imported = time.perf_counter()
boto3.client("dynamodb").get_item(TableName=os.environ["JOBS_TABLE_NAME"], Key={"job_id": {"S": sys.argv[1]}})
done = time.perf_counter()
print(json.dumps({"import": (imported - started) * 1000, "invoke": (done - imported) * 1000}))
"""


@dataclass(frozen=True)
class Sample:
    """A function's first invocation: its event in events/, what it does, and the job state it needs."""

    event: str
    work: str
    #: The job's state before the sample (None: no job), as changes to a queued eachlabs job.
    job: Mapping[str, Any] | None = None


SUBMITTED = {"status": "submitted", "provider_job_id": "3f1b2c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"}
#: Per function logical id; every function in template.yaml has one (`cold_start_rows` checks).
SAMPLES: dict[str, Sample] = {
    "IntakeFunction": Sample("create_job", "POST /jobs: validate, store the job queued, queue its dispatch"),
    "StatusFunction": Sample("get_job", "GET /jobs/{id}: read the job", {}),
    "CancelFunction": Sample(
        "cancel_job", "POST /jobs/{id}/cancel: cancel a submitted job, ask the provider to cancel", SUBMITTED
    ),
    "UploadsFunction": Sample("create_upload", "POST /uploads: presign a PUT into the inputs bucket"),
    "CallbackFunction": Sample(
        "eachlabs_webhook",
        "EachLabs webhook (signed now): check token and HMAC, job -> transferring, queue the transfer",
        SUBMITTED,
    ),
    "SubmitFunction": Sample(
        "dispatch_message", "dispatch: take a slot, create the prediction at the simulator", {}
    ),
    "StatusCheckFunction": Sample(
        "status_check_message",
        "status check: GET the prediction at the simulator, schedule the next",
        SUBMITTED,
    ),
    "TransferFunction": Sample(
        "transfer_message",
        "transfer: download a 4 s clip from loopback, read the MP4, store it in S3",
        {"status": "transferring", "provider_job_id": SUBMITTED["provider_job_id"]},
    ),
    "NotifyFunction": Sample(
        "notify_message", "notify: POST the signed outcome to a loopback notify_url, record it", {}
    ),
    "DeadLetterFunction": Sample(
        "dispatch_dead_letter_message", "dead-lettered dispatch: end the job failed, publish the outcome", {}
    ),
}


@dataclass
class Bench:
    """The moto server with the template's resources, the simulator, the loopback server and each
    function's environment, for one run of the bench."""

    application: Application
    resources: ProvisionedStack
    endpoint: str
    environments: dict[str, dict[str, str]]
    loopback: str
    folder: Path

    def client(self, service: str) -> Any:
        return aws_client(service, self.endpoint)


@contextlib.contextmanager
def running_bench() -> Iterator[Bench]:
    application = read_application()
    config = LocalStackConfig(aws_port=0, api_port=0, simulator_port=0, stack_name="cold-start")
    moto, simulator = moto_server(HOST, 0), local_simulator(config)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    with tempfile.TemporaryDirectory() as folder, _loopback_server(Path(folder)) as loopback:
        moto.start()
        simulator.start()
        try:
            host, port = moto.get_host_and_port()
            endpoint = f"http://{host}:{port}"
            overrides = local_overrides(config)
            secrets = {**local_secret_values(overrides), "NOTIFY_SIGNING_SECRET": NOTIFY_SIGNING_SECRET}
            resources = provision(
                application.resources,
                application.parameters,
                endpoint_url=endpoint,
                stack_name=config.stack_name,
                secret_values=secrets,
                conditions=application.conditions,
            )
            environments = function_environments(
                application,
                resources,
                aws_endpoint=endpoint,
                api_url=loopback,  # the simulator's webhooks land on the loopback server
                simulator_settings=simulator_settings(simulator, overrides),
                overrides=overrides,
            )
            for environment in environments.values():
                # As deployed: metrics are written (to stdout, as EMF); the template's Tracing=Lambda.
                environment.pop("POWERTOOLS_METRICS_DISABLED", None)
            yield Bench(application, resources, endpoint, environments, loopback, Path(folder))
        finally:
            simulator.stop()
            moto.stop()


@contextlib.contextmanager
def _loopback_server(folder: Path) -> Iterator[str]:
    """GET /clip.mp4: a rendered 4 s 480p clip; any POST: 204 (a caller's webhook receiver)."""
    from local.simulator import render_mp4

    clip = folder / "clip.mp4"
    render_mp4(clip, width=854, height=480, duration_seconds=4, with_audio=True)
    body = clip.read_bytes()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == CLIP_PATH else 404)
            self.send_header("content-type", "video/mp4")
            self.send_header("content-length", str(len(body) if self.path == CLIP_PATH else 0))
            self.end_headers()
            if self.path == CLIP_PATH:
                self.wfile.write(body)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
            """Quiet."""

    server = ThreadingHTTPServer((HOST, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _event(bench: Bench, sample: Sample) -> dict[str, Any]:
    """The sample as the function gets it: a webhook signed now, loopback URLs for the notify and
    transfer samples (theirs are on the internet)."""
    event: dict[str, Any] = json.loads((ROOT / "events" / f"{sample.event}.json").read_text())
    if event.get("routeKey", "").startswith("POST /webhooks/"):
        now = datetime.now(UTC)
        return signed_for_local(event, local_keys(now), now)
    for record in event.get("Records", []):
        body = json.loads(record["body"])
        if "source_url" in body:
            body["source_url"] = bench.loopback + CLIP_PATH
        if "detail" in body and "request" in body["detail"]:
            body["detail"]["request"]["notify_url"] = bench.loopback + HOOK_PATH
        record["body"] = json.dumps(body)
    return event


def _reset(bench: Bench, sample: Sample) -> None:
    """The tables as a fresh stack has them, but for the job the sample needs."""
    from videojobs.adapters.dynamodb import DynamoDBJobStore
    from videojobs.models import Job, JobRequest

    dynamodb = bench.client("dynamodb")
    for table in ("JobsTable", "ProviderLimitsTable", "IdempotencyTable"):
        name = bench.resources.refs[table]
        keys = [
            attribute["AttributeName"]
            for attribute in bench.application.resources[table]["Properties"]["KeySchema"]
        ]
        for item in dynamodb.scan(TableName=name).get("Items", []):
            dynamodb.delete_item(TableName=name, Key={key: item[key] for key in keys})
    if sample.job is None:
        return
    now = datetime.now(UTC)
    request = JobRequest.model_validate(
        {"provider": "eachlabs", "prompt": "A paper boat drifting down a rain-soaked street", "duration": 4}
    )
    job = Job.new(request, now=now, retention=timedelta(days=7), job_id=JOB_ID)
    if sample.job:
        job = Job.model_validate({**job.model_dump(), **sample.job, "dispatched_at": now})
    DynamoDBJobStore(dynamodb, bench.resources.refs["JobsTable"]).create_if_absent(job)


def _job_status(bench: Bench) -> str:
    item = (
        bench.client("dynamodb")
        .get_item(TableName=bench.resources.refs["JobsTable"], Key={"job_id": {"S": JOB_ID}})
        .get("Item")
    )
    return item["status"]["S"] if item else "none"


def _run(code: str, args: list[str], folder: Path, environment: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(  # noqa: S603 - our own interpreter on our own code
        [str(layer_python()), "-c", code, *args],
        cwd=folder,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"cold start sample failed in {folder}:\n{done.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def _answer(response: Mapping[str, Any]) -> str:
    if "statusCode" in response:
        return f"HTTP {response['statusCode']}"
    return f"{len(response.get('batchItemFailures', []))} failed records"


@dataclass
class Figures:
    imports: list[float]
    invokes: list[float]
    answers: set[str]
    after: set[str]
    #: The first invocation of a fresh process whose import and priming were done first (untimed).
    restored: list[float] = field(default_factory=list)
    #: The baseline's import + GetItem, run just before this function's samples of the same run.
    baselines: list[float] = field(default_factory=list)
    #: Its ``import boto3`` alone.
    baseline_imports: list[float] = field(default_factory=list)

    def ratios(self, figures: list[float], baselines: list[float] | None = None) -> float:
        """The median over runs of each run's figure over the baseline run beside it."""
        beside = self.baselines if baselines is None else baselines
        return statistics.median(f / b for f, b in zip(figures, beside, strict=True))

    @property
    def totals(self) -> list[float]:
        return [i + j for i, j in zip(self.imports, self.invokes, strict=True)]

    @property
    def import_ms(self) -> float:
        return statistics.median(self.imports)

    @property
    def total_ms(self) -> float:
        return statistics.median(i + j for i, j in zip(self.imports, self.invokes, strict=True))


def measure(bench: Bench, runs: int) -> tuple[Figures, dict[str, Figures]]:
    missing = sorted(set(bench.application.functions) - set(SAMPLES))
    if missing:
        raise LookupError(f"no cold-start sample for {', '.join(missing)}: add one to SAMPLES")
    baseline = Figures([], [], set(), set())
    functions = {logical_id: Figures([], [], set(), set()) for logical_id in SAMPLES}
    event_file = bench.folder / "event.json"
    for _ in range(runs):
        for logical_id, sample in SAMPLES.items():
            # The baseline beside each function's samples: on a shared machine the load moves within a run.
            _reset(bench, sample)
            environment = cold_start_environment(ROOT, (), bench.environments["StatusFunction"])
            taken = _run(BASELINE, [JOB_ID], ROOT, environment)
            baseline.imports.append(taken["import"])
            baseline.invokes.append(taken["invoke"])
            functions[logical_id].baselines.append(taken["import"] + taken["invoke"])
            functions[logical_id].baseline_imports.append(taken["import"])
            spec = bench.application.functions[logical_id]
            event_file.write_text(json.dumps(_event(bench, sample)))
            environment = cold_start_environment(
                spec.code_dir, (spec.code_dir, LAYER), bench.environments[logical_id]
            )
            taken = _run(INVOKE, [str(event_file), logical_id, "cold"], spec.code_dir, environment)
            figures = functions[logical_id]
            figures.imports.append(taken["import"])
            figures.invokes.append(taken["invoke"])
            figures.answers.add(_answer(taken["response"]))
            if sample.job is not None:
                figures.after.add(f"job {sample.job.get('status', 'queued')} -> {_job_status(bench)}")
            # The same sample after a SnapStart restore, run right after, so both see the same load.
            _reset(bench, sample)
            event_file.write_text(json.dumps(_event(bench, sample)))
            taken = _run(INVOKE, [str(event_file), logical_id, "restored"], spec.code_dir, environment)
            figures.restored.append(taken["invoke"])
            figures.answers.add(_answer(taken["response"]))
    return baseline, functions


def cold_start_rows(
    quick: bool, run: Callable[[Bench, int], tuple[Figures, dict[str, Figures]]] = measure
) -> list[RatioRow]:
    """Each function's import + first invocation against ``import boto3`` + one GetItem: median of 7
    runs (3 when quick)."""
    runs = 3 if quick else 7
    with running_bench() as bench:
        baseline, functions = run(bench, runs)
    base_import, base_total = baseline.import_ms, baseline.total_ms
    rows = [
        RatioRow(
            f"cold start baseline: import boto3 + one DynamoDB GetItem, beside each function's samples, "
            f"median of {runs * len(functions)}",
            f"{base_total:.0f} ms",
            f"import boto3 {base_import:.0f} ms",
            "-",
            "-",
        )
    ]
    for logical_id, figures in functions.items():
        sample = SAMPLES[logical_id]
        invoke = figures.total_ms - figures.import_ms
        restored = statistics.median(figures.restored)
        beside = statistics.median(figures.baselines)
        rows.append(
            RatioRow(
                f"cold start: {logical_id} on {sample.event}.json ({sample.work}; "
                f"{', '.join(sorted(figures.answers | figures.after))}), median of {runs}",
                f"{figures.total_ms:.0f} ms (import {figures.import_ms:.0f} + first call {invoke:.0f})",
                f"{beside:.0f} ms, run beside it",
                f"{figures.ratios(figures.totals):.2f}x; import "
                f"{figures.ratios(figures.imports, figures.baseline_imports):.2f}x",
                f"<= {GOAL_RATIO}x",
            )
        )
        rows.append(
            RatioRow(
                f"after a SnapStart restore: {logical_id}'s first call, imports and priming done before "
                f"the snapshot (untimed); Lambda's restore itself is not included and cannot be measured "
                f"here, median of {runs}",
                f"{restored:.0f} ms",
                f"{beside:.0f} ms, run beside it",
                f"{figures.ratios(figures.restored):.2f}x",
                f"<= {GOAL_RATIO}x + restore",
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 runs per figure instead of 7")
    print_table(cold_start_rows(parser.parse_args().quick))


if __name__ == "__main__":
    main()
