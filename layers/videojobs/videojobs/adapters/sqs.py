"""The transfer queue and the status-check queue, on SQS."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from videojobs.errors import DependencyUnavailable
from videojobs.models import StatusCheckRequest, TransferRequest

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


class SqsTransferQueue:
    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def enqueue(self, request: TransferRequest) -> None:
        try:
            self._client.send_message(QueueUrl=self._queue_url, MessageBody=request.model_dump_json())
        except (ClientError, BotoCoreError) as error:
            raise DependencyUnavailable(f"could not enqueue the transfer: {error}") from error


class SqsStatusChecks:
    """StatusChecks on SQS: the message's DelaySeconds is the wait (SQS allows up to 900)."""

    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def schedule(self, request: StatusCheckRequest, *, delay_seconds: int) -> None:
        try:
            self._client.send_message(
                QueueUrl=self._queue_url, MessageBody=request.model_dump_json(), DelaySeconds=delay_seconds
            )
        except (ClientError, BotoCoreError) as error:
            raise DependencyUnavailable(f"could not schedule the status check: {error}") from error
