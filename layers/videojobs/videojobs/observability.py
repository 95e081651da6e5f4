"""Logger, tracer and metrics: created once, here, and imported everywhere else.

The tracer is Powertools' X-Ray tracer only where tracing is on, by Powertools' own rule: in Lambda,
unless ``POWERTOOLS_TRACE_DISABLED`` is true (the template's ``Tracing`` parameter sets it). Anywhere
else it is a stand-in whose decorators hand the function back unchanged: ``Tracer()`` loads the X-Ray
SDK, which builds botocore clients as it loads, well over 100 ms of every cold start even when it
then traces nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, overload

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
metrics = Metrics()


class Untraced:
    """The part of Powertools' Tracer the code uses, for when tracing is off: nothing is wrapped."""

    disabled = True

    @overload
    def capture_method[F: Callable[..., Any]](self, method: F) -> F: ...

    @overload
    def capture_method[F: Callable[..., Any]](
        self, method: None = None, capture_response: bool | None = None, capture_error: bool | None = None
    ) -> Callable[[F], F]: ...

    def capture_method[F: Callable[..., Any]](
        self, method: F | None = None, capture_response: bool | None = None, capture_error: bool | None = None
    ) -> F | Callable[[F], F]:
        if method is None:
            return _unchanged
        return method

    def capture_lambda_handler(
        self,
        lambda_handler: Callable[..., Any] | None = None,
        capture_response: bool | None = None,
        capture_error: bool | None = None,
    ) -> Callable[..., Any]:
        if lambda_handler is None:
            return _unchanged
        return lambda_handler

    def put_annotation(self, key: str, value: str | float | bool) -> None:
        """Nothing to annotate."""

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        """Nothing to record."""


def _unchanged[F](function: F) -> F:
    return function


def tracing_on() -> bool:
    """Powertools' rule: on in Lambda (not in SAM local), unless POWERTOOLS_TRACE_DISABLED is true.
    Asked of Powertools itself, so the two can never disagree."""
    return not Tracer._is_tracer_disabled()


tracer: Tracer | Untraced = Tracer() if tracing_on() else Untraced()


def trace_job(job_id: str) -> None:
    """Every log line from here on names the job, as ``job_id`` and as Powertools' ``correlation_id``."""
    logger.append_keys(job_id=job_id)
    logger.set_correlation_id(job_id)
