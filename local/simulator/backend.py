"""The simulator's state: jobs and their workers, API keys and usage, media checks, uploads, the clip
cache, webhook delivery and the request log; shared by every dialect (it implements `protocol.Host`).

API keys and usage
------------------
Each provider accepts one or more API keys (`ProviderSimulator(api_keys=...)`, ``POST /_sim/api-keys``).
Every job records the key that created it (``api_key``). Per (provider, key): ``active`` is the jobs now
``queued`` or ``processing`` (stalled ones included), ``peak`` the most active at once since the last
reset, ``creates`` the jobs created since then. With the ``max_active_per_key`` fault set, a create
whose key already has that many active jobs is refused with 429 in the dialect's error shape and
``Retry-After: 1``, creating no job; the check and the count are one step under one lock, so they are
exact under concurrent creates.

Create faults
-------------
In the order a create meets them: ``reject_creates_with_status`` (with ``reject_creates_count`` and
``reject_creates_retry_after``) refuses before any validation; the dialect's validation and media checks;
``max_active_per_key``; then ``ambiguous_creates``: the job is created and runs (webhook included) as
usual, but the connection is closed without a response byte, so the client cannot know it was accepted.
The request log records such a create with the status it would have had. See `SimulatorFaults`.

``faults_provider`` (null by default: every provider) scopes them to the creates made at one provider:
``reject_creates_*``, ``max_active_per_key``, ``ambiguous_creates``, and the per-job counters decided in
`submit` (``stall_predictions``, ``fail_predictions``, ``drop_webhooks``, and the output faults
``wrong_resolution_outputs``, ``silent_outputs`` and ``moov_last_outputs``, which change the clip the job
renders). Creates at the other providers neither meet nor consume them. ``hold_in_queue`` and the
download and webhook-delivery knobs (``cut_downloads``, ``short_mdat_downloads``, ``duplicate_webhooks``,
``webhook_delay_seconds``) stay global.

Media inputs
------------
Dialects hand every media URL of a create call to `SimulatorBackend.check_media`, which refuses (400 naming
the field) what a real provider could not fetch. The simulator's own upload and output URLs are always
accepted (checked in its stores, not over HTTP). Other URLs must be public https and are never fetched,
unless the simulator was built with ``allow_loopback_media``: then http(s) URLs to a loopback host are
accepted too, and fetched once (GET, short timeout) at create time; a failed fetch refuses the create.

Queue, cancellation and status webhooks
---------------------------------------
A job starts ``processing`` at once, unless ``queue_seconds`` > 0 or the ``hold_in_queue`` fault is on:
then it starts ``queued`` and moves to ``processing`` once its ``queue_seconds`` have passed and the
fault is off (its ``processing_seconds`` count from then). `cancel` moves a queued job (a processing one
too, when the dialect allows it) to ``cancelled``: it never renders or succeeds afterwards and stops
counting as active. Each job's worker sends, in order, the dialect's `Dialect.webhook_on_change` for each
non-terminal status the job enters (none by default), then its one terminal `Dialect.webhook_for`
(retried; the webhook faults apply to it alone).

Signing keys
------------
Ed25519 key rings by name (`key_ring`): ``"default"`` is `signing_keys` (Atlas Cloud's); a dialect may
ask for its own (named after its provider) to publish at its own JWKS path. ``POST /_sim/keys/rotate``
rotates every ring. With a ``signing_seed`` every ring and `derived_secret` (Replicate's account secret)
is derived from it, the same at every start (the local stack's); without one they are random.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import hmac
import ipaddress
import logging
import secrets
import shutil
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import httpx

from local.simulator.faults import SimulatorFaults
from local.simulator.media import ClipCache, ClipSpec
from local.simulator.protocol import (
    CancelOutcome,
    DeliveryAttempt,
    Dialect,
    JobStatus,
    JSONObject,
    KeyUsage,
    LoggedRequest,
    MediaFetch,
    OutgoingWebhook,
    Rejection,
    SimulatedJob,
    StatusWebhook,
    StoredUpload,
    WebhookState,
    invalid,
)
from local.simulator.signing import Ed25519KeyRing, derive

logger = logging.getLogger(__name__)

DEFAULT_WEBHOOK_BACKOFF_SECONDS = (0.2, 0.5, 1.0)
MEDIA_FETCH_TIMEOUT_SECONDS = 5.0
LAST_FRAME_SUFFIX = "-last.png"
DEFAULT_KEY_RING = "default"
#: How often a queued job looks again whether it may start (the hold_in_queue fault is a plain knob).
QUEUE_POLL_SECONDS = 0.02
#: Jobs the simulator works on at once (each mostly waiting out its processing time).
MAX_JOBS_IN_FLIGHT = 256


@dataclass(frozen=True)
class ServedFile:
    """A file the simulator serves; `clip`: the clip a generated video was rendered from (None for a last
    frame or an upload)."""

    path: Path
    size: int
    content_type: str
    clip: ClipSpec | None = None


type ApiKeys = Mapping[str, str | Sequence[str]]


def normalized_api_keys(api_keys: ApiKeys) -> dict[str, tuple[str, ...]]:
    """Provider -> its accepted keys, in order, without duplicates; a single key may be given as a str."""
    normalized: dict[str, tuple[str, ...]] = {}
    for provider, keys in api_keys.items():
        given = (keys,) if isinstance(keys, str) else tuple(keys)
        for key in given:
            if api_key_problem(key) is not None:
                raise ValueError(f"API key for {provider!r}: {api_key_problem(key)}")
        normalized[provider] = tuple(dict.fromkeys(given))
    return normalized


def api_key_problem(key: object) -> str | None:
    """Why `key` cannot be an API key (it must travel in a header), or None."""
    if not isinstance(key, str) or not key:
        return "must be a non-empty string"
    if key != key.strip() or any(ord(char) < 0x21 or ord(char) > 0x7E for char in key):
        return "must be printable ASCII without spaces"
    return None


class SimulatorBackend:
    """Jobs, their workers, the clip cache and webhook delivery; shared by every dialect."""

    def __init__(
        self,
        *,
        api_keys: ApiKeys,
        processing_seconds: float,
        render_workers: int,
        webhook_backoff_seconds: Sequence[float],
        webhook_timeout_seconds: float,
        media_cache_dir: Path | None,
        allow_loopback_media: bool = False,
        queue_seconds: float = 0.0,
        signing_seed: bytes | None = None,
    ) -> None:
        self._api_keys = normalized_api_keys(api_keys)
        self._signing_seed = signing_seed
        self._usage: dict[tuple[str, str], KeyUsage] = {}
        self.processing_seconds = processing_seconds
        self.allow_loopback_media = allow_loopback_media
        self.faults = SimulatorFaults()
        self.queue_seconds = queue_seconds
        self._key_rings = {DEFAULT_KEY_RING: Ed25519KeyRing(self._seed_for(f"ring/{DEFAULT_KEY_RING}"))}
        self._controls: dict[str, _JobControl] = {}
        self.base_url = ""
        self._uploads_dir: Path | None = None
        self._uploads: dict[str, StoredUpload] = {}
        self._webhook_backoff = tuple(webhook_backoff_seconds)
        self._clips = ClipCache(media_cache_dir)
        self._dialects: dict[str, Dialect] = {}
        self._jobs: dict[str, SimulatedJob] = {}
        self._log: list[LoggedRequest] = []
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        # Jobs run side by side, as at a real provider: each waits out its processing time on a
        # thread of its own, and only the encoding itself is limited to render_workers at a time.
        self._workers = ThreadPoolExecutor(max_workers=MAX_JOBS_IN_FLIGHT, thread_name_prefix="sim-job")
        self._render_slots = threading.BoundedSemaphore(render_workers)
        self._notifiers = ThreadPoolExecutor(max_workers=8, thread_name_prefix="sim-webhook")
        self._http = httpx.Client(
            timeout=webhook_timeout_seconds, trust_env=False, follow_redirects=False, verify=_tls_context()
        )

    # -- wiring ---------------------------------------------------------------------------------------
    def mount(self, dialect: Dialect) -> None:
        self._dialects[dialect.provider] = dialect
        self.faults.providers = frozenset(self._dialects)  # what faults_provider may name

    def dialect(self, provider: str) -> Dialect | None:
        return self._dialects.get(provider)

    @property
    def providers(self) -> list[str]:
        return sorted(self._dialects)

    def provider_base_url(self, provider: str) -> str:
        return f"{self.base_url}/{provider}"

    def output_url(self, provider: str, job_id: str) -> str:
        return f"{self.provider_base_url(provider)}/outputs/{job_id}.mp4"

    def last_frame_url(self, provider: str, job_id: str) -> str:
        return f"{self.provider_base_url(provider)}/outputs/{job_id}{LAST_FRAME_SUFFIX}"

    def take_create_rejection(self, provider: str) -> Rejection | None:
        """The error the ``reject_creates_*`` faults call for on this create at `provider` (consuming
        one), or None; creates outside the ``faults_provider`` scope get None and consume nothing."""
        rejection = self.faults.take_create_rejection(provider)
        return None if rejection is None else rejection.to_rejection()

    # -- Ed25519 signing keys -------------------------------------------------------------------------
    @property
    def signing_keys(self) -> Ed25519KeyRing:
        """The shared ring (``"default"``): Atlas Cloud's webhooks, ``/_sim/keys/rotate``'s ``kid``."""
        return self.key_ring(DEFAULT_KEY_RING)

    def key_ring(self, name: str) -> Ed25519KeyRing:
        """The ring called `name` (a dialect's own: its provider name), created on first use."""
        with self._changed:
            ring = self._key_rings.get(name)
            if ring is None:
                ring = self._key_rings[name] = Ed25519KeyRing(self._seed_for(f"ring/{name}"))
            return ring

    def derived_secret(self, label: str) -> bytes:
        """32 bytes for `label`: derived from the signing seed, or random without one."""
        return self._seed_for(label) or secrets.token_bytes(32)

    def _seed_for(self, label: str) -> bytes | None:
        return None if self._signing_seed is None else derive(self._signing_seed, label)

    def rotate_key_rings(self) -> dict[str, str]:
        """Rotate every ring; ring name -> its new kid."""
        with self._changed:
            rings = dict(self._key_rings)
        return {name: ring.rotate() for name, ring in sorted(rings.items())}

    # -- API keys and their usage ---------------------------------------------------------------------
    def key_matches(self, provider: str, presented: str) -> bool:
        """Whether `presented` is one of `provider`'s accepted keys."""
        with self._changed:
            accepted = self._api_keys.get(provider, ())
        matches = [hmac.compare_digest(presented.encode(), key.encode()) for key in accepted]
        return any(matches)

    @property
    def api_keys(self) -> dict[str, list[str]]:
        """Every mounted provider (and every provider given keys) -> its accepted keys."""
        with self._changed:
            providers = sorted({*self._dialects, *self._api_keys})
            return {provider: list(self._api_keys.get(provider, ())) for provider in providers}

    def add_api_key(self, provider: str, key: str) -> list[str]:
        """Accept `key` for `provider` from now on (on top of its others); returns its accepted keys."""
        if provider not in self._dialects:
            raise ValueError(f"no simulated provider named {provider!r}; mounted: {self.providers}")
        problem = api_key_problem(key)
        if problem is not None:
            raise ValueError(f"key {problem}")
        with self._changed:
            keys = self._api_keys.get(provider, ())
            if key not in keys:
                self._api_keys[provider] = (*keys, key)
            return list(self._api_keys[provider])

    def usage(self) -> dict[str, dict[str, KeyUsage]]:
        """Provider -> key -> its `KeyUsage`, for every accepted key and every key that created a job."""
        with self._changed:
            table: dict[str, dict[str, KeyUsage]] = {
                provider: {key: KeyUsage(active=0, peak=0, creates=0) for key in keys}
                for provider, keys in self._api_keys.items()
            }
            for provider in self._dialects:
                table.setdefault(provider, {})
            for (provider, key), counts in self._usage.items():
                table.setdefault(provider, {})[key] = KeyUsage(**counts)
            return {provider: table[provider] for provider in sorted(table)}

    def reset_usage(self) -> dict[str, dict[str, KeyUsage]]:
        """Peaks back to the current active counts, creates to 0; returns the usage after the reset."""
        with self._changed:
            for counts in self._usage.values():
                counts["peak"] = counts["active"]
                counts["creates"] = 0
        return self.usage()

    def _usage_of(self, provider: str, api_key: str | None) -> KeyUsage:
        """The live counters of one key (call with the lock held)."""
        return self._usage.setdefault((provider, api_key or ""), KeyUsage(active=0, peak=0, creates=0))

    # -- jobs -----------------------------------------------------------------------------------------
    def submit(
        self,
        *,
        job_id: str,
        provider: str,
        request: JSONObject,
        clip: ClipSpec,
        webhook_url: str | None,
        last_frame: bool = False,
        meta: JSONObject | None = None,
        media_fetches: Sequence[MediaFetch] = (),
        api_key: str | None = None,
    ) -> SimulatedJob:
        """Register a job and start working on it, counted against `api_key`.

        `last_frame`: also produce the clip's last frame as a PNG at `last_frame_url`. `meta`: wire-level
        facts the dialect wants back with the job (ids, names); the core never reads them. Raises a 429
        `Rejection` (``Retry-After: 1``), creating nothing, when `api_key` already has
        ``max_active_per_key`` jobs active (queued or processing) and ``faults_provider`` covers
        `provider`: the check and the count are one step under the lock. The job starts ``queued`` when
        ``queue_seconds`` > 0 or the ``hold_in_queue`` fault is on, ``processing`` otherwise. The output
        faults it takes change the clip it renders (and records) from `clip`.
        """
        request_copy = copy.deepcopy(request)
        meta_copy = copy.deepcopy(meta) if meta is not None else {}
        with self._changed:
            counts = self._usage_of(provider, api_key)
            planned = self.faults.admit_create(
                provider, active=counts["active"], with_webhook=webhook_url is not None
            )
            queued = self.queue_seconds > 0 or self.faults.hold_in_queue
            created_at = time.time()
            job = SimulatedJob(
                id=job_id,
                provider=provider,
                request=request_copy,
                clip=planned.clip_for(clip),
                webhook_url=webhook_url,
                processing_seconds=self.processing_seconds,
                stall_planned=planned.stall,
                fail_planned=planned.fail,
                drop_webhook=planned.drop_webhook,
                api_key=api_key,
                ambiguous_create=planned.ambiguous,
                last_frame_requested=last_frame,
                meta=meta_copy,
                media_fetches=list(media_fetches),
                created_at=created_at,
                status=JobStatus.QUEUED if queued else JobStatus.PROCESSING,
                queue_seconds=self.queue_seconds,
                started_at=None if queued else created_at,
                webhook_state=WebhookState.PENDING if webhook_url else WebhookState.NONE,
            )
            self._jobs[job_id] = job
            self._controls[job_id] = _JobControl()
            counts["active"] += 1
            counts["creates"] += 1
            counts["peak"] = max(counts["peak"], counts["active"])
            self._changed.notify_all()
            snapshot = copy.deepcopy(job)
        self._workers.submit(self._run_job, job_id)
        return snapshot

    def job(self, job_id: str, provider: str | None = None) -> SimulatedJob | None:
        with self._changed:
            job = self._jobs.get(job_id)
            if job is None or (provider is not None and job.provider != provider):
                return None
            return copy.deepcopy(job)

    def jobs(self) -> list[SimulatedJob]:
        with self._changed:
            return [copy.deepcopy(job) for job in self._jobs.values()]

    def wait_for_job(self, job_id: str, *, timeout: float, settled: bool = True) -> SimulatedJob:
        """Block until the job has finished (if `settled`, its webhook too); TimeoutError otherwise."""

        def ready() -> bool:
            job = self._jobs.get(job_id)
            if job is None:
                return False
            return job.settled if settled else job.status.finished

        with self._changed:
            if not self._changed.wait_for(ready, timeout=timeout):
                state = self._jobs[job_id].to_json() if job_id in self._jobs else "unknown job"
                raise TimeoutError(f"job {job_id} not done after {timeout}s: {state}")
            return copy.deepcopy(self._jobs[job_id])

    def cancel(self, job_id: str, provider: str | None = None, *, allow_running: bool) -> CancelOutcome:
        """Cancel a queued job, or a processing one too when `allow_running` (stalled ones included).

        The job becomes ``cancelled`` at once: it never renders or succeeds afterwards, it stops counting
        as active for its API key, and its terminal webhook (`Dialect.webhook_for` with status
        ``cancelled``) follows any status-change webhook still being sent.
        """
        with self._changed:
            job = self._jobs.get(job_id)
            if job is None or (provider is not None and job.provider != provider):
                return CancelOutcome.NOT_FOUND
            if job.status.finished:
                return CancelOutcome.ALREADY_FINISHED
            if job.status is JobStatus.PROCESSING and not allow_running:
                return CancelOutcome.RUNNING
            job.status = JobStatus.CANCELLED
            job.completed_at = time.time()
            job.error = "Cancelled"
            self._usage_of(job.provider, job.api_key)["active"] -= 1
            control = self._controls[job_id]
            control.wake.set()
            worker_gone = not control.worker_running
            self._changed.notify_all()
        if worker_gone:
            self._send_terminal_webhook(job_id)
        return CancelOutcome.CANCELLED

    def _update(self, job_id: str, change: Callable[[SimulatedJob], None]) -> SimulatedJob:
        with self._changed:
            job = self._jobs[job_id]
            was_active = not job.status.finished
            change(job)
            if was_active and job.status.finished:
                self._usage_of(job.provider, job.api_key)["active"] -= 1
            self._changed.notify_all()
            return copy.deepcopy(job)

    def _run_job(self, job_id: str) -> None:
        try:
            self._work_on(job_id)
        except Exception:
            logger.exception("simulated job crashed", extra={"job_id": job_id})
        finally:
            with self._changed:
                self._controls[job_id].worker_running = False
            # The worker sends the terminal webhook, after its status-change ones; a job cancelled after
            # its worker ended (a stalled job) gets it from `cancel`.
            self._send_terminal_webhook(job_id)

    def _work_on(self, job_id: str) -> None:
        control = self._controls[job_id]
        job = self.job(job_id)
        if job is None:
            return
        self._announce(job, control)
        if job.status is JobStatus.QUEUED:
            if not self._wait_in_queue(job, control):
                return
            job = self._update(job_id, _start_if_queued)
            if job.status is not JobStatus.PROCESSING:
                return
            self._announce(job, control)
        if job.stall_planned or control.wake.wait(job.processing_seconds):
            return  # stalled, cancelled or stopping
        if job.fail_planned:
            self._update(
                job_id, _if_processing(_mark_failed("Simulated generation failure (fail_predictions fault)"))
            )
            return
        try:
            with self._render_slots:
                if control.wake.is_set():
                    return
                clip = self._clips.get(job.clip)
                frame = self._clips.last_frame(job.clip) if job.last_frame_requested else None
        except Exception as exc:
            if self._stopping.is_set():
                return  # the clip directory was removed under us by close()
            logger.exception("rendering the simulated clip failed", extra={"job_id": job_id})
            self._update(job_id, _if_processing(_mark_failed(f"Rendering failed: {type(exc).__name__}")))
            return
        output_url = self.output_url(job.provider, job_id)
        last_frame_url = self.last_frame_url(job.provider, job_id)

        def succeed(record: SimulatedJob) -> None:
            record.status = JobStatus.SUCCEEDED
            record.completed_at = time.time()
            record.output_url = output_url
            record.output_path = clip.path
            record.output_sha256 = clip.sha256
            record.output_size = clip.size
            if frame is not None:
                record.last_frame_url = last_frame_url
                record.last_frame_path = frame.path
                record.last_frame_size = frame.size

        self._update(job_id, _if_processing(succeed))

    def _wait_in_queue(self, job: SimulatedJob, control: _JobControl) -> bool:
        """Wait while the job is held (its ``queue_seconds``, the ``hold_in_queue`` fault); False when it
        was cancelled or the simulator is stopping meanwhile."""
        release_at = job.created_at + job.queue_seconds
        while not control.wake.is_set():
            remaining = release_at - time.time()
            if remaining <= 0 and not self.faults.hold_in_queue:
                return True
            control.wake.wait(min(remaining, QUEUE_POLL_SECONDS) if remaining > 0 else QUEUE_POLL_SECONDS)
        return False

    def _send_terminal_webhook(self, job_id: str) -> None:
        """Hand the finished job's `Dialect.webhook_for` to delivery, once; nothing if not finished yet."""
        with self._changed:
            job = self._jobs[job_id]
            control = self._controls[job_id]
            if not job.status.finished or control.terminal_sent:
                return
            control.terminal_sent = True
            finished = copy.deepcopy(job)
        if self._stopping.is_set():
            return
        dialect = self._dialects[finished.provider]
        try:
            webhook = dialect.webhook_for(finished) if finished.webhook_url else None
        except Exception:
            logger.exception("the dialect failed to build the webhook", extra={"job_id": job_id})
            self._update(job_id, _set_webhook_state(WebhookState.GAVE_UP))
            return
        if webhook is None:
            self._update(job_id, _set_webhook_state(WebhookState.NONE))
        else:
            # close() may shut the pool between the check and the submit.
            with contextlib.suppress(RuntimeError):
                self._notifiers.submit(self._notify, job_id, webhook, finished.drop_webhook)

    def _announce(self, job: SimulatedJob, control: _JobControl) -> None:
        """Send the dialect's `Dialect.webhook_on_change` for the job's current status, if it has one."""
        if control.wake.is_set():
            return  # cancelled (or stopping) since the status was read
        try:
            webhook = self._dialects[job.provider].webhook_on_change(job)
        except Exception:
            logger.exception("the dialect failed to build a status webhook", extra={"job_id": job.id})
            return
        if webhook is None:
            return
        attempts: list[DeliveryAttempt] = []
        delivered = self._post_with_retries(webhook, 1, attempts.append, control.wake)
        record = StatusWebhook(
            status=job.status,
            url=webhook.url,
            body=webhook.body.decode(),
            delivered=delivered,
            attempts=tuple(attempts),
        )
        self._update(job.id, lambda stored: stored.status_webhooks.append(record))

    # -- media inputs ---------------------------------------------------------------------------------
    def check_media(self, inputs: Sequence[tuple[str, str]]) -> list[MediaFetch]:
        """Refuse (400 naming the field) media URLs a provider could not fetch; fetch loopback ones.

        `inputs` are (field path, URL) pairs. All are checked before anything is fetched.
        """
        to_fetch: list[tuple[str, str]] = []
        for field_path, url in inputs:
            problem, fetch = self._media_url_verdict(url)
            if problem is not None:
                raise invalid(field_path, problem, f"Got {url[:120]!r}")
            if fetch:
                to_fetch.append((field_path, url))
        return [self._fetch_media(field_path, url) for field_path, url in to_fetch]

    def _media_url_verdict(self, url: str) -> tuple[str | None, bool]:
        """(problem or None, whether to fetch it)."""
        try:
            parts = urlsplit(url)
            host = parts.hostname
            port = parts.port
        except ValueError:
            return "must be a valid URL", False
        if parts.scheme in ("http", "https") and host is not None and _is_loopback_host(host):
            if self.base_url and port == urlsplit(self.base_url).port and parts.scheme == "http":
                if self.served_file(unquote(parts.path)) is None:
                    return "points at the simulator but not at an existing upload or output", False
                return None, False
            if self.allow_loopback_media:
                return None, True
        return public_https_url_problem(url), False

    def _fetch_media(self, field_path: str, url: str) -> MediaFetch:
        try:
            with self._http.stream("GET", url, timeout=MEDIA_FETCH_TIMEOUT_SECONDS) as response:
                size = sum(len(chunk) for chunk in response.iter_bytes())
        except httpx.HTTPError as exc:
            raise invalid(field_path, "could not be fetched", f"{type(exc).__name__}: {exc}") from None
        if not 200 <= response.status_code < 300:
            raise invalid(field_path, f"could not be fetched (HTTP {response.status_code})", url[:120])
        return MediaFetch(field=field_path, url=url, status_code=response.status_code, size=size)

    # -- uploads and served files ---------------------------------------------------------------------
    def store_upload(
        self, *, provider: str, upload_id: str, filename: str, content_type: str, data: bytes
    ) -> StoredUpload:
        """Keep an uploaded file; it is served at the URL in the answer, under the dialect's uploads_route."""
        dialect = self._dialects[provider]
        if dialect.uploads_route is None:
            raise ValueError(f"the {provider} dialect declares no uploads_route")
        with self._changed:
            if self._uploads_dir is None:
                self._uploads_dir = Path(tempfile.mkdtemp(prefix="seedance-sim-uploads-"))
            directory = self._uploads_dir
        path = directory / upload_id
        path.write_bytes(data)
        upload = StoredUpload(
            id=upload_id,
            provider=provider,
            filename=filename,
            content_type=content_type,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            url=f"{self.provider_base_url(provider)}/{dialect.uploads_route}/{upload_id}/"
            + quote(filename, safe=""),
            path=path,
            created_at=time.time(),
        )
        with self._changed:
            self._uploads[upload_id] = upload
        return upload

    def uploads(self) -> list[StoredUpload]:
        with self._changed:
            return list(self._uploads.values())

    def served_file(self, full_path: str) -> ServedFile | None:
        """The file the simulator serves at `full_path` (output MP4, last frame, upload), if any."""
        _, provider, kind, name = (full_path.split("/", 3) + ["", "", ""])[:4]
        dialect = self._dialects.get(provider)
        if dialect is None or not name:
            return None
        if kind == "outputs":
            job_id = name.removesuffix(".mp4").removesuffix(LAST_FRAME_SUFFIX)
            job = self.job(job_id, provider)
            if job is None:
                return None
            if name == f"{job_id}.mp4" and job.output_path is not None and job.output_size is not None:
                return ServedFile(job.output_path, job.output_size, "video/mp4", job.clip)
            if name == f"{job_id}{LAST_FRAME_SUFFIX}" and job.last_frame_path is not None:
                return ServedFile(job.last_frame_path, job.last_frame_size or 0, "image/png")
            return None
        if kind == dialect.uploads_route:
            upload_id, _, filename = name.partition("/")
            with self._changed:
                upload = self._uploads.get(upload_id)
            if upload is None or upload.provider != provider or filename != upload.filename:
                return None
            return ServedFile(upload.path, upload.size, upload.content_type)
        return None

    def short_mdat_video(self, clip: ClipSpec) -> ServedFile:
        """The generated video of `clip` as the ``short_mdat_downloads`` fault serves it: half of its media
        data left out (`ClipCache.short_mdat`)."""
        cut = self._clips.short_mdat(clip)
        return ServedFile(cut.path, cut.size, "video/mp4", clip)

    # -- webhooks -------------------------------------------------------------------------------------
    def _notify(self, job_id: str, webhook: OutgoingWebhook, drop: bool) -> None:
        try:
            self._deliver(job_id, webhook, drop)
        except Exception:
            logger.exception("webhook delivery crashed", extra={"job_id": job_id})
            self._update(job_id, _set_webhook_state(WebhookState.GAVE_UP))

    def _deliver(self, job_id: str, webhook: OutgoingWebhook, drop: bool) -> None:
        def record_message(job: SimulatedJob) -> None:
            job.webhook_body = webhook.body.decode()
            job.webhook_headers = dict(webhook.headers)
            job.webhook_state = WebhookState.DROPPED if drop else WebhookState.DELIVERING

        self._update(job_id, record_message)
        if drop:
            return
        delay = self.faults.webhook_delay_seconds
        if delay > 0 and self._stopping.wait(delay):
            return
        copies = max(1, self.faults.duplicate_webhooks)
        if copies == 1:
            delivered = self._deliver_copy(job_id, webhook, 1, None)
        else:
            # All copies leave together (barrier) so receivers really see them race.
            start_line = threading.Barrier(copies)
            outcomes: list[bool] = []
            senders = [
                threading.Thread(
                    target=lambda n=n: outcomes.append(self._deliver_copy(job_id, webhook, n, start_line)),
                    name=f"sim-webhook-copy-{n}",
                    daemon=True,
                )
                for n in range(1, copies + 1)
            ]
            for sender in senders:
                sender.start()
            for sender in senders:
                sender.join()
            delivered = any(outcomes)
        self._update(
            job_id, _set_webhook_state(WebhookState.DELIVERED if delivered else WebhookState.GAVE_UP)
        )

    def _deliver_copy(
        self, job_id: str, webhook: OutgoingWebhook, copy_number: int, start_line: threading.Barrier | None
    ) -> bool:
        if start_line is not None:
            # A broken barrier only means the copies leave a little less together.
            with contextlib.suppress(threading.BrokenBarrierError):
                start_line.wait(timeout=5)

        def record(attempt: DeliveryAttempt) -> None:
            self._update(job_id, _append_attempt(attempt))

        return self._post_with_retries(webhook, copy_number, record, self._stopping)

    def _post_with_retries(
        self,
        webhook: OutgoingWebhook,
        copy_number: int,
        record: Callable[[DeliveryAttempt], None],
        interrupt: threading.Event,
    ) -> bool:
        """POST until a 2xx answer, waiting out the backoff between attempts; False once the attempts are
        used up or `interrupt` is set."""
        for attempt in range(1, len(self._webhook_backoff) + 2):
            if interrupt.is_set():
                return False
            status_code: int | None = None
            error: str | None = None
            sent_at = time.time()
            started = time.perf_counter()
            try:
                response = self._http.post(webhook.url, content=webhook.body, headers=dict(webhook.headers))
                status_code = response.status_code
            except (httpx.HTTPError, RuntimeError) as exc:
                error = f"{type(exc).__name__}: {exc}"
            duration = time.perf_counter() - started
            record(DeliveryAttempt(copy_number, attempt, webhook.url, status_code, error, sent_at, duration))
            if status_code is not None and 200 <= status_code < 300:
                return True
            if attempt <= len(self._webhook_backoff) and interrupt.wait(self._webhook_backoff[attempt - 1]):
                return False
        return False

    # -- request log ----------------------------------------------------------------------------------
    def log_request(self, entry: LoggedRequest) -> None:
        with self._changed:
            self._log.append(entry)
            self._changed.notify_all()

    def logged_requests(self, provider: str | None = None) -> list[LoggedRequest]:
        with self._changed:
            entries = [entry for entry in self._log if provider is None or entry["provider"] == provider]
            return copy.deepcopy(entries)

    def clear_requests(self) -> int:
        with self._changed:
            cleared = len(self._log)
            self._log.clear()
            return cleared

    # -- lifecycle ------------------------------------------------------------------------------------
    def close(self) -> None:
        self._stopping.set()
        with self._changed:
            for control in self._controls.values():
                control.wake.set()
        self._workers.shutdown(wait=False, cancel_futures=True)
        self._notifiers.shutdown(wait=False, cancel_futures=True)
        self._http.close()
        self._clips.close()
        if self._uploads_dir is not None:
            shutil.rmtree(self._uploads_dir, ignore_errors=True)


def public_https_url_problem(url: str) -> str | None:
    """Why a provider on the internet could not fetch `url`, or None if it is a public https URL."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return "must be a valid URL"
    if parts.scheme != "https":
        return "must be a publicly reachable HTTPS URL (no data URIs, no plain http)"
    if not host:
        return "must include a host name"
    if host == "localhost" or host.endswith(".localhost"):
        return "must not point at localhost"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if not address.is_global:
        return "must be publicly reachable (loopback, private and link-local addresses are refused)"
    return None


def _is_loopback_host(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Loading the CA bundle is most of the cost of an httpx.Client; simulators in one process share it.
    return ssl.create_default_context()


@dataclass
class _JobControl:
    """The backend's side of one job's worker. `wake`: set when the job is cancelled or the simulator
    stops, cutting every wait short. `terminal_sent`: its terminal webhook was handed to delivery."""

    wake: threading.Event = field(default_factory=threading.Event)
    worker_running: bool = True
    terminal_sent: bool = False


def _start_if_queued(job: SimulatedJob) -> None:
    if job.status is JobStatus.QUEUED:
        job.status = JobStatus.PROCESSING
        job.started_at = time.time()


def _if_processing(change: Callable[[SimulatedJob], None]) -> Callable[[SimulatedJob], None]:
    """`change`, applied only if the job is still processing (not cancelled meanwhile)."""

    def guarded(job: SimulatedJob) -> None:
        if job.status is JobStatus.PROCESSING:
            change(job)

    return guarded


def _mark_failed(message: str) -> Callable[[SimulatedJob], None]:
    def fail(job: SimulatedJob) -> None:
        job.status = JobStatus.FAILED
        job.completed_at = time.time()
        job.error = message

    return fail


def _append_attempt(attempt: DeliveryAttempt) -> Callable[[SimulatedJob], None]:
    def append(job: SimulatedJob) -> None:
        job.webhook_attempts.append(attempt)

    return append


def _set_webhook_state(state: WebhookState) -> Callable[[SimulatedJob], None]:
    def set_state(job: SimulatedJob) -> None:
        job.webhook_state = state

    return set_state
