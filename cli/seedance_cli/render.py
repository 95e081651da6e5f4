"""What the commands print: JSON for scripts, rich tables for a person, and errors one line each.

Every value from the API reaches rich as `Text`, never as markup: a prompt holding `[bold]` prints as
it is.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import typer
from rich import box
from rich.console import Console, Group, RenderableType
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from seedance_cli.client import TERMINAL, JSONObject
from seedance_cli.errors import CliError

STATUS_STYLE = {
    "succeeded": "green",
    "failed": "red",
    "expired": "red",
    "canceled": "yellow",
    "transferring": "cyan",
    "processing": "cyan",
    "submitted": "blue",
    "queued": "blue",
}


class Output:
    """Where a command's answer goes: stdout, as JSON or for a person; errors to stderr."""

    def __init__(self, *, as_json: bool, console: Console | None = None) -> None:
        self.as_json = as_json
        self.console = console or Console(highlight=False)

    def json(self, value: Any) -> None:
        typer.echo(json.dumps(value, indent=2, ensure_ascii=False))

    def json_line(self, value: Any) -> None:
        typer.echo(json.dumps(value, ensure_ascii=False, separators=(",", ":")))

    def show(self, renderable: RenderableType) -> None:
        self.console.print(renderable)

    def note(self, text: str) -> None:
        self.console.print(Text(text))

    @staticmethod
    def error(error: CliError) -> None:
        for line in error.lines():
            typer.echo(line, err=True)


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status, ""))


def _text(value: Any) -> Text:
    return Text("" if value is None else str(value))


def _size(size_bytes: int | None) -> str:
    if size_bytes is None:
        return ""
    size = float(size_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""  # pragma: no cover


def age(created_at: str | None, now: datetime) -> str:
    """'42s', '3m', '5h', '2d': how long ago, as a table can fit it."""
    if not created_at:
        return ""
    try:
        seconds = (now - datetime.fromisoformat(created_at)).total_seconds()
    except ValueError:
        return created_at
    for unit, length in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= length:
            return f"{int(seconds // length)}{unit}"
    return f"{max(0, int(seconds))}s"


def _clip(text: str | None, width: int) -> str:
    if not text:
        return ""
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= width else one_line[: width - 1] + "…"


#: jobs_table's columns that give way, first to last, when the terminal is too narrow for them all.
_GIVE_WAY = ("reference", "prompt or error", "age", "provider")
_NARROWEST_PROMPT = 12


def jobs_table(
    jobs: Iterable[JSONObject], *, now: datetime | None = None, title: str | None = None, width: int = 120
) -> Table:
    """The jobs, one line each, fitted to ``width``: the job id and status always whole; the provider,
    the age, the client reference (when any job has one) and the prompt (or the error, cut to what is
    left) while they fit."""
    now = now or datetime.now(UTC)
    jobs = list(jobs)
    columns: dict[str, list[str]] = {
        "job": [str(job.get("job_id", "")) for job in jobs],
        "status": [str(job.get("status", "")) for job in jobs],
        "provider": [str(job.get("provider") or "") for job in jobs],
        "age": [age(job.get("created_at"), now) for job in jobs],
        "reference": [_clip(job.get("client_reference"), 16) for job in jobs],
        "prompt or error": [" ".join(str(_detail(job) or "").split()) for job in jobs],
    }
    if not any(columns["reference"]):
        del columns["reference"]

    def needed(names: Iterable[str]) -> int:
        widths = [
            _NARROWEST_PROMPT if name == "prompt or error" else max([len(name), *map(len, columns[name])])
            for name in names
        ]
        return sum(widths) + 3 * len(widths) + 2  # padding, dividers and edges

    for name in _GIVE_WAY:
        if needed(columns) <= width:
            break
        columns.pop(name, None)
    if "prompt or error" in columns:
        room = _NARROWEST_PROMPT + width - needed(columns)
        columns["prompt or error"] = [_clip(text, room) for text in columns["prompt or error"]]
    table = Table(title=title, title_justify="left", header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    for name in columns:
        table.add_column(name, no_wrap=True, justify="right" if name == "age" else "left")
    for row in range(len(jobs)):
        table.add_row(
            *(
                status_text(values[row]) if name == "status" else Text(values[row])
                for name, values in columns.items()
            )
        )
    return table


def _detail(job: JSONObject) -> Any:
    error = job.get("error")
    return error.get("message") if error else (job.get("request") or {}).get("prompt")


def job_table(job: JSONObject) -> Table:
    """One job view, field by field: the parts a person reads."""
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value")
    request = job.get("request") or {}
    rows: list[tuple[str, Text]] = [
        ("job", _text(job.get("job_id"))),
        ("status", status_text(str(job.get("status", "")))),
        ("provider", _text(job.get("provider"))),
        ("prompt", _text(_clip(request.get("prompt"), 200))),
    ]
    if job.get("client_reference"):
        rows.append(("reference", _text(job["client_reference"])))
    video = job.get("video")
    if video:
        metadata = video.get("metadata") or {}
        shape = ""
        if metadata:
            shape = (
                f", {metadata.get('width')}x{metadata.get('height')}, {metadata.get('duration_seconds')} s"
            )
        rows.append(("video", _text(f"s3://{video.get('bucket')}/{video.get('key')}")))
        rows.append(("", _text(f"{_size(video.get('size_bytes'))}{shape}, sha256 {video.get('sha256')}")))
    error = job.get("error")
    if error:
        rows.append(("error", Text(f"{error.get('message')} ({error.get('code')})", style="red")))
    if job.get("cost_estimate_usd") is not None:
        rows.append(("cost", _text(f"{job['cost_estimate_usd']:.2f} USD (estimate)")))
    for warning in job.get("warnings") or []:
        rows.append(("warning", Text(str(warning), style="yellow")))
    rows += [("created", _text(job.get("created_at"))), ("updated", _text(job.get("updated_at")))]
    for name, value in rows:
        table.add_row(name, value)
    return table


def providers_table(answer: JSONObject) -> Table:
    table = Table(header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("provider", "enabled", "breaker", "slots", "keys", "5 s 720p"):
        table.add_column(column, no_wrap=True)
    for entry in answer.get("providers", []):
        breaker = entry.get("breaker") or {}
        limits = entry.get("limits") or {}
        price = entry.get("price_5s_720p_usd")
        state = str(breaker.get("state", ""))
        table.add_row(
            _text(entry.get("provider")),
            Text("yes", style="green") if entry.get("enabled") else Text("no", style="dim"),
            Text(state, style="red" if state == "open" else ""),
            _text(entry.get("slots_in_use")),
            _text(limits.get("keys")),
            _text(f"{price:.3f} USD" if price is not None else "unpriced"),
        )
    return table


def spend_table(answer: JSONObject) -> Table:
    table = Table(header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("period", "limit", "spent", "reserved"):
        table.add_column(column, no_wrap=True, justify="left" if column == "period" else "right")
    periods = [
        ("day", answer.get("day"), "date"),
        ("month", answer.get("month"), "month"),
        ("end user", answer.get("end_user"), "end_user_id"),
    ]
    for label, figures, name in periods:
        if not figures:
            continue
        limit = figures.get("limit")
        table.add_row(
            _text(f"{label} {figures.get(name, '')}"),
            _text(f"{limit:.2f}" if limit is not None else "none"),
            _text(f"{figures.get('spent', 0):.2f}"),
            _text(f"{figures.get('reserved', 0):.2f}"),
        )
    return table


class WaitDisplay:
    """The live line while `submit --wait` waits: the job's status and the time since it was sent,
    redrawn by rich's refresh thread so the clock moves between polls."""

    def __init__(self, job: JSONObject, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.job = job
        self._clock = clock
        self._started = clock()
        self._spinner = Spinner("dots")

    def update(self, job: JSONObject) -> None:
        self.job = job

    @property
    def elapsed(self) -> float:
        return self._clock() - self._started

    def __rich__(self) -> RenderableType:
        status = str(self.job.get("status", ""))
        minutes, seconds = divmod(int(self.elapsed), 60)
        line = Text.assemble(
            ("job ", "dim"),
            str(self.job.get("job_id", "")),
            " ",
            status_text(status),
            (f" at {self.job['provider']}" if self.job.get("provider") else "", "dim"),
            f"  {minutes:02d}:{seconds:02d}",
        )
        if status in TERMINAL:
            return line
        self._spinner.update(text=line)
        return Group(self._spinner)
