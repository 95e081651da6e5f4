"""The built-in provider dialects, each mounted at ``/{provider}``, and the API key each accepts by default.

A new dialect is one module written against `local.simulator.protocol` plus one line here; the dialect
modules never import this registry, the backend or the server.
"""

from __future__ import annotations

from collections.abc import Mapping

from local.simulator.atlascloud import AtlasCloudDialect
from local.simulator.byteplus import BytePlusDialect
from local.simulator.eachlabs import EachLabsDialect
from local.simulator.fal import FalDialect
from local.simulator.gateway import GatewayDialect
from local.simulator.jobs_api import JobsApiDialect
from local.simulator.protocol import Dialect
from local.simulator.replicate import ReplicateDialect

BUILTIN_DIALECTS: tuple[type[Dialect], ...] = (
    EachLabsDialect,
    AtlasCloudDialect,
    GatewayDialect,
    JobsApiDialect,
    FalDialect,
    ReplicateDialect,
    BytePlusDialect,
)
#: Each provider's default key: ``sim-<provider>-key``, ``_`` as ``-`` (``sim-jobs-api-key``).
DEFAULT_API_KEYS: Mapping[str, str] = {
    dialect.provider: f"sim-{dialect.provider.replace('_', '-')}-key" for dialect in BUILTIN_DIALECTS
}
