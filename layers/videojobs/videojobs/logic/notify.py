"""Caller notifications: the job's outcome POSTed to its ``notify_url``, signed as Standard Webhooks.

The notify queue gets every "Video Job Succeeded" and "Video Job Failed" event of a job with a
notify_url (an EventBridge rule), and our own retries. A non-2xx answer is tried again on a durable
schedule (SQS delay hops of at most 15 minutes); 410 Gone stops it. ``webhook-id`` is derived from
the job and the outcome, so it is the same on every try, and receivers can drop repeats.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from videojobs.dependencies import Dependencies
from videojobs.download_policy import public_url_problem
from videojobs.errors import NotificationUndelivered
from videojobs.logic.hops import hop_towards, is_early
from videojobs.models import (
    JOB_CANCELED,
    JOB_FAILED,
    JOB_SUCCEEDED,
    JobView,
    Notification,
    NotificationStatus,
)
from videojobs.observability import logger
from videojobs.standard_webhooks import StandardWebhook

NOTIFICATION_TYPES = {
    JOB_SUCCEEDED: "video.job.succeeded",
    JOB_FAILED: "video.job.failed",
    JOB_CANCELED: "video.job.canceled",
}
_NAMESPACE = uuid.UUID("0d7f6a52-8f4e-4a8c-b1c9-6e3a5d2f7b10")


class NotifyMessage(BaseModel):
    """An EventBridge event of ours as the rule delivers it, or our retry of one (same keys)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    detail_type: str = Field(alias="detail-type")
    detail: JobView
    attempt: int = Field(default=1, ge=1)
    due_at: datetime | None = None

    def retry(self, attempt: int, due_at: datetime | None) -> dict[str, Any]:
        return {
            "detail-type": self.detail_type,
            "detail": self.detail.model_dump(mode="json"),
            "attempt": attempt,
            "due_at": due_at.isoformat() if due_at else None,
        }


class NotifyOutcome(StrEnum):
    NOT_REQUESTED = "not_requested"
    WAITING = "waiting"
    DELIVERED = "delivered"
    RETRY_SCHEDULED = "retry_scheduled"
    GONE = "gone"
    FAILED = "failed"


def notification_body(message: NotifyMessage) -> bytes:
    """The same bytes on every try: the event's type, its time, and the job view."""
    body = {
        "type": NOTIFICATION_TYPES[message.detail_type],
        "timestamp": message.detail.updated_at.isoformat(),
        "data": message.detail.model_dump(mode="json"),
    }
    return json.dumps(body, separators=(",", ":")).encode()


def webhook_id(message: NotifyMessage) -> str:
    return "msg_" + uuid.uuid5(_NAMESPACE, f"{message.detail.job_id}\n{message.detail_type}").hex


def notify_caller(message: NotifyMessage, deps: Dependencies) -> NotifyOutcome:
    """Raises DependencyUnavailable when the retry cannot be scheduled, so the queue tries again."""
    view = message.detail
    url = view.request.notify_url
    if url is None or message.detail_type not in NOTIFICATION_TYPES:
        return NotifyOutcome.NOT_REQUESTED
    now = deps.clock()
    if is_early(message.due_at, now):
        _schedule(message, message.attempt, message.due_at, deps)
        return NotifyOutcome.WAITING

    problem = public_url_problem(url, allow_loopback=deps.intake_policy.allow_loopback_urls)
    if deps.notify_signing_secret is None:
        problem = "no NOTIFY_SIGNING_SECRET is configured"
    if problem is not None:
        return _record(
            message, NotificationStatus.FAILED, f"notify_url {problem}", deps, NotifyOutcome.FAILED
        )

    body = notification_body(message)
    signer = StandardWebhook(deps.notify_signing_secret or "")
    headers = {
        "content-type": "application/json",
        **signer.headers(webhook_id(message), int(now.timestamp()), body),
    }
    try:
        status = deps.notifier.post(url, body, headers)
    except NotificationUndelivered as error:
        status, failure = None, str(error)
    else:
        failure = f"HTTP {status}"
    if status is not None and 200 <= status < 300:
        return _record(message, NotificationStatus.DELIVERED, None, deps, NotifyOutcome.DELIVERED)
    if status == 410:
        return _record(message, NotificationStatus.GONE, failure, deps, NotifyOutcome.GONE)
    delays = deps.notify_policy.retry_delays_seconds
    if message.attempt > len(delays):
        logger.warning("caller notification failed for good", job_id=view.job_id, error=failure)
        return _record(message, NotificationStatus.FAILED, failure, deps, NotifyOutcome.FAILED)
    delay = delays[message.attempt - 1]
    _schedule(message, message.attempt + 1, now + timedelta(seconds=delay), deps)
    logger.info("caller notification will be retried", job_id=view.job_id, error=failure, delay_seconds=delay)
    return _record(message, NotificationStatus.PENDING, failure, deps, NotifyOutcome.RETRY_SCHEDULED)


def _record(
    message: NotifyMessage,
    status: NotificationStatus,
    error: str | None,
    deps: Dependencies,
    outcome: NotifyOutcome,
) -> NotifyOutcome:
    notification = Notification(status=status, attempts=message.attempt, last_error=error)
    deps.jobs.record_notification(message.detail.job_id, notification, now=deps.clock())
    return outcome


def _schedule(message: NotifyMessage, attempt: int, due_at: datetime, deps: Dependencies) -> None:
    hop = hop_towards(due_at, deps.clock())
    deps.notification_retries.schedule(message.retry(attempt, hop.due_at), delay_seconds=hop.delay_seconds)
