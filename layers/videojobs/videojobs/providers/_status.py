"""Provider status words, read with tolerance: the one mapping every dialect shares.

Providers drift: a word changes case, a synonym appears (``in_progress`` for ``processing``,
``canceled`` for ``failed``). Every dialect reads its status words, in webhooks and in status
answers alike, through ``StatusWords.state``:

- still running: in_progress, running, processing, pending, queued, submitted, plus the dialect's own;
- done: completed, succeeded, success, plus the dialect's own;
- failed: failed, error, cancelled, canceled, expired, plus the dialect's own.

Matching ignores case and surrounding blanks, and reads ``-`` and spaces as ``_`` (``IN-PROGRESS`` is
``in_progress``). A word nobody knows (or no word at all) is logged and read as still running: the job
is then looked at again by its status checks, never failed (or left to expire) because of a word.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from videojobs.models import ProviderState
from videojobs.observability import logger

RUNNING_WORDS = frozenset({"in_progress", "running", "processing", "pending", "queued", "submitted"})
SUCCEEDED_WORDS = frozenset({"completed", "succeeded", "success"})
FAILED_WORDS = frozenset({"failed", "error", "cancelled", "canceled", "expired"})
_MAX_LOGGED_CHARS = 64


def normalized(word: str) -> str:
    """``word`` as the vocabularies spell it: lower case, ``_`` for ``-`` and blanks."""
    return "_".join(word.strip().lower().replace("-", " ").split())


def _words(extra: Iterable[str]) -> frozenset[str]:
    return frozenset(normalized(word) for word in extra)


@dataclass(frozen=True)
class StatusWords:
    """One dialect's vocabulary: the shared words plus its own (``running``, ``succeeded``, ``failed``)."""

    provider: str
    running: frozenset[str] = frozenset()
    succeeded: frozenset[str] = frozenset()
    failed: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls,
        provider: str,
        *,
        running: Iterable[str] = (),
        succeeded: Iterable[str] = (),
        failed: Iterable[str] = (),
    ) -> StatusWords:
        return cls(
            provider,
            running=RUNNING_WORDS | _words(running),
            succeeded=SUCCEEDED_WORDS | _words(succeeded),
            failed=FAILED_WORDS | _words(failed),
        )

    def state(self, word: object, *, source: str, provider_job_id: str | None = None) -> ProviderState:
        """The state ``word`` means; ``source`` ("webhook" or "status") only goes into the log."""
        if isinstance(word, str):
            key = normalized(word)
            if key in self.succeeded:
                return ProviderState.SUCCEEDED
            if key in self.failed:
                return ProviderState.FAILED
            if key in self.running:
                return ProviderState.PROCESSING
        logger.warning(
            "unknown provider status word; read as still running",
            provider=self.provider,
            source=source,
            provider_job_id=provider_job_id,
            status_word=str(word)[:_MAX_LOGGED_CHARS] if word is not None else None,
        )
        return ProviderState.PROCESSING
