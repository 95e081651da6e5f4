"""The `seedance` commands through typer's CliRunner, against the in-memory API: flags to requests,
uploads before the job, waiting and saving, exit codes, JSON or tables, errors one line each."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from seedance_cli.commands import Deps, app, connect
from tests.media_files import png_file
from tests.unit.cli_fake_api import API, VIDEO_BYTES, FakeApi, job_view, succeeded

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
JOB_ID = "3f0c8f55-0000-4000-8000-00000000000a"


@pytest.fixture
def fake() -> FakeApi:
    return FakeApi()


@pytest.fixture(autouse=True)
def no_aws_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Credentials from the environment only, so no test reads a real profile or asks the network."""
    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "SEEDANCE_API_URL",
        "SEEDANCE_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("COLUMNS", "160")


class Cli:
    """`seedance …` against the fake API; ``terminal`` is whether stdout counts as a terminal."""

    def __init__(self, fake: FakeApi) -> None:
        self.fake = fake
        self.terminal = False
        self.sleeps: list[float] = []
        self.sleep: Callable[[float], None] = self.sleeps.append

    def __call__(self, *args: str) -> Result:
        deps = Deps(
            connect=partial(connect, transport=self.fake.transport),
            is_terminal=lambda: self.terminal,
            sleep=self.sleep,
            now=lambda: NOW,
        )
        return CliRunner().invoke(app, list(args), obj=deps, env={"SEEDANCE_API_URL": API})


@pytest.fixture
def seedance(fake: FakeApi) -> Cli:
    return Cli(fake)


def api_calls(fake: FakeApi) -> list[tuple[str, str]]:
    return [(seen.method, seen.path) for seen in fake.seen]


# -- submit -----------------------------------------------------------------------------------------------
def test_submit_maps_each_flag_to_its_field(seedance: Cli, fake: FakeApi) -> None:
    result = seedance(
        "submit",
        "--prompt", "a kite over dunes",
        "--image", "https://example.com/first.png",
        "--last-frame", "https://example.com/last.png",
        "--reference-video", "https://example.com/a.mp4",
        "--reference-video", "s3://inputs/b.mp4",
        "--provider", "byteplus",
        "--resolution", "480p",
        "--duration", "5",
        "--aspect-ratio", "9:16",
        "--tier", "fast",
        "--client-reference", "board-7",
        "--no-wait",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert fake.created == [
        {
            "provider": "byteplus",
            "prompt": "a kite over dunes",
            "first_frame_url": "https://example.com/first.png",
            "last_frame_url": "https://example.com/last.png",
            "reference_video_urls": ["https://example.com/a.mp4", "s3://inputs/b.mp4"],
            "resolution": "480p",
            "duration": 5,
            "aspect_ratio": "9:16",
            "tier": "fast",
            "client_reference": "board-7",
        }
    ]
    assert json.loads(result.stdout)["status"] == "queued"  # stdout is not a terminal: JSON, no waiting
    assert api_calls(fake) == [("POST", "/jobs")]


def test_a_bare_submit_asks_for_auto_and_nothing_else(seedance: Cli, fake: FakeApi) -> None:
    result = seedance("submit", "-p", "a kite")

    assert result.exit_code == 0, result.output
    assert fake.created == [{"provider": "auto", "prompt": "a kite"}]


def test_local_files_are_uploaded_first_and_the_job_names_their_s3_urls(
    seedance: Cli, fake: FakeApi, tmp_path: Path
) -> None:
    (tmp_path / "cat.png").write_bytes(png_file())
    (tmp_path / "style.png").write_bytes(png_file(32, 32))

    result = seedance(
        "submit", "--prompt", "a cat yawns", "--no-wait",
        "--image", str(tmp_path / "cat.png"),
        "--last-frame", "https://example.com/last.png",
        "--reference-image", str(tmp_path / "style.png"),
        "--reference-image", str(tmp_path / "cat.png"),
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert api_calls(fake) == [
        ("POST", "/uploads"),
        ("PUT", "/inputs/uploads/1"),
        ("POST", "/uploads"),
        ("PUT", "/inputs/uploads/2"),
        ("POST", "/jobs"),
    ]
    assert fake.uploaded == {"/inputs/uploads/1": png_file(), "/inputs/uploads/2": png_file(32, 32)}
    assert [seen.json() for seen in fake.seen if seen.path == "/uploads"] == [
        {"content_type": "image/png", "size_bytes": len(png_file())},
        {"content_type": "image/png", "size_bytes": len(png_file(32, 32))},
    ]
    (request,) = fake.created
    assert request["first_frame_url"] == "s3://inputs/uploads/1"
    assert request["last_frame_url"] == "https://example.com/last.png"
    assert request["reference_image_urls"] == ["s3://inputs/uploads/2", "s3://inputs/uploads/1"]


def test_a_missing_file_is_a_usage_error_before_any_request(
    seedance: Cli, fake: FakeApi, tmp_path: Path
) -> None:
    (tmp_path / "cat.png").write_bytes(png_file())

    result = seedance(
        "submit", "-p", "x", "--image", str(tmp_path / "cat.png"), "--reference-image", "nowhere.png"
    )

    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error: --reference-image nowhere.png: no such file (a URL needs https:// or s3://)"
    ]
    assert fake.seen == []


def test_two_first_frames_are_a_usage_error(seedance: Cli, fake: FakeApi) -> None:
    result = seedance(
        "submit", "-p", "x", "--image", "https://a.test/1.png", "--image", "https://a.test/2.png"
    )

    assert result.exit_code == 2
    assert "--image takes one image" in result.stderr
    assert fake.seen == []


@pytest.mark.parametrize(
    "args",
    [
        ["submit"],  # no --prompt
        ["submit", "-p", "x", "--duration", "five"],
        ["submit", "-p", "x", "--colour", "red"],
        ["list", "--limit", "0"],
        ["get"],
        ["nonsense"],
    ],
)
def test_bad_flags_exit_2_without_a_request(seedance: Cli, fake: FakeApi, args: list[str]) -> None:
    result = seedance(*args)

    assert result.exit_code == 2, result.output
    assert fake.seen == []


def test_submit_wait_follows_the_job_and_saves_its_mp4(seedance: Cli, fake: FakeApi, tmp_path: Path) -> None:
    original = fake._create_job

    def create(seen: Any, parts: list[str]) -> Any:
        response = original(seen, parts)
        job_id = response.json()["job_id"]
        fake.timelines[job_id] += [job_view(job_id, "processing"), succeeded(job_id)]
        fake.videos[job_id] = VIDEO_BYTES
        return response

    fake._create_job = create  # type: ignore[method-assign]

    result = seedance("submit", "-p", "a kite", "--wait", "--out", str(tmp_path / "videos"))

    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    job_id = shown["job_id"]
    saved = tmp_path / "videos" / f"{job_id}.mp4"
    assert shown["status"] == "succeeded"
    assert shown["saved_to"] == str(saved)
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == shown["video"]["sha256"]
    assert api_calls(fake) == [
        ("POST", "/jobs"),
        ("GET", f"/jobs/{job_id}"),
        ("GET", f"/jobs/{job_id}"),
        ("GET", f"/jobs/{job_id}"),
        ("GET", f"/jobs/{job_id}/video"),
        ("GET", f"/videos/{job_id}.mp4"),
    ]
    to_s3 = fake.seen[-1]
    assert "authorization" not in to_s3.headers
    assert "x-amz-date" not in to_s3.headers
    assert len(seedance.sleeps) == 2


@pytest.mark.parametrize("ending", ["failed", "expired", "canceled"])
def test_a_job_that_does_not_succeed_exits_1_and_saves_nothing(
    seedance: Cli, fake: FakeApi, tmp_path: Path, ending: str
) -> None:
    original = fake._create_job

    def create(seen: Any, parts: list[str]) -> Any:
        response = original(seen, parts)
        job_id = response.json()["job_id"]
        error = {"code": "provider_failed", "message": "the provider failed the job"}
        fake.timelines[job_id] += [job_view(job_id, ending, error=error)]
        return response

    fake._create_job = create  # type: ignore[method-assign]

    result = seedance("submit", "-p", "a kite", "--wait", "--out", str(tmp_path))

    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["status"] == ending
    assert json.loads(result.stdout)["saved_to"] is None
    assert list(tmp_path.iterdir()) == []
    assert not any(path.endswith("/video") for _, path in api_calls(fake))


def test_wait_is_the_default_on_a_terminal(seedance: Cli, fake: FakeApi, tmp_path: Path) -> None:
    original = fake._create_job

    def create(seen: Any, parts: list[str]) -> Any:
        response = original(seen, parts)
        job_id = response.json()["job_id"]
        fake.timelines[job_id] += [succeeded(job_id)]
        fake.videos[job_id] = VIDEO_BYTES
        return response

    fake._create_job = create  # type: ignore[method-assign]
    seedance.terminal = True

    result = seedance("submit", "-p", "a kite", "--out", str(tmp_path))

    assert result.exit_code == 0, result.output
    (saved,) = tmp_path.iterdir()
    assert f"saved {saved}" in result.stdout
    assert "succeeded" in result.stdout


def test_a_422_prints_each_field_and_message_one_line_each_and_exits_2(seedance: Cli, fake: FakeApi) -> None:
    fake.overrides[("POST", "/jobs")] = (
        422,
        {
            "detail": [
                {
                    "loc": ["body", "resolution"],
                    "msg": "eachlabs (fast) supports 480p, 720p",
                    "type": "unsupported",
                },
                {
                    "loc": ["body", "duration"],
                    "msg": "Input should be less than or equal to 15",
                    "type": "le",
                },
            ]
        },
    )

    result = seedance("submit", "-p", "x", "--provider", "eachlabs", "--resolution", "4k", "--duration", "20")

    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "resolution: eachlabs (fast) supports 480p, 720p",
        "duration: Input should be less than or equal to 15",
    ]
    assert "Traceback" not in result.output
    assert result.stdout == ""


@pytest.mark.parametrize(
    "args",
    [
        ["submit", "-p", "x"],
        ["get", JOB_ID],
        ["list"],
        ["cancel", JOB_ID],
        ["download", JOB_ID],
        ["watch"],
        ["providers"],
        ["spend"],
    ],
)
def test_every_command_exits_3_in_one_line_when_the_api_is_down(
    seedance: Cli, fake: FakeApi, args: list[str]
) -> None:
    fake.down = True

    result = seedance(*args)

    assert result.exit_code == 3, result.output
    assert result.stderr.splitlines() == [
        f"error: cannot reach the API at {API}: [Errno 111] Connection refused"
    ]
    assert result.stdout == ""


def test_a_refusal_exits_3(seedance: Cli, fake: FakeApi) -> None:
    fake.overrides[("GET", "/providers")] = (403, {"message": "Forbidden"})

    result = seedance("providers")

    assert result.exit_code == 3
    assert result.stderr.splitlines() == ["error: the API refused GET /providers: Forbidden (403)"]


def test_an_api_url_that_is_not_http_is_a_usage_error(seedance: Cli, fake: FakeApi) -> None:
    result = seedance("list", "--api", "127.0.0.1:3000")

    assert result.exit_code == 2
    assert result.stderr.splitlines() == ["error: --api 127.0.0.1:3000: not an http:// or https:// URL"]


def test_a_token_is_sent_as_a_bearer(seedance: Cli, fake: FakeApi) -> None:
    result = seedance("spend", "--token", "eyJ.jwt")

    assert result.exit_code == 0, result.output
    assert fake.seen[0].headers["authorization"] == "Bearer eyJ.jwt"


# -- get, list, cancel, download ----------------------------------------------------------------------------
def test_get_prints_the_job_view_as_json_when_stdout_is_not_a_terminal(seedance: Cli, fake: FakeApi) -> None:
    fake.timelines[JOB_ID] = [succeeded(JOB_ID)]

    result = seedance("get", JOB_ID)

    assert result.exit_code == 0
    assert json.loads(result.stdout) == succeeded(JOB_ID)


def test_get_shows_a_person_the_job(seedance: Cli, fake: FakeApi) -> None:
    fake.timelines[JOB_ID] = [succeeded(JOB_ID) | {"client_reference": "order-[b]7[/b]"}]
    seedance.terminal = True

    result = seedance("get", JOB_ID)

    assert result.exit_code == 0
    assert re.search(rf"job\s+{JOB_ID}", result.stdout)
    assert re.search(r"status\s+succeeded", result.stdout)
    assert f"s3://videos/videos/{JOB_ID}.mp4" in result.stdout
    assert "1280x720" in result.stdout
    assert "order-[b]7[/b]" in result.stdout  # the API's text is never rich markup


def test_json_and_no_json_override_the_terminal(seedance: Cli, fake: FakeApi) -> None:
    fake.timelines[JOB_ID] = [succeeded(JOB_ID)]
    seedance.terminal = True
    assert json.loads(seedance("get", JOB_ID, "--json").stdout)["job_id"] == JOB_ID

    seedance.terminal = False
    with pytest.raises(json.JSONDecodeError):
        json.loads(seedance("get", JOB_ID, "--no-json").stdout)


def test_an_unknown_job_exits_1_with_the_apis_message(seedance: Cli) -> None:
    result = seedance("get", JOB_ID)

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: GET /jobs/{JOB_ID}: job {JOB_ID} not found (404 job_not_found)"
    ]


def test_list_sends_the_filters_and_follows_the_cursor_to_the_limit(seedance: Cli, fake: FakeApi) -> None:
    fake.listed = [job_view(status="failed", provider="fal") for _ in range(130)]

    result = seedance(
        "list", "--status", "failed", "--provider", "fal", "--client-reference", "order-7",
        "--since", "1h", "--limit", "120",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert [job["job_id"] for job in shown["jobs"]] == [job["job_id"] for job in fake.listed[:120]]
    assert shown["next_cursor"] == "120"
    first, second = (seen.query for seen in fake.seen)
    assert first == {
        "status": "failed",
        "provider": "fal",
        "client_reference": "order-7",
        "created_after": "2026-12-07T09:00:00Z",
        "limit": "100",
    }
    assert second == first | {"limit": "20", "cursor": "100"}


def test_list_shows_a_person_a_table(seedance: Cli, fake: FakeApi) -> None:
    fake.listed = [
        job_view(
            JOB_ID,
            "failed",
            error={"code": "provider_failed", "message": "content policy"},
            created_at="2026-12-07T09:00:00Z",
        ),
        job_view(status="succeeded", client_reference="order-7"),
    ]
    seedance.terminal = True

    result = seedance("list")

    assert result.exit_code == 0
    header, *rows = [
        line.split() for line in result.stdout.splitlines() if line.strip() and "───" not in line
    ]
    assert header[:5] == ["job", "status", "provider", "age", "reference"]
    assert rows[0][:4] == [JOB_ID, "failed", "eachlabs", "1h"]
    assert "content policy" in " ".join(rows[0])
    assert rows[1][1] == "succeeded"
    assert "order-7" in rows[1]


def test_a_since_that_is_not_a_time_exits_2(seedance: Cli, fake: FakeApi) -> None:
    result = seedance("list", "--since", "yesterday")

    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1
    assert fake.seen == []


def test_a_bad_filter_is_the_apis_422_naming_the_query_parameter(seedance: Cli, fake: FakeApi) -> None:
    fake.overrides[("GET", "/jobs")] = (
        422,
        {"detail": [{"loc": ["query", "status"], "msg": "Input should be 'queued', …", "type": "enum"}]},
    )

    result = seedance("list", "--status", "done")

    assert result.exit_code == 2
    assert result.stderr.splitlines() == ["status: Input should be 'queued', …"]


def test_cancel_posts_and_shows_the_canceled_job(seedance: Cli, fake: FakeApi) -> None:
    result = seedance("cancel", JOB_ID)

    assert result.exit_code == 0, result.output
    assert api_calls(fake) == [("POST", f"/jobs/{JOB_ID}/cancel")]
    assert json.loads(result.stdout)["status"] == "canceled"


def test_a_cancel_too_late_exits_1_with_the_apis_message(seedance: Cli, fake: FakeApi) -> None:
    fake.overrides[("POST", f"/jobs/{JOB_ID}/cancel")] = (
        409,
        {"error": {"code": "job_not_cancelable", "message": "the job is succeeded"}},
    )

    result = seedance("cancel", JOB_ID)

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: POST /jobs/{JOB_ID}/cancel: the job is succeeded (409 job_not_cancelable)"
    ]


def test_download_saves_the_mp4_checked_against_the_job(seedance: Cli, fake: FakeApi, tmp_path: Path) -> None:
    fake.timelines[JOB_ID] = [succeeded(JOB_ID)]
    fake.videos[JOB_ID] = VIDEO_BYTES

    result = seedance("download", JOB_ID, "--out", str(tmp_path))

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "job_id": JOB_ID,
        "path": str(tmp_path / f"{JOB_ID}.mp4"),
        "size_bytes": len(VIDEO_BYTES),
        "sha256": hashlib.sha256(VIDEO_BYTES).hexdigest(),
    }
    assert (tmp_path / f"{JOB_ID}.mp4").read_bytes() == VIDEO_BYTES


def test_download_of_a_job_without_a_video_exits_1(seedance: Cli, fake: FakeApi, tmp_path: Path) -> None:
    fake.timelines[JOB_ID] = [job_view(JOB_ID, "processing")]

    result = seedance("download", JOB_ID, "--out", str(tmp_path))

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: GET /jobs/{JOB_ID}/video: job {JOB_ID} has no video yet (409 video_not_ready)"
    ]
    assert list(tmp_path.iterdir()) == []


# -- watch, providers, spend ---------------------------------------------------------------------------------
def stop_after(refreshes: int, fake: FakeApi, changes: Callable[[int], None]) -> Callable[[float], None]:
    """A sleep for `watch` that changes the jobs between refreshes, then presses Ctrl-C."""
    count = 0

    def sleep(_: float) -> None:
        nonlocal count
        count += 1
        if count > refreshes:
            raise KeyboardInterrupt
        changes(count)

    return sleep


def test_watch_json_prints_a_line_each_time_a_job_appears_or_moves(seedance: Cli, fake: FakeApi) -> None:
    older, newer = job_view(status="processing"), job_view(status="queued")
    fake.listed = [newer, older]

    def changes(step: int) -> None:
        if step == 1:
            fake.listed = [newer | {"status": "submitted"}, older]
        if step == 2:
            fake.listed = [
                job_view(status="queued"),
                newer | {"status": "submitted"},
                older | {"status": "succeeded"},
            ]

    seedance.sleep = stop_after(2, fake, changes)

    result = seedance("watch", "--interval", "1")

    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(line["job_id"], line["status"]) for line in lines] == [
        (older["job_id"], "processing"),
        (newer["job_id"], "queued"),
        (newer["job_id"], "submitted"),
        (older["job_id"], "succeeded"),
        (fake.listed[0]["job_id"], "queued"),
    ]


def test_watch_shows_a_live_table_until_ctrl_c(seedance: Cli, fake: FakeApi) -> None:
    fake.listed = [job_view(JOB_ID, "processing")]
    seedance.terminal = True

    def changes(step: int) -> None:
        fake.listed = [job_view(JOB_ID, "succeeded")]

    seedance.sleep = stop_after(1, fake, changes)

    result = seedance("watch", "--limit", "5")

    assert result.exit_code == 0, result.output
    assert JOB_ID in result.stdout
    assert "succeeded" in result.stdout
    assert [seen.query["limit"] for seen in fake.seen] == ["5", "5"]


def test_watch_keeps_going_through_a_failed_refresh(seedance: Cli, fake: FakeApi) -> None:
    fake.listed = [job_view(JOB_ID, "processing")]

    def changes(step: int) -> None:
        fake.down = step == 1
        fake.listed = [job_view(JOB_ID, "succeeded")]

    seedance.sleep = stop_after(2, fake, changes)

    result = seedance("watch", "--json")

    assert result.exit_code == 0, result.output
    assert [json.loads(line)["status"] for line in result.stdout.splitlines()] == ["processing", "succeeded"]


def test_providers_and_spend_as_json_and_as_tables(seedance: Cli) -> None:
    providers = json.loads(seedance("providers").stdout)
    spend = json.loads(seedance("spend", "--end-user-id", "user-42").stdout)
    assert providers["providers"][0]["provider"] == "byteplus"
    assert spend["day"]["spent"] == 6.05

    seedance.terminal = True
    table = seedance("providers").stdout
    assert re.search(r"byteplus\s+yes\s+open\s+2\s+2\s+0\.756 USD", table)
    table = seedance("spend").stdout
    assert re.search(r"day 2026-12-07\s+10\.00\s+6\.05\s+1\.21", table)
    assert re.search(r"month 2026-12\s+none\s+48\.40\s+1\.21", table)


def test_spend_sends_the_end_user(seedance: Cli, fake: FakeApi) -> None:
    seedance("spend", "--end-user-id", "user-42")

    assert fake.seen[0].query == {"end_user_id": "user-42"}


def test_ctrl_c_while_waiting_exits_130_and_says_the_job_goes_on(seedance: Cli, fake: FakeApi) -> None:
    def interrupt(_: float) -> None:
        raise KeyboardInterrupt

    seedance.sleep = interrupt

    result = seedance("submit", "-p", "a kite", "--wait")

    assert result.exit_code == 130
    (job_id,) = fake.timelines
    assert result.stderr.splitlines() == [f"stopped waiting; the job goes on: seedance get {job_id}"]
