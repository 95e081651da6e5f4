"""Who may call what, through the local API front, which checks SigV4 as API Gateway's IAM
authorization does: POST /jobs and GET /jobs/{id} need a signature; the webhook route is open and
guarded by each job's token."""

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from botocore.credentials import Credentials

from local.sigv4 import SigV4
from local.stack import LocalStack

pytestmark = pytest.mark.e2e
Wait = Callable[..., dict[str, Any]]
T2V = {"provider": "eachlabs", "prompt": "a gate", "resolution": "480p", "duration": 4}


def test_a_signed_post_is_accepted(api: httpx.Client) -> None:
    assert api.post("/jobs", json=T2V).status_code == 202


@pytest.mark.parametrize(
    "auth",
    [
        None,
        SigV4(Credentials("testing", "not-the-secret")),
        SigV4(Credentials("someone-else", "testing")),
        SigV4(region="eu-west-1"),
    ],
    ids=["unsigned", "wrong-secret", "unknown-key", "wrong-region"],
)
def test_an_unsigned_or_wrongly_signed_post_is_403_and_writes_nothing(stack: LocalStack, auth: Any) -> None:
    before = stack.job_count()

    with httpx.Client(base_url=stack.api_url, auth=auth, timeout=30) as client:
        response = client.post("/jobs", json=T2V)

    assert response.status_code == 403
    assert response.json() == {"message": "Forbidden"}
    assert stack.job_count() == before


def test_a_body_changed_after_signing_is_403(stack: LocalStack) -> None:
    signed = next(SigV4().auth_flow(httpx.Request("POST", f"{stack.api_url}/jobs", json=T2V)))
    tampered = json.dumps({**T2V, "prompt": "something else"}).encode()

    response = httpx.post(
        f"{stack.api_url}/jobs",
        content=tampered,
        headers={**signed.headers, "content-length": str(len(tampered))},
    )

    assert response.status_code == 403


def test_reading_a_job_needs_a_signature_too(stack: LocalStack, api: httpx.Client) -> None:
    job_id = api.post("/jobs", json=T2V).json()["job_id"]

    assert httpx.get(f"{stack.api_url}/jobs/{job_id}").status_code == 403
    assert api.get(f"/jobs/{job_id}").status_code == 200


def test_the_webhook_route_is_open_and_its_token_guards_it(stack: LocalStack, api: httpx.Client) -> None:
    job_id = api.post("/jobs", json=T2V).json()["job_id"]

    response = httpx.post(f"{stack.api_url}/webhooks/eachlabs/{job_id}?token=1.bad", json={"status": "x"})

    assert response.status_code == 401  # reached the callback function, which refused the token
    assert response.json()["error"]["code"] == "unauthorized"
