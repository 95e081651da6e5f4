"""The API front with the local pages (local/pages.py), over HTTP on loopback, with template.yaml's own
routes and recording functions in place of the Lambda handlers: the pages sit beside the routes and
never in place of one, and the front signs only requests of its own pages; anything else unsigned
still gets 403, as from API Gateway."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from local.api_front import LOCAL_CALLER, ApiFront
from local.pages import LocalPages
from local.sigv4 import SigV4, signature_problem
from local.template import HttpRoute, UnsupportedTrigger, read_application

ROUTES = read_application().routes
MARKER = {"X-Seedance-Console": "1"}
JOB = {"provider": "eachlabs", "prompt": "a gate"}


class RecordingFunction:
    """Stands in for a Lambda function: records each event and answers 200 with its route key."""

    def __init__(self, function_id: str, events: list[tuple[str, dict[str, Any]]]) -> None:
        self.function_id = function_id
        self.events = events

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append((self.function_id, event))
        return {"statusCode": 200, "body": json.dumps({"route": event["routeKey"]})}


class Functions(dict[str, RecordingFunction]):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, dict[str, Any]]] = []

    def __missing__(self, function_id: str) -> RecordingFunction:
        return self.setdefault(function_id, RecordingFunction(function_id, self.events))


@pytest.fixture(scope="module")
def shared_functions() -> Functions:
    return Functions()


@pytest.fixture(scope="module")
def front(shared_functions: Functions) -> Iterator[ApiFront]:
    """One front for the module (each one takes half a second to stop)."""
    with running_front(shared_functions, LocalPages()) as running:
        yield running


@pytest.fixture
def functions(shared_functions: Functions) -> Functions:
    shared_functions.events.clear()
    return shared_functions


@pytest.fixture
def page(front: ApiFront) -> Iterator[httpx.Client]:
    """A browser that has opened /console: it holds the pages' cookie and sends what a page sends."""
    with httpx.Client(base_url=front.base_url, timeout=10) as client:
        client.get("/console").raise_for_status()
        yield client


def test_pages_and_their_files_are_served_with_the_cookie(front: ApiFront) -> None:
    with httpx.Client(base_url=front.base_url, timeout=10) as client:
        docs, console, job = client.get("/docs"), client.get("/console"), client.get("/console/jobs/abc")
        bundle = client.get("/docs/swagger-ui/swagger-ui-bundle.js")
        script = client.get("/console/static/console.js")

    assert [docs.status_code, console.status_code, job.status_code] == [200, 200, 200]
    assert "swagger-ui-bundle.js" in docs.text
    assert 'id="submit-form"' in console.text
    assert 'id="timeline"' in job.text
    port = front.base_url.rsplit(":", 1)[1]
    cookie = docs.headers["set-cookie"]
    assert cookie.startswith(f"seedance_console_{port}=")
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert docs.headers["x-frame-options"] == "DENY"
    assert bundle.headers["content-type"] == "text/javascript; charset=utf-8"
    assert b"SwaggerUIBundle" in bundle.content
    assert "set-cookie" not in bundle.headers
    assert script.status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/console/static/../pages.py",
        "/console/static/console.html",
        "/docs/swagger-ui/nothing.js",
        "/docs/x/y",
    ],
)
def test_nothing_else_under_the_pages_is_served(front: ApiFront, path: str) -> None:
    assert httpx.get(f"{front.base_url}{path}").status_code == 404


def test_a_page_is_only_read(front: ApiFront, functions: Functions) -> None:
    response = httpx.post(f"{front.base_url}/console", content=b"x")

    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert functions.events == []


def test_every_template_route_reaches_its_function_as_before(front: ApiFront, functions: Functions) -> None:
    answers = {}
    with httpx.Client(base_url=front.base_url, auth=SigV4(), timeout=10) as client:
        for route in ROUTES:
            if route.path == "$default":
                continue
            path = route.path.replace("{provider}", "eachlabs").replace("{job_id}", "j-1")
            answers[f"{route.method} {route.path}"] = client.request(
                "POST" if route.method == "ANY" else route.method, path
            )
        unrouted = client.get("/documents")

    for route_key, answer in answers.items():
        assert answer.status_code == 200, route_key
    assert {json.loads(answer.text)["route"] for answer in answers.values()} <= {
        f"{route.method} {route.path}" for route in ROUTES
    }
    assert unrouted.json() == {"route": "$default"}  # the pages own /docs, not every path beginning so


def test_a_template_route_under_the_pages_stops_the_front_from_starting(functions: Functions) -> None:
    clash = HttpRoute(method="GET", path="/console/{id}", function_id="StatusFunction", authorizer="AWS_IAM")

    with pytest.raises(UnsupportedTrigger, match="/console"):
        ApiFront([*ROUTES, clash], functions, host="127.0.0.1", port=0, site=LocalPages())


# -- who gets signed ----------------------------------------------------------------------------------
def test_a_page_request_is_signed_by_the_front_and_the_function_never_sees_the_token(
    page: httpx.Client, functions: Functions
) -> None:
    page.cookies.set("theme", "dark")

    listed = page.get("/jobs")
    created = page.post("/jobs", json=JOB, headers=MARKER)

    assert [listed.status_code, created.status_code] == [200, 200]
    (_, read_event), (_, create_event) = functions.events
    for event in (read_event, create_event):
        headers = event["headers"]
        assert headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=testing/")
        assert "seedance_console_" not in headers["cookie"]
        assert headers["cookie"] == "theme=dark"
        assert "x-seedance-console" not in headers
        assert event["requestContext"]["authorizer"] == {"iam": LOCAL_CALLER}
    assert signature_problem("POST", "/jobs", create_event["headers"], create_event["body"].encode()) is None


def test_unsigned_requests_from_elsewhere_still_get_403(front: ApiFront, functions: Functions) -> None:
    response = httpx.post(f"{front.base_url}/jobs", json=JOB, headers=MARKER)

    assert response.status_code == 403
    assert response.json() == {"message": "Forbidden"}
    assert functions.events == []


@pytest.mark.parametrize(
    ("method", "headers", "cookie"),
    [
        ("GET", {}, "wrong-token"),
        ("POST", {}, None),  # the page's cookie, without the marker header: a form of another page
        ("GET", {"Origin": "http://127.0.0.1:8900"}, None),  # another local origin
        ("GET", {"Sec-Fetch-Site": "same-site"}, None),  # the browser says: another origin of this site
        ("GET", {"Sec-Fetch-Site": "cross-site"}, None),
        ("GET", {"Host": "rebound.example:{port}"}, None),  # DNS rebinding: a foreign name for 127.0.0.1
        ("GET", {"Authorization": "AWS4-HMAC-SHA256 Credential=someone/x"}, None),  # a signature of its own
    ],
    ids=[
        "wrong-token",
        "post-without-marker",
        "foreign-origin",
        "same-site",
        "cross-site",
        "rebound",
        "own-auth",
    ],
)
def test_a_request_that_is_not_the_pages_own_is_not_signed(
    page: httpx.Client,
    front: ApiFront,
    functions: Functions,
    method: str,
    headers: dict[str, str],
    cookie: str | None,
) -> None:
    port = front.base_url.rsplit(":", 1)[1]
    if cookie is not None:
        page.cookies.clear()
        page.cookies.set(f"seedance_console_{port}", cookie)
    sent = {name: value.replace("{port}", port) for name, value in headers.items()}

    response = page.request(method, "/jobs", json=JOB if method == "POST" else None, headers=sent)

    assert response.status_code == 403
    assert functions.events == []


def test_the_cookie_of_another_stacks_pages_signs_nothing(functions: Functions) -> None:
    with (
        running_front(functions, LocalPages(token="one")) as one,
        running_front(functions, LocalPages(token="two")) as other,
    ):
        with httpx.Client(base_url=one.base_url, timeout=10) as browser:
            browser.get("/console").raise_for_status()
        answer = httpx.get(f"{other.base_url}/jobs", cookies={cookie_name(other): "one"})

    assert browser.cookies[cookie_name(one)] == "one"
    assert answer.status_code == 403
    assert functions.events == []


def test_a_front_without_pages_signs_nothing_and_serves_no_page(functions: Functions) -> None:
    with running_front(functions, site=None) as plain:
        docs = httpx.get(f"{plain.base_url}/docs")
        read = httpx.get(f"{plain.base_url}/jobs", cookies={cookie_name(plain): "token"}, headers=MARKER)

    assert docs.status_code == 403  # the template's $default route, unsigned: as before the pages
    assert read.status_code == 403
    assert functions.events == []


def cookie_name(front: ApiFront) -> str:
    return LocalPages.cookie_name(front.base_url)


@contextmanager
def running_front(functions: Functions, site: LocalPages | None) -> Iterator[ApiFront]:
    front = ApiFront(ROUTES, functions, host="127.0.0.1", port=0, site=site).start()
    try:
        yield front
    finally:
        front.stop()
