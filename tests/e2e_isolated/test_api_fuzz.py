"""A bounded schemathesis run against the local stack, driven by the OpenAPI document the handlers
generate (local/openapi.py), every request signed as the IAM routes require.

It holds three promises: no server error; no status the document does not declare, with a body and
content type as declared; and no request the document allows is refused (POST /jobs answers 202 to
every schema-valid body). Requests outside the schema are refused with a 4xx.

What no schema can say is supplied as state, not relaxed in the checks: s3:// inputs point at an
object uploaded first (the intake checks that it exists), https media inputs (first_frame_url,
last_frame_url, reference_*_urls) at a public host, path kept (the intake refuses private, loopback
and link-local IP literals, localhost, .internal and .local), notify_url at a loopback address (the
intake checks the address; local mode allows loopback), and every valid Idempotency-Key is fresh (a
reused one means another request). A random job id names no job: of the valid ones GET
/jobs/{job_id}/video and /last-frame get, a third name a job that succeeded with its last frame (302)
and a third one canceled before it had a video (409). POST /uploads answers 201 to every schema-valid
body within the deployment's MAX_UPLOAD_BYTES (the schema allows up to S3's 5 GiB).

The cases are the same on every run: derandomized, no example database, and Hypothesis' pool of
"local constants" held empty. Hypothesis otherwise mixes in string and number literals from the
source of every project module the process has imported so far, so what it generated here depended
on which other tests had run first in the same process (or pytest-xdist worker).
"""

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.internal.conjecture import providers as hypothesis_providers
from jsonschema import Draft202012Validator
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from local.openapi import api_document
from local.sigv4 import SigV4
from local.stack import LocalStack
from tests.e2e.conftest import start_stack
from videojobs.catalog.request_schema import PublishedJobRequest
from videojobs.models import UploadRequest
from videojobs.settings import Settings

pytestmark = pytest.mark.e2e
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
JOB_REQUEST = Draft202012Validator(PublishedJobRequest.model_json_schema())
UPLOAD_REQUEST = Draft202012Validator(UploadRequest.model_json_schema())
MAX_UPLOAD_BYTES = Settings.model_fields["max_upload_bytes"].default
#: The routes whose job id is sometimes swapped for a job that exists (see ``with_known_job``).
OUTPUT_ROUTES = ("/jobs/{job_id}/video", "/jobs/{job_id}/last-frame")
MEDIA_FIELDS = ("first_frame_url", "last_frame_url")
MEDIA_LISTS = ("reference_image_urls", "reference_video_urls", "reference_audio_urls")
#: Where https media inputs point: a public host the intake accepts and nothing ever fetches.
PUBLIC_MEDIA_HOST = "cdn.example.com"
#: Cases per operation and mode: bounded, a few seconds each on two cores.
EXAMPLES = {
    "POST /jobs": 50,
    "GET /jobs": 20,
    "GET /jobs/{job_id}": 20,
    "POST /jobs/{job_id}/cancel": 20,
    "GET /spend": 20,
    "POST /webhooks/{provider}/{job_id}": 20,
    "POST /uploads": 30,
    "GET /jobs/{job_id}/video": 20,
    "GET /jobs/{job_id}/last-frame": 20,
    "GET /openapi.json": 5,
}
#: Operations with nothing to vary (no parameters, no body): their one request, in positive mode only.
FIXED = {"GET /openapi.json"}


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with start_stack("fuzz") as running:
        yield running


@pytest.fixture
def same_cases_on_every_run(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Hypothesis' local constants held empty (see the module docstring), its cache of them cleared
    before and after; its own built-in constants are still drawn."""
    empty = hypothesis_providers.Constants()
    monkeypatch.setattr(hypothesis_providers, "_get_local_constants", lambda: empty)
    hypothesis_providers.CONSTANTS_CACHE.cache.clear()
    yield
    hypothesis_providers.CONSTANTS_CACHE.cache.clear()


def on_public_host(url: str) -> str:
    """An https URL with its authority (host, port, userinfo) replaced by PUBLIC_MEDIA_HOST, the rest
    kept; anything else, and an https URL with no authority at all, as it is."""
    scheme = "https://"
    if url[: len(scheme)].lower() != scheme:
        return url
    rest = url[len(scheme) :]
    end = min((index for index in map(rest.find, "/?#") if index >= 0), default=len(rest))
    return url if end == 0 else url[: len(scheme)] + PUBLIC_MEDIA_HOST + rest[end:]


def with_state(stack: LocalStack, body: Any) -> Any:
    """The body with its deployment-dependent values replaced by ones that exist here."""
    if not isinstance(body, dict):
        return body
    existing = f"s3://{stack.ref('InputsBucket')}/fuzz/frame.png"

    def media(url: Any) -> Any:
        if not isinstance(url, str):
            return url
        return existing if url.startswith("s3://") else on_public_host(url)

    body = dict(body)
    for name in MEDIA_FIELDS:
        if name in body:
            body[name] = media(body[name])
    for name in MEDIA_LISTS:
        if isinstance(body.get(name), list):
            body[name] = [media(url) for url in body[name]]
    if isinstance(body.get("notify_url"), str):
        # https (as the schema says) to a loopback port nothing listens on: the calls fail, bounded.
        body["notify_url"] = "https://127.0.0.1:9/notify-sink"
    return body


@dataclass
class Sent:
    body: Any
    idempotency_key: str | None
    response: httpx.Response


def fresh_key(value: str) -> str:
    # A valid key is made unique (a reused one means another request); an invalid one is kept.
    return str(uuid.uuid4()) if 1 <= len(value.strip()) <= 255 else value


@dataclass(frozen=True)
class KnownJobs:
    """Jobs that exist on the fuzz stack: one succeeded with its last frame, one canceled before it had a
    video."""

    succeeded: str
    canceled: str

    def swapped(self, job_id: Any) -> Any:
        """A valid job id, for a third of them the succeeded job and for a third the canceled one (by the
        id itself, so the same on every run); anything else as it is."""
        try:
            number = uuid.UUID(str(job_id)).int
        except ValueError:
            return job_id
        return {0: self.succeeded, 1: self.canceled}.get(number % 3, job_id)


def with_known_job(case: Case, known: KnownJobs | None) -> None:
    if known is not None and case.path in OUTPUT_ROUTES and "job_id" in (case.path_parameters or {}):
        case.path_parameters["job_id"] = known.swapped(case.path_parameters["job_id"])


def send(stack: LocalStack, client: httpx.Client, case: Case, known: KnownJobs | None = None) -> Sent:
    with_known_job(case, known)
    request = case.as_transport_kwargs(base_url=stack.api_url)
    headers = {name.lower(): value for name, value in request["headers"].items()}
    headers.pop("connection", None)
    if "idempotency-key" in headers:
        headers["idempotency-key"] = fresh_key(headers["idempotency-key"])
    body: Any = None
    content: bytes | None = None
    if "json" in request:
        body = with_state(stack, request["json"])
        content = httpx.Request("POST", "/", json=body).content
    elif request.get("data") is not None:
        data = request["data"]
        content = data if isinstance(data, bytes) else str(data).encode()
    response = client.request(
        request["method"], request["url"], headers=headers, params=request.get("params"), content=content
    )
    return Sent(body, headers.get("idempotency-key"), response)


def run_cases(
    stack: LocalStack,
    operation: Any,
    mode: GenerationMode,
    examples: int,
    judge: Callable[[Case, Sent], str | None],
    known: KnownJobs | None = None,
) -> tuple[int, list[str]]:
    problems: list[str] = []
    seen = [0]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def one(case: Case) -> None:
        sent = send(stack, client, case, known)
        response = sent.response
        seen[0] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except (AssertionError, FailureGroup) as failure:
            problems.append(f"{case.method} {case.formatted_path} -> {response.status_code}: {failure}")
        verdict = judge(case, sent)
        if verdict:
            problems.append(f"{case.method} {case.formatted_path} -> {response.status_code}: {verdict}")

    with httpx.Client(auth=SigV4(), timeout=30) as client:
        one()
    return seen[0], problems


def job_judged_by_the_schema(case: Case, sent: Sent) -> str | None:
    """POST /jobs: 202 exactly when what was sent is valid under the document, else a 4xx."""
    json_sent = (case.media_type or "").startswith("application/json") and sent.body is not None
    key_valid = sent.idempotency_key is None or 1 <= len(sent.idempotency_key.strip()) <= 255
    valid = json_sent and key_valid and JOB_REQUEST.is_valid(sent.body)
    status = sent.response.status_code
    if valid and status != 202:
        return f"a schema-valid job was refused: {sent.response.text[:300]} (body {sent.body!r:.300})"
    if not valid and not 400 <= status < 500:
        return f"a job outside the schema was not refused (body {sent.body!r:.300})"
    return None


def upload_judged_by_the_schema(case: Case, sent: Sent) -> str | None:
    """POST /uploads: 201 exactly when what was sent is valid under the document and within
    MAX_UPLOAD_BYTES, else a 4xx."""
    json_sent = (case.media_type or "").startswith("application/json") and sent.body is not None
    valid = json_sent and UPLOAD_REQUEST.is_valid(sent.body) and sent.body["size_bytes"] <= MAX_UPLOAD_BYTES
    status = sent.response.status_code
    if valid and status != 201:
        return f"a schema-valid upload was refused: {sent.response.text[:300]} (body {sent.body!r:.300})"
    if not valid and not 400 <= status < 500:
        return f"an upload outside the schema was not refused (body {sent.body!r:.300})"
    return None


def refused(case: Case, sent: Sent) -> str | None:
    if 400 <= sent.response.status_code < 500:
        return None
    return f"a request outside the schema was not refused ({case.path_parameters}, {case.query})"


def answered(case: Case, sent: Sent) -> str | None:
    return None


#: Per operation, the judge of its schema-valid and of its schema-breaking cases (default: answered, and
#: refused). A "schema-breaking" query parameter of GET /spend is often valid text once it is in a query
#: string (the number 0 is the end user "0"), so its cases are held to the document's checks alone.
JUDGES: dict[str, tuple[Callable[[Case, Sent], str | None], ...]] = {
    "POST /jobs": (job_judged_by_the_schema, job_judged_by_the_schema),
    "POST /uploads": (upload_judged_by_the_schema, upload_judged_by_the_schema),
    "GET /spend": (answered, answered),
}


#: The ``"auto"`` alternative of the request schema holds one branch per provider branch; schemathesis'
#: canonicalizer models no more than three of them beside the named alternatives (it declines the whole
#: document past that), so cases are generated from the first three. Every body is still judged by the
#: whole published schema (``JOB_REQUEST``).
AUTO_BRANCHES_GENERATED = 3


def generation_document() -> dict[str, Any]:
    """The OpenAPI document with the "auto" alternative cut to ``AUTO_BRANCHES_GENERATED`` branches."""
    document = api_document()
    alternatives = document["components"]["schemas"]["PublishedJobRequest"]["oneOf"]
    (auto,) = [
        alt for alt in alternatives if alt["allOf"][0] == {"properties": {"provider": {"enum": ["auto"]}}}
    ]
    served = auto["allOf"][1]["anyOf"]
    assert len(served) > AUTO_BRANCHES_GENERATED  # cut, not dropped: what is left still generates
    auto["allOf"][1]["anyOf"] = served[:AUTO_BRANCHES_GENERATED]
    return document


def known_jobs(stack: LocalStack) -> KnownJobs:
    """A job that succeeds with its last frame, and one canceled while still queued."""
    with stack.api_client() as api:
        job = {"provider": "byteplus", "prompt": "a kite", "resolution": "480p", "duration": 4}
        succeeded = api.post("/jobs", json={**job, "return_last_frame": True}).raise_for_status().json()
        canceled = api.post("/jobs", json=job).raise_for_status().json()
        api.post(f"/jobs/{canceled['job_id']}/cancel").raise_for_status()
        deadline = time.monotonic() + 60
        while api.get(f"/jobs/{succeeded['job_id']}").json()["status"] != "succeeded":
            assert time.monotonic() < deadline, "the fuzz run's known job did not succeed in 60 s"
            time.sleep(0.2)
    return KnownJobs(succeeded=succeeded["job_id"], canceled=canceled["job_id"])


@pytest.mark.usefixtures("same_cases_on_every_run")
def test_the_api_keeps_its_openapi_document_under_a_bounded_fuzz(stack: LocalStack) -> None:
    stack.client("s3").put_object(
        Bucket=stack.ref("InputsBucket"),
        Key="fuzz/frame.png",
        Body=b"\x89PNG\r\n\x1a\n",
        ContentType="image/png",
    )
    known = known_jobs(stack)
    schema = schemathesis.openapi.from_dict(generation_document())
    sent: dict[str, int] = {}
    problems: list[str] = []
    for label, examples in EXAMPLES.items():
        method, path = label.split(" ", 1)
        operation = schema[path][method]
        judges = JUDGES.get(label, (answered, refused))
        modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)[: 1 if label in FIXED else 2]
        for mode, judge in zip(modes, judges, strict=False):
            count, found = run_cases(stack, operation, mode, examples, judge, known)
            sent[f"{label} {mode.value}"] = count
            problems.extend(found)

    assert not problems, "\n".join(problems[:15])
    # The run was not vacuous: every operation got requests of both kinds (the fixed ones, their one).
    assert len(sent) == 2 * len(EXAMPLES) - len(FIXED)
    assert all(count >= (1 if label.rsplit(" ", 1)[0] in FIXED else 10) for label, count in sent.items()), (
        sent
    )
