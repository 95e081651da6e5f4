"""Lambda's runtime, locally: handlers loaded from template.yaml, one module instance per container.

Lambda runs one event at a time per container and scales out with more containers. Each container
here is a separate import of the function's module (its own ``app`` and globals), so concurrent
invocations never share a resolver, just as on Lambda.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from local.template import FunctionSpec

Handler = Callable[[dict[str, Any], Any], Any]
#: Inherited variables that would make a fresh interpreter something other than a cold Lambda one.
_NOT_INHERITED = ("POWERTOOLS_", "AWS_SAM", "_X_AMZN", "LAMBDA_TASK_ROOT")
_module_numbers = itertools.count(1)


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
    """Import a fresh instance of the function's module, as a new container would."""
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
    """Import a fresh instance of the function's module and return its handler."""
    handler: Handler = getattr(load_module(spec), spec.handler.rpartition(".")[2])
    return handler


class LocalFunction:
    """A pool of warm containers for one function, growing up to ``max_concurrency``."""

    def __init__(self, spec: FunctionSpec, *, max_concurrency: int = 8) -> None:
        self.spec = spec
        self._idle: list[Handler] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_concurrency)

    def invoke(self, event: dict[str, Any]) -> Any:
        with self._slots:
            with self._lock:
                handler = self._idle.pop() if self._idle else None
            if handler is None:
                handler = load_handler(self.spec)
            try:
                context = LambdaContext(self.spec.logical_id, self.spec.memory_mb, self.spec.timeout_seconds)
                return handler(event, context)
            finally:
                with self._lock:
                    self._idle.append(handler)
