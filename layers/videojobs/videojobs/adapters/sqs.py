"""The pipeline's queues on SQS: transfers, status checks, dispatches and caller-notification retries."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from videojobs.errors import DependencyUnavailable
from videojobs.models import DispatchRequest, StatusCheckRequest, TransferRequest

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


class DelayedQueue:
    """Messages to one SQS queue, each with its own DelaySeconds (SQS allows up to 900)."""

    def __init__(self, client: SQSClient, queue_url: str, *, purpose: str) -> None:
        self._client = client
        self._queue_url = queue_url
        self._purpose = purpose

    def send(self, body: str, *, delay_seconds: int = 0) -> None:
        try:
            self._client.send_message(
                QueueUrl=self._queue_url, MessageBody=body, DelaySeconds=max(0, min(delay_seconds, 900))
            )
        except (ClientError, BotoCoreError) as error:
            raise DependencyUnavailable(f"could not queue the {self._purpose}") from error


class SqsTransferQueue:
    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._queue = DelayedQueue(client, queue_url, purpose="transfer")

    def enqueue(self, request: TransferRequest) -> None:
        self._queue.send(request.model_dump_json())


class SqsStatusChecks:
    """StatusChecks on SQS: the message's DelaySeconds is the wait."""

    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._queue = DelayedQueue(client, queue_url, purpose="status check")

    def schedule(self, request: StatusCheckRequest, *, delay_seconds: int) -> None:
        self._queue.send(request.model_dump_json(), delay_seconds=delay_seconds)


class SqsDispatchQueue:
    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._queue = DelayedQueue(client, queue_url, purpose="job for submission")

    def enqueue(self, request: DispatchRequest, *, delay_seconds: int = 0) -> None:
        self._queue.send(request.model_dump_json(), delay_seconds=delay_seconds)


class SqsNotificationRetries:
    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._queue = DelayedQueue(client, queue_url, purpose="caller notification")

    def schedule(self, message: Mapping[str, Any], *, delay_seconds: int) -> None:
        self._queue.send(json.dumps(message, default=str), delay_seconds=delay_seconds)
