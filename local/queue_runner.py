"""Lambda's SQS event source mapping, locally: long-polls moto's queues and invokes the functions.

Successful records are deleted; records reported in ``batchItemFailures`` (or the whole batch when
the handler raises) become visible again after ``retry_delay_seconds`` instead of the queue's full
visibility timeout, so local retries take seconds. SQS itself counts receives and dead-letters.

Like Lambda's event source mapping, several pollers work one queue at once (``concurrency``), each
invoking the function with its own batch; the function's container pool bounds them further.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from typing import Any

from local.lambdas import LocalFunction
from local.template import QueueTrigger

log = logging.getLogger("local.queue_runner")


def build_sqs_event(messages: list[dict[str, Any]], *, queue_arn: str, region: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": message.get("MessageAttributes", {}),
                "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for message in messages
        ]
    }


class QueuePoller:
    def __init__(
        self,
        trigger: QueueTrigger,
        function: LocalFunction,
        sqs: Any,
        *,
        queue_url: str,
        queue_arn: str,
        region: str,
        retry_delay_seconds: int = 1,
        wait_seconds: int = 1,
        concurrency: int = 4,
    ) -> None:
        self.trigger = trigger
        self._function = function
        self._sqs = sqs
        self._queue_url = queue_url
        self._queue_arn = queue_arn
        self._region = region
        self._retry_delay = retry_delay_seconds
        self._wait = wait_seconds
        self._stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, name=f"poller-{trigger.queue_id}-{n}", daemon=True)
            for n in range(concurrency)
        ]

    def start(self) -> QueuePoller:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self.stop_soon()
        for thread in self._threads:
            thread.join(timeout=self._wait + 5)

    def stop_soon(self) -> None:
        """Take no new batch (each poller ends with its long poll): stop several pollers at once."""
        self._stopping.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.poll_once()
            except Exception:
                if not self._stopping.is_set():
                    log.exception("polling %s failed", self.trigger.queue_id)
                    self._stopping.wait(1)

    def poll_once(self) -> int:
        response = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=min(self.trigger.batch_size, 10),
            WaitTimeSeconds=self._wait,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = response.get("Messages", [])
        if not messages:
            return 0
        event = build_sqs_event(messages, queue_arn=self._queue_arn, region=self._region)
        try:
            result = self._function.invoke(event)
            failed_ids = {
                item["itemIdentifier"]
                for item in (result or {}).get("batchItemFailures", [])
                if self.trigger.report_batch_item_failures
            }
        except Exception:
            log.exception("%s raised; the whole batch will be retried", self.trigger.function_id)
            failed_ids = {message["MessageId"] for message in messages}
        for message in messages:
            if message["MessageId"] in failed_ids:
                self._sqs.change_message_visibility(
                    QueueUrl=self._queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=self._retry_delay,
                )
            else:
                self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(messages)
