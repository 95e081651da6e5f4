"""TransferQueue on SQS."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from videojobs.errors import DependencyUnavailable
from videojobs.models import TransferRequest

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
