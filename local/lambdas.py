"""Lambda's runtime, locally: handlers loaded from template.yaml, each container a process of its own.

Lambda runs one event at a time per container and scales out with more containers. Here each container
is a fresh interpreter (`local/container.py`) started with its function's own environment: a real cold
start, module state per container, and nothing shared with the stack's process or another container.
A function's pool grows on demand up to its ``ReservedConcurrentExecutions`` (or `DEFAULT_CONCURRENCY`)
and reuses idle containers. A container that exits in the middle of an invocation fails that invocation
as Lambda's ``Runtime.ExitError`` does, and the next invocation starts a new one.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import json
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import ModuleType
from typing import IO, Any

from local.container import HEADER, LambdaContext
from local.template import ROOT, FunctionSpec

__all__ = ["DEFAULT_CONCURRENCY", "FunctionError", "LambdaContext", "LocalFunction"]

Handler = Callable[[dict[str, Any], Any], Any]
#: Inherited variables that would make a fresh interpreter something other than a cold Lambda one.
_NOT_INHERITED = ("POWERTOOLS_", "AWS_SAM", "_X_AMZN", "LAMBDA_TASK_ROOT")
#: The layer every function has (template.yaml's VideoJobsLayer), as Lambda puts it on the path.
LAYER_DIR = ROOT / "layers" / "videojobs"
#: Containers per function when the template reserves no concurrency for it. Each is a process of
#: 60-90 MB, and its cold start costs most of a second of CPU.
DEFAULT_CONCURRENCY = 4
#: How long a new container may take to import its handler (Lambda's init phase has 10 s, on a
#: machine that is not also running the whole stack).
INIT_TIMEOUT_SECONDS = 60
#: How long a stopped container has to exit before it is killed.
STOP_GRACE_SECONDS = 2
_module_numbers = itertools.count(1)


class FunctionError(RuntimeError):
    """An invocation that failed: the handler raised (its error type), or its container exited
    (``Runtime.ExitError``), timed out (``Sandbox.Timedout``) or could not import the handler."""

    def __init__(self, function: str, error_type: str, message: str) -> None:
        super().__init__(f"{function}: {error_type}: {message}")
        self.error_type = error_type


class _ContainerGone(Exception):
    """The container's process ended (or was ended) before it answered."""


def cold_start_environment(
    folder: Path, path: Iterable[Path], environment: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of a fresh interpreter importing a function as Lambda does: ``path`` (its folder
    and the layer) and nothing of ours inherited; inside Lambda (``LAMBDA_TASK_ROOT``), so
    POWERTOOLS_TRACE_DISABLED alone decides whether Powertools traces."""
    inherited = {name: value for name, value in os.environ.items() if not name.startswith(_NOT_INHERITED)}
    return {
        **inherited,
        "PYTHONPATH": os.pathsep.join(str(entry) for entry in path),
        "LAMBDA_TASK_ROOT": str(folder),
        "POWERTOOLS_SERVICE_NAME": "seedance-pipeline",
        "POWERTOOLS_METRICS_NAMESPACE": "SeedancePipeline",
        **(environment or {}),
    }


def load_module(spec: FunctionSpec) -> ModuleType:
    """Import a fresh instance of the function's module in this process (to read its routes, say)."""
    module_file = spec.handler.rpartition(".")[0]
    path = spec.code_dir / f"{module_file.replace('.', '/')}.py"
    name = f"lambda_{spec.logical_id}_{next(_module_numbers)}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module: ModuleType = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def load_handler(spec: FunctionSpec) -> Handler:
    """Import a fresh instance of the function's module in this process and return its handler."""
    handler: Handler = getattr(load_module(spec), spec.handler.rpartition(".")[2])
    return handler


class Container:
    """One container: a `local.container` process, and the pipes the pool talks to it through."""

    def __init__(self, spec: FunctionSpec, environment: Mapping[str, str], generation: int) -> None:
        self.spec = spec
        self.generation = generation
        description = {
            "logical_id": spec.logical_id,
            "handler": spec.handler,
            "memory_mb": spec.memory_mb,
            "timeout_seconds": spec.timeout_seconds,
        }
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "local.container", json.dumps(description)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=spec.code_dir,
            env=dict(environment),
            bufsize=0,
        )
        # Both pipes exist: Popen made them (stdin=PIPE, stdout=PIPE).
        self._requests: IO[bytes] = self.process.stdin  # type: ignore[assignment]
        self._answers: IO[bytes] = self.process.stdout  # type: ignore[assignment]
        self._ready = False

    @property
    def pid(self) -> int:
        return self.process.pid

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        """The container's answer to ``event``: ``{"result": ...}`` or ``{"error": ...}``."""
        self.wait_ready()
        payload = json.dumps(event).encode()
        try:
            self._requests.write(HEADER.pack(len(payload)) + payload)
        except OSError as exc:  # BrokenPipeError: it is gone
            raise _ContainerGone from exc
        return self._receive(self.spec.timeout_seconds)

    def wait_ready(self) -> None:
        """Wait for the end of its cold start; FunctionError if the handler could not be imported."""
        if self._ready:
            return
        answer = self._receive(INIT_TIMEOUT_SECONDS)
        if "error" in answer:
            error = answer["error"]
            raise FunctionError(self.spec.logical_id, error["errorType"], error["errorMessage"])
        self._ready = True

    def _receive(self, timeout: float) -> dict[str, Any]:
        ready, _, _ = select.select([self._answers], [], [], timeout)
        if not ready:
            self.kill()
            raise FunctionError(
                self.spec.logical_id, "Sandbox.Timedout", f"Task timed out after {timeout:.2f} seconds"
            )
        header = self._read(HEADER.size)
        answer: dict[str, Any] = json.loads(self._read(HEADER.unpack(header)[0]))
        return answer

    def _read(self, size: int) -> bytes:
        chunks: list[bytes] = []
        while size:
            chunk = self._answers.read(size)
            if not chunk:
                raise _ContainerGone
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def stop(self) -> None:
        """Ask it to end (the end of its stdin), and kill it if it has not within a moment."""
        if self.process.poll() is None:
            try:
                self._requests.close()
                self.process.wait(STOP_GRACE_SECONDS)
            except (OSError, subprocess.TimeoutExpired):
                self.kill()
        self._close_pipes()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._close_pipes()

    def _close_pipes(self) -> None:
        for stream in (self._requests, self._answers):
            with contextlib.suppress(OSError):
                stream.close()


class LocalFunction:
    """A pool of containers for one function, growing up to ``max_concurrency`` (the function's
    ``ReservedConcurrentExecutions``, else `DEFAULT_CONCURRENCY`); idle containers are reused, newest
    first. `set_environment` makes every later container start with another environment."""

    def __init__(
        self,
        spec: FunctionSpec,
        environment: Mapping[str, str] | None = None,
        *,
        max_concurrency: int | None = None,
    ) -> None:
        self.spec = spec
        self.max_concurrency = max_concurrency or spec.reserved_concurrency or DEFAULT_CONCURRENCY
        self._environment = self._full_environment(environment or {})
        self._generation = 0
        self._idle: list[Container] = []
        self._busy: set[Container] = set()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(self.max_concurrency)
        self._closed = False
        self.cold_starts = 0

    def _full_environment(self, environment: Mapping[str, str]) -> dict[str, str]:
        folder = self.spec.code_dir
        return cold_start_environment(folder, (folder, LAYER_DIR, ROOT), environment)

    def invoke(self, event: dict[str, Any]) -> Any:
        """The handler's result; FunctionError if it raised or its container failed."""
        with self._slots:
            container = self._take()
            try:
                answer = container.invoke(event)
            except _ContainerGone:
                self._discard(container)
                code = container.process.returncode
                raise FunctionError(
                    self.spec.logical_id, "Runtime.ExitError", f"the container exited (status {code})"
                ) from None
            except BaseException:
                self._discard(container)
                raise
            self._give_back(container)
        if "error" in answer:
            error = answer["error"]
            raise FunctionError(self.spec.logical_id, error["errorType"], error["errorMessage"])
        return answer["result"]

    def start_container(self) -> None:
        """Start one container ahead of the first invocation and wait for its cold start to end."""
        with self._lock:
            if self._closed or len(self._idle) + len(self._busy) >= self.max_concurrency:
                return
            container = Container(self.spec, self._environment, self._generation)
            self._busy.add(container)
            self.cold_starts += 1
        try:
            container.wait_ready()
        except (FunctionError, _ContainerGone):
            self._discard(container)
            return
        self._give_back(container)

    def set_environment(self, environment: Mapping[str, str]) -> None:
        """Containers started from now on get ``environment``; the others are stopped once idle."""
        with self._lock:
            self._environment = self._full_environment(environment)
            self._generation += 1
            stale, self._idle = self._idle, []
        _stop_all(stale)

    def close(self) -> None:
        """Stop every container, idle or busy (a busy one's invocation fails)."""
        with self._lock:
            self._closed = True
            containers = [*self._idle, *self._busy]
            self._idle, self._busy = [], set()
        _stop_all(containers, kill=True)

    def pids(self) -> list[int]:
        """The process ids of its containers, idle and busy."""
        with self._lock:
            return [container.pid for container in (*self._idle, *self._busy)]

    # -- the pool ----------------------------------------------------------------------------------------
    def _take(self) -> Container:
        with self._lock:
            if self._closed:
                raise FunctionError(self.spec.logical_id, "Runtime.Stopped", "the local stack has stopped")
            if self._idle:
                container = self._idle.pop()
            else:
                container = Container(self.spec, self._environment, self._generation)
                self.cold_starts += 1
            self._busy.add(container)
            return container

    def _give_back(self, container: Container) -> None:
        with self._lock:
            self._busy.discard(container)
            current = not self._closed and container.generation == self._generation
            if current:
                self._idle.append(container)
        if not current:
            container.stop()

    def _discard(self, container: Container) -> None:
        with self._lock:
            self._busy.discard(container)
        container.kill()


def _stop_all(containers: list[Container], *, kill: bool = False) -> None:
    """Stop them all at once: each is told (or killed) before any is waited for."""
    for container in containers:
        if container.process.poll() is None:
            if kill:
                container.process.kill()
            else:
                try:
                    container._requests.close()
                except OSError:
                    container.process.kill()
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for container in containers:
        try:
            container.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            container.process.kill()
            container.process.wait()
        container._close_pipes()
