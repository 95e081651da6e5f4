"""The simulator's fault knobs (`SimulatorFaults`), what the ``reject_creates_*`` knobs make of a create
(`CreateRejection`) and what the per-job knobs make of an admitted one (`JobFaults`, the clip it renders
included), and the messages injected errors carry."""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Set
from dataclasses import dataclass, field, replace
from typing import Literal, cast

from local.simulator.media import ClipSpec, dimensions_for, resolution_of
from local.simulator.protocol import JSONObject, JSONValue, Rejection

FAULT_MESSAGES: Mapping[int, str] = {
    429: "Rate limit exceeded",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
}


#: The counters taken at a download, outside any create, so ``faults_provider`` does not scope them.
type FaultCounter = Literal["cut_downloads", "short_mdat_downloads"]
_WHOLE_NUMBER_KNOBS = (
    "cut_downloads",
    "short_mdat_downloads",
    "duplicate_webhooks",
    "fail_predictions",
    "drop_webhooks",
    "stall_predictions",
    "ambiguous_creates",
    "wrong_resolution_outputs",
    "silent_outputs",
    "moov_last_outputs",
    "reject_creates_count",
)
_SWITCH_KNOBS = ("hold_in_queue",)
FAULT_KNOBS = (
    *_WHOLE_NUMBER_KNOBS,
    *_SWITCH_KNOBS,
    "webhook_delay_seconds",
    "reject_creates_with_status",
    "reject_creates_retry_after",
    "max_active_per_key",
    "faults_provider",
)
LIMIT_RETRY_AFTER_SECONDS = 1
#: The resolution tier a ``wrong_resolution_outputs`` job renders at instead of its own: one lower, and
#: 720p instead of 480p (nothing is lower).
WRONG_RESOLUTION = {"4k": "1080p", "1080p": "720p", "720p": "480p", "480p": "720p"}


@dataclass(frozen=True)
class CreateRejection:
    """What the ``reject_creates_*`` knobs make of one create: its status and optional Retry-After."""

    status: int
    retry_after_seconds: float | None = None

    @property
    def headers(self) -> dict[str, str]:
        if self.retry_after_seconds is None:
            return {}
        return {"Retry-After": str(math.ceil(self.retry_after_seconds))}

    def to_rejection(self) -> Rejection:
        """The error a dialect answers the refused create with, in its own error shape."""
        return Rejection(
            self.status,
            FAULT_MESSAGES.get(self.status, "Simulated provider error"),
            "Injected by the reject_creates_with_status fault",
            self.headers,
        )


@dataclass(frozen=True)
class JobFaults:
    """What the per-job knobs decided for one admitted create (`SimulatorFaults.admit_create`)."""

    stall: bool = False
    fail: bool = False
    drop_webhook: bool = False
    ambiguous: bool = False
    wrong_resolution: bool = False
    silent: bool = False
    moov_last: bool = False

    def clip_for(self, clip: ClipSpec) -> ClipSpec:
        """The clip the job renders instead of `clip`, the one its request asked for: at the
        `WRONG_RESOLUTION` tier (same aspect ratio) when `wrong_resolution`, without a sound track when
        `silent`, with ``moov`` after ``mdat`` when `moov_last`."""
        if self.wrong_resolution:
            tier = WRONG_RESOLUTION[resolution_of(clip.width, clip.height)]
            width, height = dimensions_for(tier, f"{clip.width}:{clip.height}")
            clip = replace(clip, width=width, height=height)
        if self.silent:
            clip = replace(clip, with_audio=False)
        if self.moov_last:
            clip = replace(clip, moov_first=False)
        return clip


@dataclass
class SimulatorFaults:
    """Fault knobs. Counters are consumed one per use; the others persist until changed.

    ``stall_predictions``: the next N jobs never finish (processing forever, no webhook); a stalled job
    consumes no ``fail_predictions`` or ``drop_webhooks``.

    The output faults, each a counter of jobs (taken at create time, like ``fail_predictions``) that
    render a different clip than their request asked for; a stalled or failing job takes none of them
    (it renders nothing), and a job whose request already matches takes one all the same (a silent job
    from ``silent_outputs``). The job's `SimulatedJob.clip` is the clip it renders (`JobFaults.clip_for`).
    ``wrong_resolution_outputs``: rendered at the wrong resolution tier, same aspect ratio: one lower
    (4k -> 1080p -> 720p -> 480p), and 720p for 480p. ``silent_outputs``: without a sound track.
    ``moov_last_outputs``: with the ``moov`` box after the ``mdat`` (no faststart).

    ``cut_downloads``: the next N GETs of a generated video (not a last frame, not an upload) announce
    the full length but send half of it and close the connection. ``short_mdat_downloads``: the next N
    GETs of a generated video get a healthy response (exact ``Content-Length``, ranges answered against
    it, connection kept) for a broken file: ``ftyp`` and ``moov`` intact, the ``mdat`` header unchanged
    (still declaring its full size) but only the first half of its payload (`media.write_short_mdat`).

    ``reject_creates_with_status`` (null or 400-599): the next ``reject_creates_count`` creates are
    answered with that status (before any validation) and create nothing; then the status clears itself.
    A patch that sets a status without a count means a count of 1; a patch that sets the count to 0
    clears the status. (Setting the attributes directly: a status with a count of 0 rejects one create.)
    ``reject_creates_retry_after`` (null or seconds >= 0, persistent): rejected creates carry
    ``Retry-After`` with that many seconds, rounded up to an integer.

    ``max_active_per_key`` (null or >= 1, persistent): a create whose API key already has that many jobs
    processing (stalled ones included) is refused with 429 and ``Retry-After: 1``, creating nothing.

    ``ambiguous_creates``: the next N creates that pass validation (and the limit) are accepted, but the
    connection is closed without a response.

    ``hold_in_queue`` (boolean, persistent): while true, new jobs start ``queued`` and every queued job
    stays queued (counted as active) until it is set back to false or the job is cancelled; then each
    starts processing (its ``processing_seconds`` counted from then). Off by default: jobs start
    processing at once, as they always did.

    ``faults_provider`` (null or the name of a simulated provider, persistent): the scope of the faults a
    create meets. Null (the default): every provider's creates meet them, as before. A name: only creates
    made at that provider meet ``reject_creates_with_status`` (with ``reject_creates_count`` and
    ``reject_creates_retry_after``), ``max_active_per_key``, and the per-job counters decided at create
    time: ``stall_predictions``, ``fail_predictions``, ``drop_webhooks``, ``ambiguous_creates`` and the
    output faults; creates at the other providers neither trigger nor consume them. ``hold_in_queue``,
    ``cut_downloads``, ``short_mdat_downloads``, ``duplicate_webhooks`` and ``webhook_delay_seconds`` stay
    global. The names it may take are `providers` (the backend sets them to the dialects it mounts; a bare
    ``SimulatorFaults()`` knows none).
    """

    cut_downloads: int = 0
    short_mdat_downloads: int = 0
    duplicate_webhooks: int = 0
    fail_predictions: int = 0
    drop_webhooks: int = 0
    stall_predictions: int = 0
    ambiguous_creates: int = 0
    wrong_resolution_outputs: int = 0
    silent_outputs: int = 0
    moov_last_outputs: int = 0
    reject_creates_count: int = 0
    webhook_delay_seconds: float = 0.0
    reject_creates_with_status: int | None = None
    reject_creates_retry_after: float | None = None
    max_active_per_key: int | None = None
    hold_in_queue: bool = False
    faults_provider: str | None = None
    providers: frozenset[str] = field(default=frozenset(), compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def take(self, counter: FaultCounter) -> bool:
        """Consume one of `counter` if any is left (not scoped by ``faults_provider``)."""
        with self._lock:
            return self._take(counter)

    def take_create_rejection(self, provider: str) -> CreateRejection | None:
        """The rejection for the create at hand at `provider`, if the ``reject_creates_*`` knobs call for
        one (and ``faults_provider`` covers `provider`); checked and consumed in one step."""
        with self._lock:
            status = self.reject_creates_with_status
            if status is None or not self._covers(provider):
                return None
            remaining = max(1, self.reject_creates_count) - 1
            self.reject_creates_count = remaining
            if remaining == 0:
                self.reject_creates_with_status = None
            return CreateRejection(status, self.reject_creates_retry_after)

    def admit_create(self, provider: str, *, active: int, with_webhook: bool) -> JobFaults:
        """What the per-job knobs make of a create at `provider` whose API key has `active` jobs, checked
        and consumed in one step: a 429 `Rejection` (``Retry-After``) when `active` reaches
        ``max_active_per_key``, consuming nothing; otherwise the job's faults, each counter it takes
        consumed. A stalled job takes no ``fail_predictions``, ``drop_webhooks`` or output faults, a failing
        job no output faults, a job without a webhook no ``drop_webhooks``. Outside the
        ``faults_provider`` scope: no limit and no faults."""
        with self._lock:
            if not self._covers(provider):
                return JobFaults()
            limit = self.max_active_per_key
            if limit is not None and active >= limit:
                raise Rejection(
                    429,
                    "Rate limit exceeded",
                    f"Too many concurrent predictions: at most {limit} per API key",
                    {"Retry-After": str(LIMIT_RETRY_AFTER_SECONDS)},
                )
            stall = self._take("stall_predictions")
            fail = not stall and self._take("fail_predictions")
            renders = not stall and not fail
            return JobFaults(
                stall=stall,
                fail=fail,
                drop_webhook=not stall and with_webhook and self._take("drop_webhooks"),
                ambiguous=self._take("ambiguous_creates"),
                wrong_resolution=renders and self._take("wrong_resolution_outputs"),
                silent=renders and self._take("silent_outputs"),
                moov_last=renders and self._take("moov_last_outputs"),
            )

    def _covers(self, provider: str) -> bool:
        """Whether ``faults_provider`` scopes the create faults to include `provider` (lock held)."""
        return self.faults_provider is None or self.faults_provider == provider

    def _take(self, counter: str) -> bool:
        """Consume one of `counter` if any is left (lock held)."""
        remaining: int = getattr(self, counter)
        if remaining <= 0:
            return False
        setattr(self, counter, remaining - 1)
        return True

    def to_json(self) -> JSONObject:
        with self._lock:
            return {name: getattr(self, name) for name in FAULT_KNOBS}

    def reset(self) -> None:
        self.apply(SimulatorFaults().to_json())

    def apply(self, patch: Mapping[str, JSONValue]) -> None:
        """Merge knob values; raises ValueError naming the first bad knob, leaving all knobs unchanged."""
        updates: dict[str, bool | int | float | str | None] = {}
        for name, value in patch.items():
            updates[name] = _validated_knob(name, value, self.providers)
        if "reject_creates_count" in updates:
            if updates["reject_creates_count"] == 0:
                updates["reject_creates_with_status"] = None
        elif "reject_creates_with_status" in updates:
            updates["reject_creates_count"] = 0 if updates["reject_creates_with_status"] is None else 1
        with self._lock:
            for name, value in updates.items():
                setattr(self, name, value)


def _validated_knob(name: str, value: JSONValue, providers: Set[str]) -> bool | int | float | str | None:
    if name == "faults_provider":
        if value is None or (isinstance(value, str) and value in providers):
            return value
        raise ValueError(f"{name} must be null or the name of a simulated provider: {sorted(providers)}")
    if name in _SWITCH_KNOBS:
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false")
        return value
    is_integer = isinstance(value, int) and not isinstance(value, bool)
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if name in _WHOLE_NUMBER_KNOBS:
        if not is_integer or cast(int, value) < 0:
            raise ValueError(f"{name} must be a non-negative integer")
        return cast(int, value)
    if name == "webhook_delay_seconds":
        if not is_number or not math.isfinite(cast(float, value)) or cast(float, value) < 0:
            raise ValueError(f"{name} must be a non-negative number")
        return float(cast(float, value))
    if name == "reject_creates_with_status":
        if value is None:
            return None
        if not is_integer or not 400 <= cast(int, value) <= 599:
            raise ValueError(f"{name} must be null or an HTTP error status (400-599)")
        return cast(int, value)
    if name == "reject_creates_retry_after":
        if value is None:
            return None
        if not is_number or not math.isfinite(cast(float, value)) or cast(float, value) < 0:
            raise ValueError(f"{name} must be null or a non-negative number of seconds")
        return cast(float, value)
    if name == "max_active_per_key":
        if value is None:
            return None
        if not is_integer or cast(int, value) < 1:
            raise ValueError(f"{name} must be null or a positive integer")
        return cast(int, value)
    raise ValueError(f"unknown fault knob {name!r}")
