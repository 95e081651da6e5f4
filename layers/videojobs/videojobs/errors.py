"""Typed errors of the domain. The HTTP status each maps to is decided in one place (api.py)."""

from __future__ import annotations


class VideoJobError(Exception):
    """Base of every error the domain raises on purpose."""

    code = "error"


class RequestRejected(VideoJobError):
    """The request is valid JSON of the right shape but asks for something we cannot serve."""

    code = "unsupported"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class NoProviderServes(RequestRejected):
    """No provider a request for ``"auto"`` may go to serves it: each problem names the field that
    stopped a provider, as ``RequestRejected`` does for one."""

    def __init__(self, problems: list[RequestRejected]) -> None:
        by_field: dict[str, list[str]] = {}
        for problem in problems:
            by_field.setdefault(problem.field, []).append(problem.reason)
        self.problems = [
            RequestRejected(field, f"no enabled provider serves this request: {'; '.join(reasons)}")
            for field, reasons in by_field.items()
        ]
        first = self.problems[0] if self.problems else RequestRejected("provider", "no provider is enabled")
        super().__init__(first.field, first.reason)


class JobNotFound(VideoJobError):
    code = "job_not_found"

    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id} not found")
        self.job_id = job_id


class InvalidCursor(VideoJobError):
    """A GET /jobs cursor we did not issue, or issued for other filters."""

    code = "invalid_cursor"


class JobNotCancelable(VideoJobError):
    """A cancel of a job that is transferring (its video is already ours) or ended otherwise."""

    code = "job_not_cancelable"

    def __init__(self, job_id: str, status: str) -> None:
        super().__init__(
            f"job {job_id} is {status}: only a queued, submitted or processing job can be canceled"
        )
        self.job_id = job_id
        self.status = status


class OutputNotAvailable(VideoJobError):
    """A link to a job's video or last frame, asked of a job that has none (yet, or ever)."""

    code = "output_not_available"

    def __init__(self, job_id: str, status: str, output: str) -> None:
        super().__init__(f"job {job_id} is {status} and has no {output}")
        self.job_id = job_id
        self.status = status
        self.output = output


class WebhookUnauthorized(VideoJobError):
    """Missing or wrong token, forged or stale signature."""

    code = "unauthorized"


class InvalidWebhook(VideoJobError):
    """The webhook is authentic but its body is not what the provider's dialect says."""

    code = "invalid_webhook"


class WebhookConflict(VideoJobError):
    """The webhook is about another provider or prediction than the job's."""

    code = "webhook_conflict"


class ProviderError(VideoJobError):
    """A provider call failed. ``retryable`` says whether trying again later may help.

    ``ambiguous``: the request went out but no answer came back (a timeout or a reset after
    sending), so the provider may have acted on it. ``retry_after_seconds``: the provider's own
    Retry-After, when it gave one. ``account_refused``: refused for the key's account, not for the
    request (401, 402, 403, or words that say the credit or quota is spent): another key or provider
    may serve the same request.
    """

    code = "provider_error"

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status_code: int | None = None,
        ambiguous: bool = False,
        retry_after_seconds: float | None = None,
        account_refused: bool = False,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status_code = status_code
        self.ambiguous = ambiguous
        self.retry_after_seconds = retry_after_seconds
        self.account_refused = account_refused

    @property
    def provider_unhealthy(self) -> bool:
        """No answer, or a 5xx: what a provider's breaker counts."""
        return self.status_code is None or self.status_code >= 500


class CancelRefused(VideoJobError):
    """The provider will not cancel the prediction: it has started (ModelArk cancels only queued tasks),
    finished already, or the dialect has no cancel at all (``unsupported``)."""

    code = "cancel_refused"

    def __init__(self, message: str, *, unsupported: bool = False) -> None:
        super().__init__(message)
        self.unsupported = unsupported


class ProviderNotConfigured(VideoJobError):
    code = "provider_not_configured"


class DependencyUnavailable(VideoJobError):
    """Our own infrastructure (queue, bus) refused a call; the caller should retry."""

    code = "dependency_unavailable"


class TransferFailed(VideoJobError):
    """Copying the output failed in a way another attempt may fix (network, S3). ``left_open``: the
    (key, upload id) of each multipart upload this attempt could not abort."""

    code = "transfer_failed"
    left_open: tuple[tuple[str, str], ...] = ()


class OutputRejected(VideoJobError):
    """The output can never be copied: a disallowed URL, or not an MP4."""

    code = "output_rejected"


class BrokenOutput(TransferFailed):
    """The file received is not whole: cut short behind an intact header, no moov, no video track, a
    sample table pointing past the bytes, a PNG without IEND. Retried as a cut download is; a job whose
    last try ends so fails with ``output_rejected``."""

    code = "output_rejected"


class NotificationUndelivered(VideoJobError):
    """The caller's notify_url gave no answer (refused, reset, timed out) or may not be called."""

    code = "notification_undelivered"
