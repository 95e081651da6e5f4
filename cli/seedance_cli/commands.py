"""The `seedance` commands: parse flags, make one or two client calls, print the answer.

Command names, flags and exit codes are a public contract, written out in docs/cli.md. What a
command needs from outside (the client, whether stdout is a terminal, the clock) comes from `Deps`,
which tests hand in as the click context's `obj`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.live import Live

from seedance_cli.auth import authorization
from seedance_cli.client import JobFilters, JSONObject, SavedVideo, SeedanceClient, WaitPolicy
from seedance_cli.errors import ApiFailed, ApiUnreachable, CliError, ExitCode, UsageProblem, exit_code_of
from seedance_cli.media import LocalFile
from seedance_cli.render import (
    Output,
    WaitDisplay,
    job_table,
    jobs_table,
    providers_table,
    spend_table,
)
from seedance_cli.request import JobOptions, parse_since

DEFAULT_API_URL = "http://127.0.0.1:3000"


@dataclass(frozen=True)
class Connection:
    api_url: str
    token: str | None
    profile: str | None


def connect(connection: Connection, *, transport: httpx.BaseTransport | None = None) -> SeedanceClient:
    """A client of the API, authorized as the flags and the environment say (``transport``: tests)."""
    auth = authorization(connection.api_url, token=connection.token, profile=connection.profile)
    return SeedanceClient(connection.api_url, auth, transport=transport)


def _stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Deps:
    connect: Callable[[Connection], SeedanceClient] = connect
    is_terminal: Callable[[], bool] = _stdout_is_terminal
    sleep: Callable[[float], None] = field(default=time.sleep)
    now: Callable[[], datetime] = _utc_now


class Session:
    """One command's run: its output, and the client, connected when first needed (so flags and
    local files are checked before credentials are looked for)."""

    def __init__(self, deps: Deps, connection: Connection, output: Output) -> None:
        self.deps = deps
        self.output = output
        self._connection = connection
        self._client: SeedanceClient | None = None

    @property
    def client(self) -> SeedanceClient:
        if self._client is None:
            self._client = self.deps.connect(self._connection)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


@contextmanager
def session(
    ctx: typer.Context, api_url: str, token: str | None, profile: str | None, as_json: bool | None
) -> Iterator[Session]:
    """Runs a command's body: a CliError becomes its lines on stderr and its exit code."""
    deps: Deps = ctx.obj if isinstance(ctx.obj, Deps) else Deps()
    output = Output(as_json=as_json if as_json is not None else not deps.is_terminal())
    running = Session(deps, Connection(api_url, token, profile), output)
    try:
        _check_api_url(api_url)
        yield running
    except CliError as error:
        output.error(error)
        raise typer.Exit(exit_code_of(error)) from None
    except KeyboardInterrupt:
        raise typer.Exit(ExitCode.INTERRUPTED) from None
    finally:
        running.close()


def _check_api_url(api_url: str) -> None:
    try:
        url = httpx.URL(api_url)
    except httpx.InvalidURL:
        url = httpx.URL("")
    if url.scheme not in ("http", "https") or not url.host:
        raise UsageProblem(f"--api {api_url}: not an http:// or https:// URL")


# -- options every command takes ------------------------------------------------------------------
_CONNECTION = "Connection and output"
ApiUrl = Annotated[
    str,
    typer.Option(
        "--api",
        metavar="URL",
        envvar="SEEDANCE_API_URL",
        help="The API's base URL (the stack's ApiUrl output).",
        rich_help_panel=_CONNECTION,
    ),
]
Token = Annotated[
    str | None,
    typer.Option(
        "--token",
        metavar="JWT",
        envvar="SEEDANCE_TOKEN",
        help="A JWT, sent as Authorization: Bearer (deployments with ApiAuthorizer=JWT). "
        "Without one, requests are signed with SigV4 from botocore's credential chain.",
        rich_help_panel=_CONNECTION,
        show_default=False,
    ),
]
Profile = Annotated[
    str | None,
    typer.Option(
        "--profile",
        metavar="NAME",
        help="The AWS profile to sign with (default: AWS_PROFILE, then the usual chain).",
        rich_help_panel=_CONNECTION,
        show_default=False,
    ),
]
AsJson = Annotated[
    bool | None,
    typer.Option(
        "--json/--no-json",
        help="JSON on stdout; the default when stdout is not a terminal.",
        rich_help_panel=_CONNECTION,
        show_default=False,
    ),
]
JobId = Annotated[str, typer.Argument(metavar="ID", help="The job's id.", show_default=False)]
OutDir = Annotated[
    Path,
    typer.Option(
        "--out", metavar="DIR", file_okay=False, help="Where the MP4 goes, as <job_id>.mp4 (made if missing)."
    ),
]

app = typer.Typer(
    name="seedance",
    help="Submit, follow and fetch Seedance video jobs through the pipeline's API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


# -- submit -------------------------------------------------------------------------------------------
@app.command()
def submit(
    ctx: typer.Context,
    prompt: Annotated[
        str, typer.Option("--prompt", "-p", metavar="TEXT", help="What the video shows.", show_default=False)
    ],
    image: Annotated[
        list[str] | None,
        typer.Option(
            "--image", metavar="PATH|URL", help="The first frame (image-to-video).", show_default=False
        ),
    ] = None,
    last_frame: Annotated[
        str | None,
        typer.Option(
            "--last-frame", metavar="PATH|URL", help="The last frame; needs --image.", show_default=False
        ),
    ] = None,
    reference_image: Annotated[
        list[str] | None,
        typer.Option(
            "--reference-image",
            metavar="PATH|URL",
            help="A reference image; repeat for more (up to 9).",
            show_default=False,
        ),
    ] = None,
    reference_video: Annotated[
        list[str] | None,
        typer.Option(
            "--reference-video",
            metavar="PATH|URL",
            help="A reference video; repeat for more (up to 3).",
            show_default=False,
        ),
    ] = None,
    reference_audio: Annotated[
        list[str] | None,
        typer.Option(
            "--reference-audio",
            metavar="PATH|URL",
            help="A reference audio clip; repeat for more (up to 3).",
            show_default=False,
        ),
    ] = None,
    provider: Annotated[
        str,
        typer.Option(
            "--provider", metavar="NAME", help="A provider's name, or auto: the cheapest that serves the job."
        ),
    ] = "auto",
    resolution: Annotated[
        str | None,
        typer.Option(
            "--resolution",
            metavar="RES",
            help="480p, 720p, 1080p or 4k (the API's default: 720p).",
            show_default=False,
        ),
    ] = None,
    duration: Annotated[
        int | None,
        typer.Option(
            "--duration",
            metavar="SECONDS",
            help="Seconds, 4-15 (default: the provider's auto).",
            show_default=False,
        ),
    ] = None,
    aspect_ratio: Annotated[
        str | None,
        typer.Option(
            "--aspect-ratio",
            metavar="RATIO",
            help="auto, 21:9, 16:9, 4:3, 1:1, 3:4 or 9:16.",
            show_default=False,
        ),
    ] = None,
    tier: Annotated[
        str | None,
        typer.Option(
            "--tier",
            metavar="TIER",
            help="standard, fast or mini (default: the provider's first).",
            show_default=False,
        ),
    ] = None,
    client_reference: Annotated[
        str | None,
        typer.Option(
            "--client-reference", metavar="TEXT", help="Your own id for the job.", show_default=False
        ),
    ] = None,
    wait: Annotated[
        bool | None,
        typer.Option(
            "--wait/--no-wait",
            help="Follow the job until it ends, then save its MP4; the default when stdout is a terminal.",
            show_default=False,
        ),
    ] = None,
    out: OutDir = Path("."),
    api_url: ApiUrl = DEFAULT_API_URL,
    token: Token = None,
    profile: Profile = None,
    as_json: AsJson = None,
) -> None:
    """Submit a job.

    Local files are uploaded first. With --wait, follow the job until it ends and save its MP4."""
    with session(ctx, api_url, token, profile, as_json) as run:
        if image and len(image) > 1:
            raise UsageProblem("--image takes one image, the first frame (--reference-image for more)")
        options = JobOptions(
            prompt=prompt,
            provider=provider,
            first_frame=image[0] if image else None,
            last_frame=last_frame,
            reference_images=reference_image or [],
            reference_videos=reference_video or [],
            reference_audios=reference_audio or [],
            resolution=resolution,
            duration=duration,
            aspect_ratio=aspect_ratio,
            tier=tier,
            client_reference=client_reference,
        )
        uploads = _upload(run, options.local_files())
        job = run.client.create_job(options.body(lambda value: uploads.get(value, value)))
        if not (wait if wait is not None else run.deps.is_terminal()):
            _show_job(run.output, job, note=f"follow it with: seedance get {job['job_id']}")
            return
        job = _wait(run, job)
        saved = None
        if job["status"] == "succeeded":
            saved = run.client.download_video(job["job_id"], out, expected_sha256=_sha256_of(job))
        if run.output.as_json:
            run.output.json({**job, "saved_to": str(saved.path) if saved else None})
        else:
            run.output.show(job_table(job))
            if saved:
                run.output.note(f"saved {saved.path}")
        if job["status"] != "succeeded":
            raise typer.Exit(ExitCode.NOT_DONE)


def _upload(run: Session, files: list[LocalFile]) -> dict[str, str]:
    """Each local file's `s3://` URL by the value its flag gave, one upload per file however many flags
    name it."""
    uploaded: dict[Path, str] = {}
    urls: dict[str, str] = {}
    for local in files:
        key = local.path.resolve()
        if key not in uploaded:
            if not run.output.as_json:
                run.output.note(f"uploading {local.path} ({local.content_type})")
            uploaded[key] = run.client.upload_file(local.path, content_type=local.content_type)
        urls[local.value] = uploaded[key]
    return urls


def _wait(run: Session, job: JSONObject) -> JSONObject:
    display = WaitDisplay(job)
    live = (
        Live(display, console=run.output.console, refresh_per_second=8)
        if not run.output.as_json and run.deps.is_terminal()
        else nullcontext()
    )
    try:
        with live:
            return run.client.wait_for_end(
                job["job_id"], on_poll=display.update, policy=WaitPolicy(sleep=run.deps.sleep)
            )
    except KeyboardInterrupt:
        typer.echo(f"stopped waiting; the job goes on: seedance get {job['job_id']}", err=True)
        raise typer.Exit(ExitCode.INTERRUPTED) from None


def _sha256_of(job: JSONObject) -> str | None:
    video = job.get("video") or {}
    sha256 = video.get("sha256")
    return str(sha256) if sha256 else None


def _show_job(output: Output, job: JSONObject, *, note: str | None = None) -> None:
    if output.as_json:
        output.json(job)
        return
    output.show(job_table(job))
    if note:
        output.note(note)


# -- reading and acting on jobs ------------------------------------------------------------------------
@app.command()
def get(
    ctx: typer.Context,
    job_id: JobId,
    api_url: ApiUrl = DEFAULT_API_URL,
    token: Token = None,
    profile: Profile = None,
    as_json: AsJson = None,
) -> None:
    """Show one job."""
    with session(ctx, api_url, token, profile, as_json) as run:
        _show_job(run.output, run.client.get_job(job_id))


@app.command("list")
def list_jobs(
    ctx: typer.Context,
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            metavar="STATUS",
            help="queued, submitted, processing, transferring, succeeded, failed, expired or canceled.",
            show_default=False,
        ),
    ] = None,
    provider: Annotated[
        str | None,
        typer.Option("--provider", metavar="NAME", help="One provider's jobs.", show_default=False),
    ] = None,
    client_reference: Annotated[
        str | None,
        typer.Option(
            "--client-reference", metavar="TEXT", help="Jobs with this client reference.", show_default=False
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="SPAN|TIME",
            help="Created after: a span back from now (30m, 1h, 2d, 1w) or an ISO 8601 time.",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[
        int,
        typer.Option(
            "--limit", metavar="N", min=1, help="How many jobs to show, newest first (pages are followed)."
        ),
    ] = 25,
    api_url: ApiUrl = DEFAULT_API_URL,
    token: Token = None,
    profile: Profile = None,
    as_json: AsJson = None,
) -> None:
    """List jobs, newest first."""
    with session(ctx, api_url, token, profile, as_json) as run:
        created_after = parse_since(since, run.deps.now()) if since is not None else None
        filters = JobFilters(
            status=status, provider=provider, client_reference=client_reference, created_after=created_after
        )
        page = run.client.list_jobs(filters, limit=limit)
        if run.output.as_json:
            run.output.json({"jobs": page.jobs, "next_cursor": page.next_cursor})
            return
        run.output.show(jobs_table(page.jobs, now=run.deps.now(), width=run.output.console.width))
        if page.next_cursor is not None:
            run.output.note(f"{len(page.jobs)} shown; there are more (raise --limit)")


@app.command()
def cancel(
    ctx: typer.Context,
    job_id: JobId,
    api_url: ApiUrl = DEFAULT_API_URL,
    token: Token = None,
    profile: Profile = None,
    as_json: AsJson = None,
) -> None:
    """Cancel a job.

    Only a job not yet transferring can be canceled."""
    with session(ctx, api_url, token, profile, as_json) as run:
        job = run.client.cancel_job(job_id)
        provider_cancel = (job.get("cancel") or {}).get("provider_cancel")
        _show_job(
            run.output,
            job,
            note=f"canceled; the provider's own cancel: {provider_cancel or 'nothing to ask'}",
        )


@app.command()
def download(
    ctx: typer.Context,
    job_id: JobId,
    out: OutDir = Path("."),
    api_url: ApiUrl = DEFAULT_API_URL,
    token: Token = None,
    profile: Profile = None,
    as_json: AsJson = None,
) -> None:
    """Save a job's MP4.

    As <job_id>.mp4 in --out, checked against the job's sha256."""
    with session(ctx, api_url, token, profile, as_json) as run:
        job = run.client.get_job(job_id)
        saved = run.client.download_video(job["job_id"], out, expected_sha256=_sha256_of(job))
        _show_saved(run.output, job["job_id"], saved)


def _show_saved(output: Output, job_id: str, saved: SavedVideo) -> None:
    if output.as_json:
        output.json(
            {
                "job_id": job_id,
                "path": str(saved.path),
                "size_bytes": saved.size_bytes,
                "sha256": saved.sha256,
            }
        )
    else:
        output.note(f"saved {saved.path} ({saved.size_bytes} bytes, sha256 {saved.sha256})")


@app.command()
def watch(
    ctx: typer.Context,
    status: Annotated[
        str | None,
        typer.Option("--status", metavar="STATUS", help="Only jobs in this status.", show_default=False),
    ] = None,
    provider: Annotated[
        str | None,
        typer.Option("--provider", metavar="NAME", help="Only this provider's jobs.", show_default=False),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", metavar="N", min=1, max=100, help="How many of the newest jobs to show.")
    ] = 20,
    interval: Annotated[
        float, typer.Option("--interval", metavar="SECONDS", min=0.5, help="Seconds between refreshes.")
    ] = 2.0,
    api_url: ApiUrl = DEFAULT_API_URL,
    token: Token = None,
    profile: Profile = None,
    as_json: AsJson = None,
) -> None:
    """Follow the newest jobs.

    A live table, refreshed until Ctrl-C. With --json: one line per job each time it appears or
    changes status."""
    with session(ctx, api_url, token, profile, as_json) as run:
        filters = JobFilters(status=status, provider=provider)
        first = run.client.list_jobs(filters, limit=limit).jobs  # an API that is down ends it here
        try:
            if run.output.as_json:
                _watch_lines(run, filters, limit, interval, first)
            else:
                _watch_table(run, filters, limit, interval, first)
        except KeyboardInterrupt:
            return


def _refreshed(run: Session, filters: JobFilters, limit: int) -> tuple[list[JSONObject] | None, str | None]:
    """The newest jobs, or None and why: a refresh that fails is shown and tried again."""
    try:
        return run.client.list_jobs(filters, limit=limit).jobs, None
    except (ApiUnreachable, ApiFailed) as error:
        return None, error.message


def _watch_table(
    run: Session, filters: JobFilters, limit: int, interval: float, jobs: list[JSONObject]
) -> None:
    def table(problem: str | None = None) -> Any:
        stamp = run.deps.now().astimezone().strftime("%H:%M:%S")
        title = f"newest {limit} jobs at {stamp}, every {interval:g} s; Ctrl-C to stop"
        return jobs_table(
            jobs, now=run.deps.now(), title=title + (f"  (refresh failed: {problem})" if problem else "")
        )

    with Live(table(), console=run.output.console, auto_refresh=False) as live:
        while True:
            run.deps.sleep(interval)
            fresh, problem = _refreshed(run, filters, limit)
            jobs = fresh if fresh is not None else jobs
            live.update(table(problem), refresh=True)


def _watch_lines(
    run: Session, filters: JobFilters, limit: int, interval: float, jobs: list[JSONObject]
) -> None:
    seen: dict[str, str] = {}
    while True:
        for job in reversed(jobs):  # oldest first, as they happened
            if seen.get(job["job_id"]) != job["status"]:
                seen[job["job_id"]] = job["status"]
                run.output.json_line(job)
        run.deps.sleep(interval)
        fresh, _ = _refreshed(run, filters, limit)
        jobs = fresh if fresh is not None else jobs


# -- the deployment ---------------------------------------------------------------------------------
@app.command()
def providers(
    ctx: typer.Context,
    api_url: ApiUrl = DEFAULT_API_URL,
    token: Token = None,
    profile: Profile = None,
    as_json: AsJson = None,
) -> None:
    """Show the providers.

    Each one: enabled, its breaker, slots in use, keys, the price of a 5 s 720p job."""
    with session(ctx, api_url, token, profile, as_json) as run:
        answer = run.client.providers()
        if run.output.as_json:
            run.output.json(answer)
        else:
            run.output.show(providers_table(answer))


@app.command()
def spend(
    ctx: typer.Context,
    end_user_id: Annotated[
        str | None,
        typer.Option(
            "--end-user-id", metavar="ID", help="Add this end user's spend today.", show_default=False
        ),
    ] = None,
    api_url: ApiUrl = DEFAULT_API_URL,
    token: Token = None,
    profile: Profile = None,
    as_json: AsJson = None,
) -> None:
    """Show the spend.

    Today's and this month's, against the ceilings, in USD."""
    with session(ctx, api_url, token, profile, as_json) as run:
        answer = run.client.spend(end_user_id=end_user_id)
        if run.output.as_json:
            run.output.json(answer)
        else:
            run.output.show(spend_table(answer))


def main() -> None:
    app(prog_name="seedance")
