"""The moto server the local stack and the integration tests run, in a process of its own, with
DynamoDB's atomicity.

DynamoDB applies each request to an item atomically: of two conditional writes racing on one item,
exactly one can win. moto's server handles requests on threads and checks a condition and then
writes, so two racers can both win (seen here: 2 of 20 races of 8 writers). The pacing slots, the
create rate, the job state machine and the outbox all rest on that guarantee, so DynamoDB requests
are handled one at a time here, as one partition would order them.

`MotoProcess` runs ``python -m local.moto_server HOST PORT``: a fresh interpreter that applies that
patch, starts the server and writes its port on stdout. It serves until its stdin ends (the process
that started it closes it, or is gone), on SIGTERM, or once that process is gone however it went.
"""

from __future__ import annotations

import functools
import subprocess
import sys
import threading
from typing import Any

from local.template import ROOT

_one_at_a_time = threading.Lock()
#: How long moto may take to import and bind its port.
START_TIMEOUT_SECONDS = 60


def _dispatch_without_scanning() -> None:
    """moto's server finds the service of every request under one lock, and on the way lists its own
    package's folders (a listdir and ~150 stats) once or twice, then tries every service's URL
    pattern: several milliseconds per request, one request at a time, whatever the service. Both
    answers never change while it runs: the folders are listed once, and the service of a host kept."""
    from moto import backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    if getattr(DomainDispatcherApplication.get_backend_for_host, "cached", False):
        return
    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules  # type: ignore[assignment]
    found = functools.lru_cache(maxsize=1024)(DomainDispatcherApplication.get_backend_for_host)
    found.cached = True  # type: ignore[attr-defined]
    DomainDispatcherApplication.get_backend_for_host = found  # type: ignore[method-assign]


def _serialize_dynamodb_requests() -> None:
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action
    if getattr(original, "one_at_a_time", False):
        return

    @functools.wraps(original)
    def call_action(self: DynamoHandler) -> Any:
        with _one_at_a_time:
            return original(self)

    call_action.one_at_a_time = True  # type: ignore[attr-defined]
    DynamoHandler.call_action = call_action  # type: ignore[method-assign]


class MotoProcess:
    """A moto server on ``host``:``port`` (0: any free port) in a process of its own, not yet started;
    ``with`` starts and stops it."""

    def __init__(self, host: str, port: int) -> None:
        self._host = host
        self._port = port
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> MotoProcess:
        self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "local.moto_server", self._host, str(self._port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
        )
        line = _read_line(self._process.stdout, START_TIMEOUT_SECONDS)
        if not line.strip().isdigit():
            self.stop()
            raise RuntimeError(f"the moto server did not start: {line!r}")
        self._port = int(line)
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def get_host_and_port(self) -> tuple[str, int]:
        return self._host, self._port

    @property
    def endpoint(self) -> str:
        return f"http://{self._host}:{self._port}"

    def __enter__(self) -> MotoProcess:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def _read_line(stream: Any, timeout: float) -> str:
    found: list[bytes] = []
    reader = threading.Thread(target=lambda: found.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return found[0].decode() if found else ""


def moto_server(host: str, port: int) -> MotoProcess:
    """A moto server on ``host``:``port`` (0: any free port), not yet started."""
    return MotoProcess(host, port)


def main() -> None:
    import faulthandler
    import logging
    import os
    import signal

    from moto.server import ThreadedMotoServer

    from local.container import exit_with_parent

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the stack, which stops us
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1`: where each thread is
    exit_with_parent()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    _serialize_dynamodb_requests()
    _dispatch_without_scanning()
    host, port = sys.argv[1], int(sys.argv[2])
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    print(server.get_host_and_port()[1], flush=True)
    sys.stdin.buffer.read()  # until the stack closes it, or is gone
    os._exit(0)


if __name__ == "__main__":
    main()
