"""A local stand-in for the Seedance 2.0 video providers: real HTTP, real MP4s, real webhooks."""

from local.simulator.dialects import DEFAULT_API_KEYS
from local.simulator.faults import SimulatorFaults
from local.simulator.media import ClipSpec, dimensions_for, encode_png, last_frame_png, render_mp4
from local.simulator.protocol import (
    JobStatus,
    KeyUsage,
    LoggedRequest,
    SimulatedJob,
    StoredUpload,
    WebhookState,
)
from local.simulator.server import ProviderSimulator

__all__ = [
    "DEFAULT_API_KEYS",
    "ClipSpec",
    "JobStatus",
    "KeyUsage",
    "LoggedRequest",
    "ProviderSimulator",
    "SimulatedJob",
    "SimulatorFaults",
    "StoredUpload",
    "WebhookState",
    "dimensions_for",
    "encode_png",
    "last_frame_png",
    "render_mp4",
]
