"""EventPublisher on EventBridge: "Video Job Succeeded" / "Video Job Failed" on the pipeline's bus."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from videojobs.errors import DependencyUnavailable
from videojobs.models import Job

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

JOB_SUCCEEDED = "Video Job Succeeded"
JOB_FAILED = "Video Job Failed"


class EventBridgePublisher:
    def __init__(self, client: EventBridgeClient, bus_name: str, source: str) -> None:
        self._client = client
        self._bus = bus_name
        self._source = source

    def job_succeeded(self, job: Job) -> None:
        self._put(JOB_SUCCEEDED, job)

    def job_failed(self, job: Job) -> None:
        self._put(JOB_FAILED, job)

    def _put(self, detail_type: str, job: Job) -> None:
        entry = {
            "EventBusName": self._bus,
            "Source": self._source,
            "DetailType": detail_type,
            "Detail": job.view().model_dump_json(),
            "Resources": [],
        }
        try:
            response = self._client.put_events(Entries=[entry])  # type: ignore[list-item]
        except (ClientError, BotoCoreError) as error:
            raise DependencyUnavailable(f"could not publish {detail_type}: {error}") from error
        if response.get("FailedEntryCount"):
            raise DependencyUnavailable(f"EventBridge refused {detail_type}: {response['Entries']}")
