"""Idempotency-Key for POST /jobs, on Powertools' idempotency utility.

The key names the submission; the request body must match the first one sent with that key.
A retry within the expiry gets the first answer back instead of a second (paid) prediction.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer, IdempotencyConfig


@dataclass(frozen=True)
class IdempotencyGuard:
    store: BasePersistenceLayer
    config: IdempotencyConfig

    @classmethod
    def create(cls, store: BasePersistenceLayer, *, expires_after_seconds: int) -> IdempotencyGuard:
        config = IdempotencyConfig(
            event_key_jmespath="key",
            payload_validation_jmespath="request",
            expires_after_seconds=expires_after_seconds,
        )
        return cls(store=store, config=config)
