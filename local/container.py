"""One Lambda container of the local stack: ``python -m local.container '<spec>'``, a process of its own.

The pool in `local/lambdas.py` starts it with the function's environment and ``spec``, a JSON object
(logical_id, handler, memory_mb, timeout_seconds). Its cold start is real: a fresh interpreter imports
the handler's module (the function's folder and the layer are on ``PYTHONPATH``), and its globals live
as long as the process does. Then, one event at a time, as Lambda's runtime does:

- it reads an event from stdin: a 4-byte big-endian length, then that many bytes of JSON;
- it calls the handler with a `LambdaContext`;
- it writes back, framed the same way on its original stdout, ``{"result": ...}`` or ``{"error":
  {"errorType", "errorMessage"}}`` (the traceback goes to stderr, as Lambda logs it).

Before the first event it writes ``{"ready": true}`` (or ``{"error": ...}`` if the import failed, and
exits). The handler's own prints and logs go to stderr, which it shares with the stack's process.

It exits at the end of its stdin, on SIGTERM, or when the process that started it goes away (even by
SIGKILL): it polls its parent id, so a killed pytest worker leaves no container behind. Ctrl-C in a
terminal reaches the whole process group; a container ignores it and waits for the stack to stop it.

Local only: with ``LOCAL_FUNCTIONS_CLOCK_FILE`` set, the composition root's clock (``utc_now`` in
``videojobs.bootstrap``) is real time plus the seconds that file holds, read before each event, so that
a test can step the functions' clock (`LocalStack.functions_clock`).

Standard library only, so that a cold start costs what the handler's own imports cost.
"""

from __future__ import annotations

import faulthandler
import importlib.util
import json
import os
import signal
import struct
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

HEADER = struct.Struct(">I")
CLOCK_FILE_VARIABLE = "LOCAL_FUNCTIONS_CLOCK_FILE"
#: How often a container checks that the process that started it is still there.
PARENT_POLL_SECONDS = 0.5


@dataclass
class LambdaContext:
    function_name: str
    memory_limit_in_mb: int
    timeout_seconds: int
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = f"local/{self.aws_request_id}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def write_message(stream: IO[bytes], message: Any) -> None:
    payload = json.dumps(message).encode()
    stream.write(HEADER.pack(len(payload)) + payload)
    stream.flush()


def read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    """``size`` bytes, or None at the end of the stream."""
    chunks: list[bytes] = []
    while size:
        chunk = stream.read(size)
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_message(stream: IO[bytes]) -> Any:
    """The next framed message, or None at the end of the stream."""
    header = read_exactly(stream, HEADER.size)
    if header is None:
        return None
    payload = read_exactly(stream, HEADER.unpack(header)[0])
    return None if payload is None else json.loads(payload)


def exit_with_parent() -> None:
    """End this process as soon as the one that started it is gone, however it went."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


class _ClockOffset:
    """The seconds the stack has stepped the functions' clock by, from the file it writes."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self.offset = timedelta()

    def refresh(self) -> None:
        try:
            text = self._path.read_text().strip()
        except FileNotFoundError:
            text = ""
        self.offset = timedelta(seconds=float(text or 0))

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


def _install_clock() -> _ClockOffset | None:
    path = os.environ.get(CLOCK_FILE_VARIABLE)
    if not path:
        return None
    import videojobs.bootstrap

    clock = _ClockOffset(Path(path))
    clock.refresh()
    videojobs.bootstrap.utc_now = clock.now  # type: ignore[attr-defined]
    return clock


def _error(exc: BaseException) -> dict[str, Any]:
    return {"errorType": type(exc).__name__, "errorMessage": str(exc)}


def _load_handler(handler: str) -> Any:
    module_name, _, function_name = handler.rpartition(".")
    path = Path.cwd() / f"{module_name.replace('.', '/')}.py"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return getattr(module, function_name)


def main() -> None:
    spec = json.loads(sys.argv[1])
    requests = sys.stdin.buffer
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # the handler's prints go where its logs go
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    exit_with_parent()
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1`: where each thread is
    try:
        clock = _install_clock()
        handler = _load_handler(spec["handler"])
    except Exception as exc:
        traceback.print_exc()
        write_message(answers, {"error": {**_error(exc), "errorType": "Runtime.ImportModuleError"}})
        sys.exit(1)
    write_message(answers, {"ready": True})
    while (event := read_message(requests)) is not None:
        if clock is not None:
            clock.refresh()
        context = LambdaContext(spec["logical_id"], spec["memory_mb"], spec["timeout_seconds"])
        try:
            answer: dict[str, Any] = {"result": handler(event, context)}
        except Exception as exc:
            traceback.print_exc()
            answer = {"error": _error(exc)}
        sys.stderr.flush()
        try:
            write_message(answers, answer)
        except (TypeError, ValueError) as exc:  # a result JSON cannot carry, as Lambda refuses it
            write_message(answers, {"error": {**_error(exc), "errorType": "Runtime.MarshalError"}})


if __name__ == "__main__":
    main()
