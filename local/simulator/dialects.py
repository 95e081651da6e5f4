"""The built-in provider dialects, each mounted at ``/{provider}``, and the API key each accepts by default.

A new dialect is one module written against `local.simulator.protocol` plus one line here (and its default
key); the dialect modules never import this registry, the backend or the server.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from local.simulator.atlascloud import AtlasCloudDialect
from local.simulator.byteplus import BytePlusDialect
from local.simulator.eachlabs import EachLabsDialect
from local.simulator.fal import FalDialect
from local.simulator.gateway import GatewayDialect
from local.simulator.jobs_api import JobsApiDialect
from local.simulator.protocol import Dialect, Host
from local.simulator.replicate import ReplicateDialect

BUILTIN_DIALECTS: tuple[Callable[[Host], Dialect], ...] = (
    EachLabsDialect,
    AtlasCloudDialect,
    GatewayDialect,
    JobsApiDialect,
    FalDialect,
    ReplicateDialect,
    BytePlusDialect,
)
DEFAULT_API_KEYS: Mapping[str, str] = {
    "eachlabs": "sim-eachlabs-key",
    "atlascloud": "sim-atlascloud-key",
    "gateway": "sim-gateway-key",
    "jobs_api": "sim-jobs-api-key",
    "fal": "sim-fal-key",
    "replicate": "sim-replicate-key",
    "byteplus": "sim-byteplus-key",
}
