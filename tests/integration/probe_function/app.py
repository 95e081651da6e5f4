"""A function for the tests of the local runtime (tests/integration/test_local_runtime.py): it tells
which container ran it and does, on request, what a handler can do to its container.

``event["action"]``: ``"pid"`` (the default) answers; ``"exit"`` ends the process mid-invocation;
``"raise"`` raises; ``"wait_for"`` waits (30 s at most) for the file ``event["path"]`` to exist, then
answers; ``"sleep"`` sleeps ``event["seconds"]``. An API Gateway event carries the same object as its
body and gets it back as one. An SQS record whose ``marker`` file does not exist yet creates it and
ends the process; otherwise its body is appended to the file ``out``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

#: Module state: how many events this container has run.
INVOCATIONS = 0


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global INVOCATIONS
    INVOCATIONS += 1
    if "Records" in event:
        for record in event["Records"]:
            body = json.loads(record["body"])
            marker = Path(body["marker"])
            if not marker.exists():
                marker.write_text("crashed once")
                os._exit(3)
            with Path(body["out"]).open("a") as out:
                out.write(f"{body['n']}\n")
        return {"batchItemFailures": []}
    if "requestContext" in event:
        answer = act(json.loads(event.get("body") or "{}"), context)
        return {"statusCode": 200, "body": json.dumps(answer)}
    return act(event, context)


def act(request: dict[str, Any], context: Any) -> dict[str, Any]:
    action = request.get("action", "pid")
    if action == "exit":
        os._exit(3)
    if action == "raise":
        raise ValueError("asked to raise")
    if action == "wait_for":
        deadline = time.monotonic() + 30
        while not Path(request["path"]).exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    if action == "sleep":
        time.sleep(request["seconds"])
    return {
        "pid": os.getpid(),
        "invocations": INVOCATIONS,
        "setting": os.environ.get("PROBE_SETTING"),
        "function_name": context.function_name,
    }
