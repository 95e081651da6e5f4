"""The `seedance` command line client as a person runs it: a subprocess (`python -m seedance_cli`,
what the installed script runs) against the local stack. Its environment holds no AWS credentials and
no path but the client's own package, so it signs with the local stack's credentials as it would
beside `make local`, and needs nothing of the pipeline's code.

`submit --image … --wait` needs POST /uploads and GET /jobs/{job_id}/video."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from local.stack import LocalStack
from tests.media_files import png_file

pytestmark = pytest.mark.e2e
Wait = Callable[..., dict[str, Any]]
ROOT = Path(__file__).resolve().parents[2]
T2V = {"prompt": "a lighthouse at dusk", "resolution": "480p", "duration": 4}


class Seedance:
    """Runs `seedance …` with the API at the local stack's front."""

    def __init__(self, api_url: str, home: Path) -> None:
        self.environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "PYTHONPATH": str(ROOT / "cli"),
            "SEEDANCE_API_URL": api_url,
            "AWS_CONFIG_FILE": str(home / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "COLUMNS": "160",
        }

    def __call__(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 (our own interpreter and module)
            [sys.executable, "-m", "seedance_cli", *args],
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def json(self, *args: str) -> Any:
        done = self(*args, "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


@pytest.fixture(scope="module")
def seedance(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Seedance:
    return Seedance(stack.api_url, tmp_path_factory.mktemp("home"))


@pytest.fixture
def held_in_queue(sim: httpx.Client) -> None:
    """New jobs stay queued at their provider (the `sim` fixture resets the faults afterwards)."""
    sim.post("/faults", json={"hold_in_queue": True}).raise_for_status()


def submit(api: httpx.Client, **fields: Any) -> str:
    response = api.post("/jobs", json={**T2V, **fields})
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    return job_id


def listed(seedance: Seedance, count: int, *args: str) -> Any:
    """`seedance list … --json` once it shows ``count`` jobs (the indexes are eventually consistent)."""
    deadline = time.monotonic() + 30
    while True:
        shown = seedance.json("list", *args)
        if len(shown["jobs"]) >= count or time.monotonic() > deadline:
            return shown
        time.sleep(0.3)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_list_filters_and_json(seedance: Seedance, api: httpx.Client, wait_for_job: Wait) -> None:
    reference = f"cli-{uuid.uuid4()}"
    eachlabs = [submit(api, provider="eachlabs", client_reference=reference) for _ in range(2)]
    fal = submit(api, provider="fal", client_reference=reference, aspect_ratio="16:9")
    for job_id in [*eachlabs, fal]:
        assert wait_for_job(job_id)["status"] == "succeeded"

    everything = listed(seedance, 3, "--client-reference", reference, "--since", "1h")
    only_fal = listed(seedance, 1, "--client-reference", reference, "--provider", "fal")
    succeeded = listed(seedance, 3, "--client-reference", reference, "--status", "succeeded")
    two = seedance.json("list", "--client-reference", reference, "--limit", "2")
    none_failed = seedance.json("list", "--client-reference", reference, "--status", "failed")

    assert sorted(job["job_id"] for job in everything["jobs"]) == sorted([*eachlabs, fal])
    assert everything["next_cursor"] is None
    assert [job["job_id"] for job in only_fal["jobs"]] == [fal]
    assert len(succeeded["jobs"]) == 3
    assert [job["job_id"] for job in two["jobs"]] == [job["job_id"] for job in everything["jobs"][:2]]
    assert two["next_cursor"] is not None
    assert none_failed == {"jobs": [], "next_cursor": None}


def test_list_as_a_table(seedance: Seedance, api: httpx.Client, wait_for_job: Wait) -> None:
    reference = f"cli-{uuid.uuid4()}"
    job_id = submit(api, provider="eachlabs", client_reference=reference)
    wait_for_job(job_id)
    listed(seedance, 1, "--client-reference", reference)

    done = seedance("list", "--client-reference", reference, "--no-json")

    assert done.returncode == 0, done.stderr
    assert job_id in done.stdout
    assert "succeeded" in done.stdout


def test_get_shows_the_job_view(seedance: Seedance, api: httpx.Client, wait_for_job: Wait) -> None:
    job_id = submit(api, provider="eachlabs")
    view = wait_for_job(job_id)

    assert seedance.json("get", job_id) == view


def test_providers_and_spend(seedance: Seedance) -> None:
    providers = seedance.json("providers")
    spend = seedance.json("spend")

    assert len(providers["providers"]) == 7
    assert {"day", "month", "end_user"} <= spend.keys()


def test_cancel_a_job_held_at_its_provider(
    seedance: Seedance, wait_for_job: Wait, held_in_queue: None, tmp_path: Path
) -> None:
    job = seedance.json("submit", "--provider", "fal", "--prompt", "a paper lantern", "--resolution", "480p",
                        "--duration", "4", "--no-wait")  # fmt: skip
    wait_for_job(job["job_id"], until={"submitted", "processing"}, timeout=30)

    canceled = seedance.json("cancel", job["job_id"])

    assert canceled["status"] == "canceled"
    assert canceled["cancel"]["provider_cancel"] == "accepted"
    assert seedance.json("get", job["job_id"])["status"] == "canceled"


def test_a_cancel_too_late_exits_1(seedance: Seedance, api: httpx.Client, wait_for_job: Wait) -> None:
    job_id = submit(api, provider="eachlabs")
    wait_for_job(job_id)

    done = seedance("cancel", job_id)

    assert done.returncode == 1
    assert len(done.stderr.splitlines()) == 1
    assert "job_not_cancelable" in done.stderr


def test_a_422_is_a_field_and_its_message_and_exit_2(seedance: Seedance, api: httpx.Client) -> None:
    body = {"provider": "eachlabs", "prompt": "a gate", "tier": "fast", "resolution": "4k"}
    (expected,) = api.post("/jobs", json=body).json()["detail"]

    done = seedance(
        "submit", "--provider", "eachlabs", "--prompt", "a gate", "--tier", "fast", "--resolution", "4k"
    )

    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"{'.'.join(map(str, expected['loc'][1:]))}: {expected['msg']}"]
    assert done.stderr.startswith("resolution: ")
    assert done.stdout == ""


def test_an_unknown_job_exits_1(seedance: Seedance) -> None:
    done = seedance("get", str(uuid.uuid4()))

    assert done.returncode == 1
    assert "job_not_found" in done.stderr


@pytest.mark.parametrize(
    "args", [["list"], ["submit", "--prompt", "a kite", "--wait"], ["get", str(uuid.uuid4())]]
)
def test_the_api_down_is_one_line_and_exit_3(seedance: Seedance, args: list[str]) -> None:
    api_url = f"http://127.0.0.1:{closed_port()}"

    done = seedance(*args, "--api", api_url)

    assert done.returncode == 3
    assert done.stderr.splitlines() == [
        f"error: cannot reach the API at {api_url}: [Errno 111] Connection refused"
    ]
    assert done.stdout == ""


def test_submit_an_image_wait_and_save_the_mp4(seedance: Seedance, api: httpx.Client, tmp_path: Path) -> None:
    """Needs POST /uploads and GET /jobs/{job_id}/video."""
    image = tmp_path / "cat.png"
    image.write_bytes(png_file(1280, 720))
    out = tmp_path / "videos"

    done = seedance(
        "submit", "--image", str(image), "--prompt", "a cat wakes up and yawns", "--provider", "eachlabs",
        "--resolution", "480p", "--duration", "4", "--wait", "--out", str(out), "--json",
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    job = api.get(f"/jobs/{shown['job_id']}").json()
    saved = out / f"{job['job_id']}.mp4"
    assert job["status"] == "succeeded"
    assert job["request"]["first_frame_url"].startswith("s3://")
    assert shown["saved_to"] == str(saved)
    assert sorted(path.name for path in out.iterdir()) == [saved.name]
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == job["video"]["sha256"]
