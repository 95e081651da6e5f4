"""The moto server the local stack and the integration tests run, with DynamoDB's atomicity.

DynamoDB applies each request to an item atomically: of two conditional writes racing on one item,
exactly one can win. moto's server handles requests on threads and checks a condition and then
writes, so two racers can both win (seen here: 2 of 20 races of 8 writers). The pacing slots, the
create rate, the job state machine and the outbox all rest on that guarantee, so DynamoDB requests
are handled one at a time here, as one partition would order them.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from moto.dynamodb.responses import DynamoHandler
from moto.server import ThreadedMotoServer

_one_at_a_time = threading.Lock()


def _serialize_dynamodb_requests() -> None:
    original = DynamoHandler.call_action
    if getattr(original, "one_at_a_time", False):
        return

    @functools.wraps(original)
    def call_action(self: DynamoHandler) -> Any:
        with _one_at_a_time:
            return original(self)

    call_action.one_at_a_time = True  # type: ignore[attr-defined]
    DynamoHandler.call_action = call_action  # type: ignore[method-assign]


def moto_server(host: str, port: int) -> ThreadedMotoServer:
    """A moto server on ``host``:``port`` (0: any free port), not yet started."""
    _serialize_dynamodb_requests()
    return ThreadedMotoServer(ip_address=host, port=port, verbose=False)
