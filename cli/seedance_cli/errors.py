"""What can go wrong, as typed errors, and the exit code each one means: in this one place.

Exit codes are a public contract (docs/cli.md): 0 the command did what it was asked (a waited-for job
succeeded), 1 it did not (a job failed, expired or was canceled; the API answered an error), 2 a
usage error (bad flags, or the API's 422), 3 the API could not be reached or refused us (no
connection, 401, 403, no credentials).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    NOT_DONE = 1
    USAGE = 2
    UNREACHABLE = 3
    INTERRUPTED = 130


@dataclass(frozen=True)
class FieldProblem:
    """One entry of a 422's `detail`: where (`loc`, as the API gives it) and what."""

    loc: tuple[str | int, ...]
    msg: str

    @property
    def field(self) -> str:
        """The field's name as the request spells it: `resolution`, `reference_image_urls.1`, `limit`."""
        path = self.loc[1:] if self.loc and self.loc[0] in ("body", "query", "path", "header") else self.loc
        return ".".join(str(part) for part in path) or "request"


class CliError(Exception):
    """Every error the commands turn into a message and an exit code."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def lines(self) -> list[str]:
        return [f"error: {self.message}"]


class UsageProblem(CliError):
    """Flags that cannot make a request: a file that is not there, a --since that is not a time."""


class ApiRejected(CliError):
    """The API's 422: each field and what is wrong with it."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.msg}" for p in problems))
        self.problems = problems

    def lines(self) -> list[str]:
        return [f"{problem.field}: {problem.msg}" for problem in self.problems]


class ApiUnreachable(CliError):
    """No answer: the connection was refused, timed out or broke."""


class ApiRefused(CliError):
    """401 or 403, or no credentials to sign with."""


class ApiFailed(CliError):
    """Any other error the API (or S3, for an upload or a download) answered."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


EXIT_CODES: dict[type[CliError], ExitCode] = {
    UsageProblem: ExitCode.USAGE,
    ApiRejected: ExitCode.USAGE,
    ApiUnreachable: ExitCode.UNREACHABLE,
    ApiRefused: ExitCode.UNREACHABLE,
    ApiFailed: ExitCode.NOT_DONE,
}


def exit_code_of(error: CliError) -> ExitCode:
    return EXIT_CODES[type(error)]
