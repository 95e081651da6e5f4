"""EventPublisher on EventBridge: the jobs' outcome events, "Video Job Rejected" and "Provider Health
Changed" on the pipeline's bus."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel

from videojobs.errors import DependencyUnavailable
from videojobs.models import (
    JOB_CANCELED,
    JOB_FAILED,
    JOB_REJECTED,
    JOB_SUCCEEDED,
    PROVIDER_HEALTH_CHANGED,
    Job,
    JobEvent,
    JobRejection,
    ProviderHealthChange,
)

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

_EVENT_IDS = uuid.UUID("9b3f2c7e-4d1a-4e8b-a6f5-2c9d8e7b1a30")


def job_event(job: Job, detail_type: str) -> JobEvent:
    """The event's detail: the job view and an id derived from the job and the outcome."""
    event_id = str(uuid.uuid5(_EVENT_IDS, f"{job.job_id}\n{detail_type}"))
    return JobEvent.model_validate({**job.view().model_dump(), "event_id": event_id})


class EventBridgePublisher:
    def __init__(self, client: EventBridgeClient, bus_name: str, source: str) -> None:
        self._client = client
        self._bus = bus_name
        self._source = source

    def job_succeeded(self, job: Job) -> None:
        self._put(JOB_SUCCEEDED, job_event(job, JOB_SUCCEEDED))

    def job_failed(self, job: Job) -> None:
        self._put(JOB_FAILED, job_event(job, JOB_FAILED))

    def job_canceled(self, job: Job) -> None:
        self._put(JOB_CANCELED, job_event(job, JOB_CANCELED))

    def job_rejected(self, rejection: JobRejection) -> None:
        self._put(JOB_REJECTED, rejection)

    def provider_health_changed(self, change: ProviderHealthChange) -> None:
        self._put(PROVIDER_HEALTH_CHANGED, change)

    def _put(self, detail_type: str, detail: BaseModel) -> None:
        entry = {
            "EventBusName": self._bus,
            "Source": self._source,
            "DetailType": detail_type,
            "Detail": detail.model_dump_json(),
            "Resources": [],
        }
        try:
            response = self._client.put_events(Entries=[entry])  # type: ignore[list-item]
        except (ClientError, BotoCoreError) as error:
            raise DependencyUnavailable(f"could not publish {detail_type}") from error
        if response.get("FailedEntryCount"):
            codes = [entry.get("ErrorCode") for entry in response["Entries"] if entry.get("ErrorCode")]
            raise DependencyUnavailable(f"EventBridge refused {detail_type}: {codes}")
